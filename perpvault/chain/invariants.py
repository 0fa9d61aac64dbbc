"""The accounting invariants on one read of the chain (SPEC section 7): I1, I2 and I5.

:func:`check_invariants` is the one check: the fuzz machine, the replay and the lockstep
tests run it on a :class:`~perpvault.chain.state.ChainState`
(:func:`perpvault.chain.ape_driver.assert_invariants` reads an ape-deployed system and
asserts it: the unit tests, the demo).
"""

from __future__ import annotations

from perpvault.chain.state import ChainState


def check_invariants(state: ChainState) -> list[str]:
    """I1, I2 (exact) and I5 on one read; returns the violations (empty when all hold).

    I1: in every market the sizes of all known accounts sum to zero.
    I2: token balance == sum(margin) - sum(open_notional) + insurance_due + sum(funding_pool).
        sum(-open_notional) is the PnL already realized by closers and still owed by open
        positions (it equals the sum of unrealized PnL at any mark: sizes sum to zero).
    I5: the fund's books are exact with its dues counted. Its money is its token balance
        plus what the clearinghouse owes it (`insurance_due`: penalties, fee shares and dust
        are the fund's the moment they are charged); bad debt draws on the dues first and on
        the balance for the rest. The balance == total_in - total_out, exactly (total_in:
        sweeps and donations; total_out: what the dues could not cover); the dues are in I2.
        That the fund pays out only to cover bad debt is I3's check on total_out (the fuzz
        machine's running totals).
    """
    violations: list[str] = []
    known = state.known()
    for m in range(len(state.markets)):
        total = sum(a.positions[m].size for a in known)
        if total != 0:
            violations.append(f"I1 market {m}: sizes sum to {total}")
    margins = sum(a.margin for a in known)
    basis = sum(p.open_notional for a in known for p in a.positions)
    pools = sum(s.funding_pool for s in state.markets)
    books = margins - basis + state.insurance_due + pools
    if state.clearinghouse_balance != books:
        violations.append(
            f"I2: balance {state.clearinghouse_balance} != books {books} "
            f"(diff {state.clearinghouse_balance - books})"
        )
    if state.fund_balance != state.fund_total_in - state.fund_total_out:
        violations.append(
            f"I5: fund balance {state.fund_balance} != in - out "
            f"{state.fund_total_in - state.fund_total_out}"
        )
    return violations


__all__ = ["check_invariants"]
