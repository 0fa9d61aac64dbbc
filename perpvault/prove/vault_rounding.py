"""I9, the arithmetic half: the vault's rounding never lowers the share price.

The price of a share is ``A / S`` with ``A = totalAssets + 1`` and ``S = totalSupply + 10**6``
(the virtual asset and shares every conversion uses). halmos proves on the LiquidityVault's
bytecode (``formal/test/VaultChecks.vy``), with the books below 2**100:

* the result of each entry point is the exact floor or ceiling of its fraction over the
  price terms read before the call (``check_vault_<fn>_rounds_*``): ``deposit`` mints
  ``floor(assets*S/A)`` shares, ``mint`` costs ``ceil(shares*A/S)`` assets, ``withdraw``
  burns ``ceil(assets*S/A)`` shares and ``redeem`` pays ``floor(shares*A/S)`` assets;
* how each moves the books (``check_vault_<fn>``): the supply by exactly the shares, the
  vault's equity in the Clearinghouse plus its idle tokens by exactly the assets (deposit
  and mint: the equity, idle unchanged);
* ``totalAssets = max(equity, 0) + idle`` (``check_vault_total_assets``).

This module proves, over unbounded integers with z3, that those facts imply
``A1 / S1 >= A0 / S0`` (cross-multiplied) for each of the four, given two more: a deposit or
mint happens only while the vault's equity is not negative (the vault's guard, ``vault:
under water``, which ``check_vault_deposit``/``_mint`` prove on the bytecode), and under
water a withdrawal leaves the equity where it is (the Clearinghouse releases no margin to an
account under water). The guard is needed: with negative equity a deposit first fills the
hole, ``totalAssets`` (which counts negative equity as 0) grows by less than the deposit while
the shares were priced as if it grew by all of it, and the price falls
(``negative_equity_deposit()`` returns z3's counterexample without the guard).

``checks()`` gives the four lemmas as ``checks.Check`` rows (in ``checks.CHECKS``, so
``perpvault prove`` runs them); the z3 mutant ``mutant_name(op)`` (in ``checks.MUTANTS``)
flips ``op``'s rounding direction and must be reported as a counterexample.
"""

from __future__ import annotations

import time

import z3

# perpvault.prove.checks is imported inside the functions: checks._checks() may import this
# module while checks itself is still loading.

OFFSET = 10**6
OPS = ("deposit", "mint", "withdraw", "redeem")


def _floor(q, x, y, d):
    """q == floor(x*y/d) for d > 0."""
    return z3.And(q * d <= x * y, x * y < (q + 1) * d)


def _ceil(q, x, y, d):
    """q == ceil(x*y/d) for d > 0."""
    return z3.And(q * d >= x * y, x * y > (q - 1) * d)


def _max0(e):
    return z3.If(e > 0, e, 0)


def step(op: str, flip: frozenset[str] = frozenset(), guarded: bool = True) -> tuple[list, z3.BoolRef]:
    """Premises and goal for one call of ``op``: (facts proved by halmos + bounds, price not lower)."""
    ts0, idle0, ts1, idle1 = z3.Ints("ts0 idle0 ts1 idle1")
    eq0, eq1 = z3.Ints("equity0 equity1")
    amount, result = z3.Ints("amount result")  # the call's argument and its return value
    S0, A0 = ts0 + OFFSET, _max0(eq0) + idle0 + 1
    S1, A1 = ts1 + OFFSET, _max0(eq1) + idle1 + 1
    pre = [ts0 >= 0, idle0 >= 0, ts1 >= 0, idle1 >= 0, amount > 0, result > 0]  # uint256s; 0 reverts
    if op in ("deposit", "mint"):
        if guarded:  # the vault's guard, "vault: under water" (halmos: check_vault_deposit, _mint)
            pre.append(eq0 >= 0)
    elif guarded:
        # Under water the Clearinghouse releases no margin (its withdraw rule: equity after >=
        # the initial requirement >= 0, and a withdrawal only lowers equity), so a withdrawal
        # is paid from idle tokens alone and the equity does not move.
        pre.append(z3.Implies(eq0 < 0, eq1 == eq0))
    down, up = (_ceil, _floor) if op in flip else (_floor, _ceil)
    if op == "deposit":  # amount = assets, result = shares
        pre += [down(result, amount, S0, A0), ts1 == ts0 + result, eq1 == eq0 + amount, idle1 == idle0]
    elif op == "mint":  # amount = shares, result = assets
        pre += [up(result, amount, A0, S0), ts1 == ts0 + amount, eq1 == eq0 + result, idle1 == idle0]
    elif op == "withdraw":  # amount = assets, result = shares
        pre += [up(result, amount, S0, A0), ts1 == ts0 - result, idle1 + eq1 == idle0 + eq0 - amount]
    elif op == "redeem":  # amount = shares, result = assets
        pre += [down(result, amount, A0, S0), ts1 == ts0 - amount, idle1 + eq1 == idle0 + eq0 - result]
    else:
        raise ValueError(op)
    return pre, A1 * S0 >= A0 * S1


def prove(op: str, flip: frozenset[str] = frozenset(), guarded: bool = True,
          timeout_s: float = 60.0) -> tuple[z3.CheckSatResult, z3.ModelRef | None, float]:
    from perpvault.prove.checks import make_solver

    pre, goal = step(op, flip, guarded)
    solver = make_solver()
    solver.set("timeout", int(timeout_s * 1000))
    solver.add(*pre)
    solver.add(z3.Not(goal))
    t0 = time.perf_counter()
    r = solver.check()
    return r, solver.model() if r == z3.sat else None, time.perf_counter() - t0


# A planted bug for ``perpvault prove``'s z3 mutants: ``vault_<op>_rounding_flipped`` rounds
# that entry point the holders' way.
def mutant_name(op: str) -> str:
    return f"vault_{op}_rounding_flipped"


def checks() -> list:
    """The four lemmas as :class:`~perpvault.prove.checks.Check` rows for ``checks.CHECKS``
    (a check's backend carries the mutants: ``mutant_name(op)`` flips ``op``'s rounding)."""
    from perpvault.prove.checks import Check

    def build(op: str):
        def b(B) -> tuple[list, z3.BoolRef]:
            return step(op, frozenset(o for o in OPS if mutant_name(o) in B.mutants))
        return b

    return [Check(f"I9[{op}]: price not lower", f"vault {op}",
                  "(totalAssets+1)/(totalSupply+10**6) not lower after the call", build(op),
                  "none: unbounded integers; deposit/mint only at equity >= 0 (the vault's guard), "
                  "under water a withdrawal leaves equity unmoved (the Clearinghouse's rule); the "
                  "rounding and book movements proved on the bytecode by halmos (books < 2**100)")
            for op in OPS]


def negative_equity_deposit() -> dict[str, str]:
    """z3's counterexample to I9 for a deposit into a vault with negative equity, without the
    vault's guard: why ``deposit`` reverts with ``vault: under water``."""
    r, model, _ = prove("deposit", guarded=False)
    assert r == z3.sat, r
    return {str(d): str(model[d]) for d in model.decls()}


__all__ = ["OPS", "checks", "mutant_name", "negative_equity_deposit", "prove", "step"]
