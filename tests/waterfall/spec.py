"""The waterfall's expected numbers, written from SPEC sections 2 and 6 (not read back from the
contracts), and the checks every waterfall test ends with.

Rounding (SPEC 2): what an account owes rounds up, what it receives rounds down.
"""

from __future__ import annotations

from fractions import Fraction
from math import ceil, floor

from perpvault.units import PPM
from tests.utils.checks import assert_invariants, known_accounts
from tests.utils.trading import fund_account, set_price, trade

ATOMS = 10**30  # size (1e18) * price (1e18) / ATOMS = collateral atoms (1e6)


def mark_value(q: int, p: int) -> int:
    """What a position is worth at mark, floored (a long receives it, a short owes it)."""
    return floor(Fraction(q * p, ATOMS))


def notional(q: int, p: int) -> int:
    return ceil(Fraction(abs(q) * p, ATOMS))


def charge(q: int, p: int, rate_ppm: int) -> int:
    """A fee, penalty or margin requirement of `rate_ppm` on the notional, rounded up."""
    return ceil(Fraction(abs(q) * p * rate_ppm, ATOMS * PPM))


def equity_of(margin: int, q: int, basis: int, p: int) -> int:
    return margin + mark_value(q, p) - basis


def score(q: int, basis: int, p: int, equity: int) -> Fraction:
    """SPEC 6: pnl% x eff_lev when profitable, else pnl% / eff_lev (exact, for ordering)."""
    pnl_pct = Fraction(mark_value(q, p) - basis, abs(basis))
    lev = Fraction(abs(mark_value(q, p)), equity)
    return pnl_pct * lev if pnl_pct > 0 else pnl_pct / lev


def adl_order(entries: list[tuple[str, Fraction]]) -> list[str]:
    """Higher score first, ties by lower address."""
    return [a for a, _ in sorted(entries, key=lambda e: (-e[1], int(str(e[0]), 16)))]


def pro_rata(total: int, takes: list[int]) -> list[int]:
    """Split `total` by `takes` (floored), the last taking the remainder."""
    whole = sum(takes)
    parts = [total * t // whole for t in takes[:-1]]
    return parts + [total - sum(parts)]


def vault_share_value(system) -> int:
    """SPEC 6.2: the vault's value per share (WAD), as its ERC-4626 maths prices a share:
    (max(equity, 0) + idle tokens + 1) / (share supply + 10**6 virtual shares), floored."""
    vault = system.vault
    assets = max(system.clearinghouse.equity(vault), 0) + system.usdc.balanceOf(vault)
    return (assets + 1) * 10**18 // (vault.totalSupply() + 10**6)


def walk_price(system, market: int, target: int) -> None:
    """Move the oracle to `target` in steps the feed accepts (at most 25% each)."""
    current = system.feed.latest(market)[0]
    while current != target:
        step = max(min(target, current * 5 // 4), current * 3 // 4)
        set_price(system, market, step)
        current = step


def open_position(system, chain, long, short, market: int, q: int, p: int) -> None:
    """`long` buys `q` from `short` at `p` (short is the maker)."""
    trade(system, short, long, market, q, p, chain=chain)


def events(receipt, name: str) -> list:
    return [log for log in receipt.events if log.event_name == name]


def sizes(system) -> dict[tuple[str, int], int]:
    ch = system.clearinghouse
    return {(a, m): ch.positions(a, m).size for a in known_accounts(system) for m in range(ch.market_count())}


def assert_waterfall_sound(system, receipt, account, sizes_before, *, counterparties_solvent: bool = True) -> None:
    """What must hold after every `liquidate` (SPEC 6, 7)."""
    ch = system.clearinghouse
    assert_invariants(system)  # I1, I2 exact, I5
    equity = ch.equity(account)
    assert equity >= 0, f"liquidate left {account} with debt {equity}"  # I4
    shortfall = sum(log.amount for log in events(receipt, "ShortfallSocialized"))
    haircuts = sum(log.haircut for log in events(receipt, "Deleveraged"))
    assert haircuts == shortfall  # I6: exactly the uncovered shortfall, not an atom more
    if shortfall or events(receipt, "BadDebtCovered"):
        assert equity == 0
        assert all(ch.positions(account, m).size == 0 for m in range(ch.market_count()))
    moved: dict[tuple[str, int], int] = {}
    for log in events(receipt, "Deleveraged"):
        moved[(log.counterparty, log.market)] = moved.get((log.counterparty, log.market), 0) + log.size
    for (cp, market), delta in moved.items():  # I7: reduced, never increased nor flipped
        before = sizes_before[(cp, market)]
        after = ch.positions(cp, market).size
        assert abs(after) < abs(before) and (after == 0 or (after > 0) == (before > 0)), (cp, before, after)
        assert after == before + delta
        if counterparties_solvent:  # no account with positions and negative equity left behind
            assert ch.equity(cp) >= 0, f"ADL left {cp} with debt"
    fund = system.fund
    assert system.usdc.balanceOf(fund) == fund.total_in() - fund.total_out()


def donate(system, amount: int) -> None:
    if amount:
        system.usdc.mint(system.owner, amount, sender=system.owner)
        system.usdc.approve(system.fund, amount, sender=system.owner)
        system.fund.donate(amount, sender=system.owner)


__all__ = [
    "adl_order", "assert_waterfall_sound", "charge", "donate", "equity_of", "events", "fund_account",
    "mark_value", "notional", "open_position", "pro_rata", "score", "sizes", "vault_share_value", "walk_price",
]


def assert_reverts(contract, method: str, args: tuple, sender, reason: str) -> None:
    """The call reverts with exactly `reason` (an eth_call dry run, see perpvault.keeper.dry_run:
    ape's revert enrichment traces every opcode and costs seconds per revert here)."""
    from perpvault.keeper import dry_run

    got = dry_run(contract, method, args, sender)
    assert got == reason, f"{method}{args} reverted with {got!r}, expected {reason!r}"
