"""The proofs: each check is "pre-invariant ∧ no revert ∧ ¬property" and must be unsat.

A check builds a symbolic pre-state (every field a z3 integer in its Solidity type's full
range: int256 or uint256), runs a transition from :mod:`perpvault.prove.transitions` on the
:class:`~perpvault.prove.backend.Symbolic` backend (which collects the no-revert
conditions), and asks z3 for an execution that satisfies the hypotheses and violates the
property. ``unsat`` is a proof ("proved"); ``sat`` is a counterexample; ``unknown`` (a
timeout included) is a failure, never a pass.

Invariants used as hypotheses and goals (one market; the accounts not involved in a step
are summed into the ghost terms ``rest_q`` and ``rest_v``, which no step touches):

* I1  ``Σ q + rest_q == 0``
* I2  ``bal == Σ (m - on) + rest_v + due + pool`` (docs/mechanism.md §3, "I2 as built")
* I5  ``fout <= fin`` and ``fbal >= fin - fout`` (tokens sent to the fund around `donate`
  only add to its balance); "I5 exact" proves ``fbal == fin - fout`` is kept too.
* IF  funding-pool solvency ``pool * 10**36 >= weight``: with I1 every future settlement
  together draws at most ``weight / 10**36`` from the pool (docs/mechanism.md §4), so the
  pool never pays out value it does not hold, and `sweep_to_insurance` never takes it.

The funding accrual (`funding._rate`, `_current_index`, `_accrue`) has its own checks: it
moves no money (I1, I2, IF preserved, every balance unchanged), the index after an interval
depends only on what was stored at its start (F2; a wash fill inside it and the oracle's
price now change nothing), and the rate is bounded by the cap with the sign that makes the
vault's counterparties pay.

``MUTANTS`` maps each planted bug to the checks that must report a counterexample for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import z3

from perpvault.model.maths import INT256_MAX, INT256_MIN, UINT256_MAX
from perpvault.prove import gmath as g
from perpvault.prove import transitions as t
from perpvault.prove.backend import Symbolic

DEFAULT_TIMEOUT_S = 60.0

FULL = "none: every field ranges over its full int256/uint256 type"


@dataclass
class Check:
    name: str
    transition: str
    prop: str
    build: Callable[[Symbolic], tuple[list, Any]]
    bounds: str = FULL
    tool: str = "z3"


@dataclass
class Result:
    check: str
    tool: str
    result: str  # proved | counterexample | timeout | unknown | error
    seconds: float
    mutant: str | None = None
    detail: str = ""
    counterexample: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result == "proved"

    def as_dict(self) -> dict:
        d = {"check": self.check, "tool": self.tool, "result": self.result,
             "seconds": round(self.seconds, 3)}
        if self.mutant:
            d["mutant"] = self.mutant
        if self.detail:
            d["detail"] = self.detail
        return d


# --- symbolic states ------------------------------------------------------------------------


def i256v(name: str, pre: list) -> z3.ArithRef:
    x = z3.Int(name)
    pre.append(z3.And(x >= INT256_MIN, x <= INT256_MAX))
    return x


def u256v(name: str, pre: list) -> z3.ArithRef:
    x = z3.Int(name)
    pre.append(z3.And(x >= 0, x <= UINT256_MAX))
    return x


def sym_state(names: list[str], pre: list, settled: tuple[str, ...] = ()) -> dict:
    st: dict[str, Any] = {"acc": {}}
    for n in names:
        st["acc"][n] = {
            "m": i256v(f"{n}.margin", pre),
            "q": i256v(f"{n}.size", pre),
            "on": i256v(f"{n}.open_notional", pre),
            "f": i256v(f"{n}.funding_index", pre),
        }
    for k in ("F", "pool", "weight"):
        st[k] = i256v(k, pre)
    for k in ("oi", "due", "bal", "fin", "fout", "fbal"):
        st[k] = u256v(k, pre)
    # Ghosts: the accounts a step does not touch.
    st["rest_q"] = z3.Int("rest_q")
    st["rest_v"] = z3.Int("rest_v")
    for n in settled:
        pre.append(st["acc"][n]["f"] == st["F"])
    return st


def I1(st: dict) -> z3.BoolRef:
    return z3.Sum([a["q"] for a in st["acc"].values()] + [st["rest_q"]]) == 0


def book(st: dict) -> z3.ArithRef:
    """Σ (margin - open_notional) over the named accounts."""
    return z3.Sum([a["m"] - a["on"] for a in st["acc"].values()])


def I2(st: dict) -> z3.BoolRef:
    return st["bal"] == book(st) + st["rest_v"] + st["due"] + st["pool"]


def I5(st: dict) -> z3.BoolRef:
    return z3.And(st["fout"] <= st["fin"], st["fbal"] >= st["fin"] - st["fout"])


def I5_exact(st: dict) -> z3.BoolRef:
    return z3.And(st["fout"] <= st["fin"], st["fbal"] == st["fin"] - st["fout"])


def IF(st: dict) -> z3.BoolRef:
    return st["pool"] * 10**36 >= st["weight"]


INVARIANTS = {"I1": I1, "I2": I2, "I5": I5, "I5 exact": I5_exact, "IF": IF}


def preserve(inv: str, step: Callable[[Symbolic, dict, list], dict], names: list[str],
             settled: tuple[str, ...] = ()) -> Callable[[Symbolic], tuple[list, Any]]:
    """pre-invariant ∧ no revert ⇒ post-invariant."""
    f = INVARIANTS[inv]

    def build(B: Symbolic) -> tuple[list, Any]:
        pre: list = []
        st = sym_state(names, pre, settled)
        pre.append(f(st))
        post = step(B, st, pre)
        return pre, f(post)

    return build


def u(name: str, pre: list) -> z3.ArithRef:
    return u256v(name, pre)


def s(name: str, pre: list) -> z3.ArithRef:
    return i256v(name, pre)


# --- steps ------------------------------------------------------------------------------------


def step_deposit(B, st, pre):
    return t.deposit(B, st, "a", u("amount", pre))


def step_withdraw(B, st, pre):
    return t.withdraw(B, st, "a", u("amount", pre), u("price", pre), u("imr", pre))


def step_settle(B, st, pre):
    return t.settle(B, st, "a")


def step_fill(B, st, pre):
    return t.fill(B, st, "maker", "taker", s("taker_size", pre), u("price", pre),
                  u("maker_fee", pre), u("taker_fee", pre), u("fund_fee_share", pre), "vault")[0]


def step_vault_trade(B, st, pre):
    return t.fill(B, st, "vault", "taker", s("taker_size", pre), u("price", pre),
                  u("maker_fee", pre), u("taker_fee", pre), u("fund_fee_share", pre), "vault")[0]


def step_close_to_vault(B, st, pre):
    pre.append(st["acc"]["a"]["q"] != 0)
    return t.close_to_vault(B, st, "a", "vault", g.neg(B, st["acc"]["a"]["q"]), u("price", pre))


def step_charges(B, st, pre):
    price = u("price", pre)
    E = t.equity(B, st["acc"]["a"], price)
    return t.charges(B, st, "a", "keeper", E, g.neg(B, st["acc"]["a"]["q"]), price,
                     u("taker_fee", pre), u("penalty", pre), u("keeper_share", pre))[0]


def step_bad_debt(B, st, pre):
    return t.bad_debt(B, st, "a", s("after", pre))[0]


def step_sweep(B, st, pre):
    return t.sweep_to_insurance(B, st)[0]


def with_funding(st: dict, pre: list) -> dict:
    """The accrual's fields (transitions.py): last funding time, funding price, the cap and the
    skew scale, each over its full uint256 range."""
    return {**st, "last": u("last", pre), "fp": u("fp", pre), "cap": u("cap", pre),
            "scale": u("scale", pre)}


def step_accrue(B, st, pre):
    return t.accrue(B, with_funding(st, pre), "vault", u("now", pre), u("p_now", pre), u("updated", pre))


def adl_names(n: int) -> list[str]:
    return ["a"] + [f"cp{i}" for i in range(n)]


def step_adl(n: int):
    def step(B, st, pre):
        a = st["acc"]["a"]
        return t.deleverage(B, st, "a", g.neg(B, a["q"]), u("price", pre), u("haircut", pre),
                            [f"cp{i}" for i in range(n)], u("maker_fee", pre))[0]

    return step


# --- specific properties ------------------------------------------------------------------------


TRADE_ROLES = {"traders": ("buyer", "seller"), "vault sells": ("buyer", "vault"),
               "vault buys": ("vault", "seller")}


def trade_rounding(roles: str, part: str):
    """`_trade` (every fill, vault trade and take-over at mark runs it with size > 0, the
    roles swapped by the caller), in three roles: two traders with the vault taking its fee
    share, or the vault on either side.

    ``dust``: 0 <= pays - gets <= 1 (buyer pays ceil, seller gets floor).
    ``value``: insurance_due grows by exactly the fund's fee share (>= 0) plus the dust, and
    what the accounts together gain from the trade (funding settled on the way excluded) is
    minus that: Σ Δ(m - on) = -Δdue. With ``dust`` it follows that rounding never creates
    value: the accounts' Σ of cash flows is <= 0."""

    def build(B):
        pre: list = []
        buyer, seller = TRADE_ROLES[roles]
        st = sym_state(sorted({buyer, seller, "vault"}), pre)
        size = s("size", pre)
        pre.append(size > 0)
        post, flows = t.trade(B, st, buyer, seller, size, u("price", pre), u("buyer_fee", pre),
                              u("seller_fee", pre), u("fund_fee_share", pre), "vault")
        dust = flows["pays"] - flows["gets"]
        if part == "dust":
            return pre, z3.And(dust >= 0, dust <= 1)
        gained = book(post) - book(st) + (post["pool"] - st["pool"])
        ddue = post["due"] - st["due"]
        return pre, z3.And(ddue == flows["to_fund"] + dust, flows["to_fund"] >= 0,
                           gained == -ddue)

    return build


def settle_rounding(B):
    """A settlement never pays the account more than it is owed: credit * 10**36 <= -q * Δ,
    and credit + Δpool == 0 (funding only moves between the account and the pool)."""
    pre: list = []
    st = sym_state(["a"], pre)
    post = t.settle(B, st, "a")
    a, a2 = st["acc"]["a"], post["acc"]["a"]
    credit = a2["m"] - a["m"]
    owed = -a["q"] * (st["F"] - a["f"])
    return pre, z3.And(credit * 10**36 <= owed, credit + post["pool"] - st["pool"] == 0)


def close_keeps_equity(B):
    """Liquidation at mark: the account's equity is unchanged, to the atom (it receives
    exactly value(q, m)); it ends flat."""
    pre: list = []
    st = sym_state(["a", "vault"], pre, settled=("a",))
    pre.append(st["acc"]["a"]["q"] != 0)  # `_liquidate` skips markets with nothing to close
    price = u("price", pre)
    e0 = t.equity(B, st["acc"]["a"], price)
    post = t.close_to_vault(B, st, "a", "vault", g.neg(B, st["acc"]["a"]["q"]), price)
    a = post["acc"]["a"]
    return pre, z3.And(a["q"] == 0, a["on"] == 0, a["m"] == e0)


def charges_capped(B):
    """Charges (fee, then penalty) never exceed the equity left: E >= 0 ⇒ E - charged >= 0,
    and E < 0 ⇒ nothing is charged; the keeper gets at most the penalty."""
    pre: list = []
    st = sym_state(["a", "keeper"], pre, settled=("a",))
    price = u("price", pre)
    E = t.equity(B, st["acc"]["a"], price)
    post, charged = t.charges(B, st, "a", "keeper", E, g.neg(B, st["acc"]["a"]["q"]), price,
                              u("taker_fee", pre), u("penalty", pre), u("keeper_share", pre))
    return pre, z3.And(
        z3.Implies(E >= 0, E - charged >= 0),
        z3.Implies(E < 0, charged == 0),
        post["acc"]["a"]["m"] == st["acc"]["a"]["m"] - charged,
    )


def cover_bounded(B):
    """Bad-debt cover: the fund's money is its balance plus what it is owed (`insurance_due`);
    the dues pay first, min(need, due), then the fund min(rest, available). Never more than
    both hold; a shortfall S > 0 is left only when the dues and the fund paid everything they
    had (I6: ADL only when the fund cannot cover); the account gains exactly what was paid,
    and the fund's own books (I5) move by exactly its part."""
    pre: list = []
    st = sym_state(["a"], pre)
    pre.append(I5(st))
    after = s("after", pre)
    post, covered, S = t.bad_debt(B, st, "a", after)
    available = st["fin"] - st["fout"]
    need = z3.If(after < 0, -after, 0)
    from_due = st["due"] - post["due"]
    return pre, z3.And(
        covered <= available + st["due"], covered <= need, covered >= 0,
        covered + S == need,
        from_due == z3.If(need <= st["due"], need, st["due"]),
        z3.Implies(S > 0, z3.And(covered == available + st["due"], post["due"] == 0)),
        post["acc"]["a"]["m"] == st["acc"]["a"]["m"] + covered,
        post["fin"] - post["fout"] == available - (covered - from_due),
    )


SPLIT_BOUND = 2**128


def split_exact(k: int, no_revert: bool):
    """The shortfall split over k closed markets: the parts, each >= 0, sum to exactly S.
    With ``no_revert`` the no-revert conditions are proved instead of assumed, for
    S, notional_k < 2**128 (over the full range S * notional_k can exceed 2**256)."""

    def build(B):
        pre: list = []
        S = u("S", pre)
        ns = [u(f"notional{i}", pre) for i in range(k)]
        pre.append(z3.Sum(ns) > 0)  # total > 0: some closed market has a notional
        parts = t.split_shortfall(B, S, ns)
        goal = z3.And(z3.Sum(parts) == S, *[p >= 0 for p in parts])
        if no_revert:
            pre += [S < SPLIT_BOUND] + [n < SPLIT_BOUND for n in ns]
            goal = z3.And(goal, *B.conds)
            B.conds.clear()  # prove the no-revert conditions instead of assuming them
        return pre, goal

    return build


def adl_props(n: int, which: str):
    """ADL of the bankrupt account's whole position against n counterparties."""

    def build(B):
        pre: list = []
        names = adl_names(n)
        st = sym_state(names, pre, settled=("a",))
        a = st["acc"]["a"]
        price = u("price", pre)
        haircut = u("haircut", pre)
        e0 = t.equity(B, a, price)
        post, legs = t.deleverage(B, st, "a", g.neg(B, a["q"]), price, haircut,
                                  [f"cp{i}" for i in range(n)], u("maker_fee", pre))
        a2 = post["acc"]["a"]
        if which == "bankrupt":
            # Ends flat with equity exactly E + S_k (so exactly zero when E = -S_k).
            return pre, z3.And(a2["q"] == 0, a2["on"] == 0, a2["m"] == e0 + haircut)
        if which == "I6":
            return pre, z3.Sum([leg["haircut"] for leg in legs]) == haircut
        if which == "mark":
            return pre, z3.Sum([leg["mark"] for leg in legs]) == g.value(B, a["q"], price)
        if which == "I7":
            conds = []
            for i in range(len(legs)):
                q0 = st["acc"][f"cp{i}"]["q"]
                q1 = post["acc"][f"cp{i}"]["q"]
                conds += [
                    q0 != 0,
                    z3.If(q0 > 0, z3.And(q1 >= 0, q1 < q0), z3.And(q1 <= 0, q1 > q0)),
                    (q0 > 0) == (a["q"] < 0),  # opposite side of the bankrupt position
                ]
            return pre, z3.And(*conds)
        raise ValueError(which)

    return build


def _one_counterparty_step(B):
    """ADL of the bankrupt account's whole position against one settled counterparty: the
    hypotheses, the price, the counterparty before, its equity at mark before and after, and
    its leg (take, mark part, haircut part, fee, delta)."""
    pre: list = []
    st = sym_state(adl_names(1), pre, settled=("a", "cp0"))
    a = st["acc"]["a"]
    price = u("price", pre)
    post, legs = t.deleverage(B, st, "a", g.neg(B, a["q"]), price, u("haircut", pre), ["cp0"],
                              u("maker_fee", pre))
    c0, c1 = st["acc"]["cp0"], post["acc"]["cp0"]
    e0 = c0["m"] + g.value(B, c0["q"], price) - c0["on"]
    e1 = c1["m"] + g.value(B, c1["q"], price) - c1["on"]
    return pre, price, c0, e0, e1, legs[0]


def adl_cp_loss(B):
    """One counterparty (fully settled): its equity at mark falls by its haircut plus the
    maker fee, give or take the value floor: ΔE_cp + haircut + fee ∈ {0, 1} (it never
    loses more than haircut + fee)."""
    pre, _, _, e0, e1, leg = _one_counterparty_step(B)
    err = e1 - e0 + leg["haircut"] + leg["fee"]
    return pre, z3.And(err >= 0, err <= 1)


def adl_skip_exact(B):
    """The contract's eligibility test (adl.vy `_deleverage`: a listed counterparty pays its
    whole part only when `E - mark part - haircut part + value(q + delta) - value(q) >= fee`)
    is the counterparty's equity after the step, exactly: so it caps exactly the steps that
    would leave it in debt, and never one that would not."""
    pre, price, c0, e0, e1, leg = _one_counterparty_step(B)
    after = e0 - leg["mark"] - leg["haircut"] + g.value(B, c0["q"] + leg["delta"], price) - g.value(B, c0["q"], price)
    fee = 0 if B.mut("adl_skip_without_fee") else leg["fee"]  # MUTANT: the fee left out
    return pre, e1 == after - fee


def waterfall_zero(n: int):
    """End to end for a bankrupt one-market account (E < 0): charges (capped: none), fund
    cover, ADL of the whole position with the uncovered S against n counterparties. The
    account ends flat at exactly zero; fund + counterparties' haircuts pay exactly -E; I2
    holds at the end."""

    def build(B):
        pre: list = []
        names = adl_names(n) + ["keeper"]
        st = sym_state(names, pre, settled=("a",))
        pre += [I2(st), I5(st)]
        price = u("price", pre)
        a = st["acc"]["a"]
        E = t.equity(B, a, price)
        pre.append(E < 0)
        close = g.neg(B, a["q"])
        st1, charged = t.charges(B, st, "a", "keeper", E, close, price, u("taker_fee", pre),
                                 u("penalty", pre), u("keeper_share", pre))
        after = g.i256(B, E - g.to_int(B, charged))
        st2, covered, S = t.bad_debt(B, st1, "a", after)
        st3, legs = t.deleverage(B, st2, "a", close, price, S, [f"cp{i}" for i in range(n)],
                                 u("maker_fee", pre))
        a3 = st3["acc"]["a"]
        return pre, z3.And(
            a3["q"] == 0, a3["m"] - a3["on"] == 0,
            covered + z3.Sum([leg["haircut"] for leg in legs]) == -E,
            I2(st3), I5(st3),
        )

    return build


MONEY = ("pool", "weight", "oi", "due", "bal", "fin", "fout", "fbal")


def accrue_moves_no_money(B):
    """`_accrue` changes the index, the time and the funding price only: every margin,
    position, the pool and weight, open interest, insurance_due and both token balances are
    the same after it."""
    pre: list = []
    st = with_funding(sym_state(["vault", "a"], pre), pre)
    post = t.accrue(B, st, "vault", u("now", pre), u("p_now", pre), u("updated", pre))
    same = [post["acc"][n][k] == st["acc"][n][k] for n in st["acc"] for k in ("m", "q", "on", "f")]
    return pre, z3.And(*same, *[post[k] == st[k] for k in MONEY])


def _abs(x):
    return z3.If(x >= 0, x, -x)


def index_f2(which: str):
    """F2 on the index formula: two executions that agree on what is stored at the interval's
    start (index, time, funding price, the vault's size, cap and scale) and read the index at
    the same `now`; the oracle's latest price is dated `updated` in both, at price_a in one and
    price_b in the other; the second execution first runs a wash fill between two traders
    (maker and taker, the vault taking its fee share: no vault size change) in the block of
    the last accrual.

    ``same``: with the update dated outside the interval (before the last accrual, or now:
    first seen after every second of it), both get the same index -- no price first seen
    after an interval and no fill inside it moves what it accrues (F1, F2).
    ``weight``: with the update inside it (last <= updated < now), the indices differ by at
    most what the seconds after the update weigh: |Δindex| * 10**12 < |rate| * (now - updated)
    * |price_a - price_b| + 10**12 (the last term: the index's own floor). A price dated u
    has zero weight before u."""

    def build(B):
        pre: list = []
        st = with_funding(sym_state(["vault", "maker", "taker"], pre), pre)
        now, updated = u("now", pre), u("updated", pre)
        inside = z3.And(updated >= st["last"], updated < now)
        pre.append(z3.Not(inside) if which == "same" else inside)
        washed = t.fill(B, st, "maker", "taker", s("taker_size", pre), u("price", pre),
                        u("maker_fee", pre), u("taker_fee", pre), u("fund_fee_share", pre), "vault")[0]
        pa, pb = u("price_a", pre), u("price_b", pre)
        a = t.current_index(B, st, "vault", now, pa, updated)
        b = t.current_index(B, washed, "vault", now, pb, updated)
        if which == "same":
            return pre, a == b
        r = t.rate(B, st, "vault")
        return pre, _abs(a - b) * 10**12 < _abs(r) * (now - updated) * _abs(pa - pb) + 10**12

    return build


def index_poke(B):
    """Who pokes, and when, does not change what accrues: with the oracle's update at
    `updated` inside the interval (price p_now), accruing at `updated` (the oracle then
    answering p_now, whichever came first in that block) and reading the index at `now`
    gives the index a single accrual at `now` would, to within the index's floor: 0 or 1
    less (the interval's growth floored in two parts instead of one)."""
    pre: list = []
    st = with_funding(sym_state(["vault"], pre), pre)
    now, updated, p_now = u("now", pre), u("updated", pre), u("p_now", pre)
    pre += [updated >= st["last"], updated < now]
    once = t.current_index(B, st, "vault", now, p_now, updated)
    poked = t.accrue(B, st, "vault", updated, p_now, updated)
    twice = t.current_index(B, poked, "vault", now, p_now, updated)
    return pre, z3.And(twice <= once, twice >= once - 1)


def _trunc(x, d):
    """x / d toward zero (d > 0), written independently of gmath."""
    return z3.If(x >= 0, x / d, -((-x) / d))


def rate_props(which: str):
    """`funding._rate` over the full ranges of the vault's size, the cap and the scale.
    ``bounded``: |rate| <= cap, and with the vault holding a position |rate| == cap once
    |size| >= scale (the clamp saturates); below it |rate| = trunc(|size| * cap / scale).
    ``sign``: rate * vault_size <= 0 (the vault is never the side that pays: vault short,
    longs pay); 0 when the vault is flat; otherwise rate != 0 exactly when
    |size| * cap >= scale."""

    def build(B):
        pre: list = []
        st = with_funding(sym_state(["vault"], pre), pre)
        r = t.rate(B, st, "vault")
        vq, cap, scale = st["acc"]["vault"]["q"], st["cap"], st["scale"]
        mag, size = _abs(r), _abs(vq)
        if which == "bounded":
            return pre, z3.And(mag <= cap, z3.Implies(z3.And(vq != 0, size >= scale), mag == cap),
                               z3.Implies(size < scale, mag == _trunc(size * cap, scale)))
        return pre, z3.And(r * vq <= 0, z3.Implies(vq == 0, r == 0),
                           z3.Implies(vq != 0, (r != 0) == (size * cap >= scale)))

    return build


# --- the list ---------------------------------------------------------------------------------

ADL_N = (1, 2, 3)
ADL_BOUNDS = "{n} counterparties, all consumed (the list is as long as the position needs)"


def _checks() -> list[Check]:
    cs: list[Check] = []
    one = ["a"]
    steps: list[tuple[str, Callable, list[str], tuple[str, ...], tuple[str, ...], str]] = [
        ("deposit", step_deposit, one, (), ("I1", "I2"), FULL),
        ("withdraw", step_withdraw, one, (), ("I1", "I2", "IF"), FULL),
        ("settle_funding", step_settle, one, (), ("I1", "I2", "IF"), FULL),
        ("fill", step_fill, ["maker", "taker", "vault"], (), ("I1", "I2", "IF"), FULL),
        ("vault_trade", step_vault_trade, ["taker", "vault"], (), ("I1", "I2", "IF"), FULL),
        ("liquidate_at_mark", step_close_to_vault, ["a", "vault"], ("a",), ("I1", "I2", "IF"),
         FULL),
        ("liquidation_charges", step_charges, ["a", "keeper"], ("a",), ("I2",), FULL),
        ("fund_cover", step_bad_debt, one, (), ("I2", "I5", "I5 exact"), FULL),
        ("sweep_to_insurance", step_sweep, one, (), ("I2", "I5", "I5 exact", "IF"), FULL),
        ("accrue", step_accrue, ["vault", "a"], (), ("I1", "I2", "IF"), FULL),
    ]
    for n in ADL_N:
        steps.append((f"adl[{n}]", step_adl(n), adl_names(n), ("a",), ("I1", "I2", "IF"),
                      ADL_BOUNDS.format(n=n)))
    for tr, step, names, settled, invs, bounds in steps:
        for inv in invs:
            cs.append(Check(f"{tr}: {inv}", tr, f"{inv} preserved",
                            preserve(inv, step, names, settled), bounds))
    cs += [
        Check("settle_funding: rounding", "settle_funding",
              "credit*1e36 <= -q*ΔF; credit + Δpool = 0", settle_rounding),
        Check("liquidate_at_mark: equity kept", "liquidate_at_mark",
              "account closes flat at exactly value(q, m)", close_keeps_equity),
        Check("liquidation_charges: capped", "liquidation_charges",
              "E >= 0 ⇒ E - charged >= 0; E < 0 ⇒ charged = 0", charges_capped),
        Check("fund_cover: bounded", "fund_cover",
              "dues pay min(need, due), the fund the rest up to available; S > 0 ⇒ both "
              "emptied", cover_bounded),
    ]
    cs += [
        Check("accrue: no money moves", "accrue",
              "every margin, position, pool, weight, oi, due and balance unchanged",
              accrue_moves_no_money),
        Check("funding_index: F2", "current_index",
              "same index whatever the price of an update dated outside the interval, and a "
              "wash fill inside it", index_f2("same"), FULL + "; the wash fill in the block of the last accrual"),
        Check("funding_index: F2 weight", "current_index",
              "an update dated u inside the interval weighs only the seconds after u: "
              "|Δindex|·1e12 < |rate|·(now − u)·|Δprice| + 1e12", index_f2("weight"),
              FULL + "; the wash fill in the block of the last accrual"),
        Check("funding_index: poke", "accrue",
              "accruing at the oracle's update, then reading at now, gives the one-accrual index "
              "or one less", index_poke, FULL + "; one oracle update inside the interval"),
        Check("funding_rate: bounded", "rate",
              "|rate| <= cap; |q| >= scale ⇒ |rate| = cap, else trunc(|q|·cap / scale)",
              rate_props("bounded")),
        Check("funding_rate: sign", "rate",
              "rate * vault_size <= 0; rate != 0 ⇔ |q| * cap >= scale", rate_props("sign")),
    ]
    for roles in TRADE_ROLES:
        cs += [
            Check(f"trade[{roles}]: dust", "trade", "0 <= pays - gets <= 1",
                  trade_rounding(roles, "dust")),
            Check(f"trade[{roles}]: no value created", "trade",
                  "Δdue = fund fee share + dust; accounts' Σ Δ(m-on) = -Δdue",
                  trade_rounding(roles, "value")),
        ]
    for k in (2, 3):
        cs.append(Check(f"shortfall_split[{k}]: exact", "liquidate",
                        "parts >= 0 sum to S", split_exact(k, False), f"{k} closed markets"))
        cs.append(Check(f"shortfall_split[{k}]: no revert", "liquidate",
                        "the split never reverts", split_exact(k, True),
                        f"{k} closed markets; S, notional_k < 2**128"))
    for n in ADL_N:
        b = ADL_BOUNDS.format(n=n)
        cs += [
            Check(f"adl[{n}]: bankrupt +S", f"adl[{n}]",
                  "bankrupt ends flat with equity exactly E + S_k", adl_props(n, "bankrupt"), b),
            Check(f"adl[{n}]: I6", f"adl[{n}]", "haircuts sum to exactly S_k",
                  adl_props(n, "I6"), b),
            Check(f"adl[{n}]: mark legs", f"adl[{n}]",
                  "counterparties' mark parts sum to exactly value(q, m)",
                  adl_props(n, "mark"), b),
            Check(f"adl[{n}]: I7", f"adl[{n}]",
                  "each counterparty opposite side, moves toward zero, never flips",
                  adl_props(n, "I7"), b),
        ]
    cs.append(Check("adl[1]: skip test exact", "adl[1]",
                    "the eligibility test = the counterparty's equity after the step",
                    adl_skip_exact, ADL_BOUNDS.format(n=1)))
    cs.append(Check("adl[1]: counterparty loss", "adl[1]",
                    "counterparty's ΔE = -(haircut + fee) + r, r ∈ {0, 1}", adl_cp_loss,
                    ADL_BOUNDS.format(n=1)))
    cs.append(Check("waterfall[2]: ends at zero", "liquidate",
                    "bankrupt ends flat at 0; fund + haircuts = -E; I2, I5 at the end",
                    waterfall_zero(2), ADL_BOUNDS.format(n=2) + "; one market"))
    from perpvault.prove import vault_rounding

    cs += vault_rounding.checks()
    return cs


CHECKS: list[Check] = _checks()
BY_NAME = {c.name: c for c in CHECKS}

# Each planted bug and the checks that must report a counterexample for it.
MUTANTS: dict[str, tuple[str, list[str]]] = {
    "adl_haircut_plus_one": ("ADL: the last counterparty's haircut is one atom over",
                             ["adl[1]: I6", "adl[2]: I6", "adl[1]: bankrupt +S"]),
    "adl_no_remainder": ("ADL: the last counterparty's haircut is pro rata too (remainder lost)",
                         ["adl[2]: I6"]),
    "adl_skip_without_fee": ("ADL: the eligibility test leaves out the maker fee (an account the "
                             "fee puts in debt is taken)", ["adl[1]: skip test exact"]),
    "adl_same_side": ("ADL: a same-side counterparty is accepted",
                      ["adl[1]: bankrupt +S", "adl[1]: I7"]),
    "trade_round_flip": ("trade cash: buyer pays floor, seller gets ceil",
                         ["trade[traders]: dust", "trade[vault sells]: dust"]),
    "fee_split_double_floor": ("fee split: fund and vault shares both floored", ["fill: I2"]),
    "cost_basis_mismatch": ("reduce: realized PnL from a basis rounded differently from the "
                            "stored one", ["fill: I2"]),
    "cover_over_balance": ("fund cover pays one atom more than available",
                           ["fund_cover: bounded", "fund_cover: I5"]),
    "cover_ignores_dues": ("bad debt covered from the fund's balance only, the unswept dues "
                           "(insurance_due) left idle", ["fund_cover: bounded"]),
    "penalty_cap_stale": ("liquidation penalty capped at the equity before the fee",
                          ["liquidation_charges: capped"]),
    "funding_round_account": ("funding credit rounded the account's way",
                              ["settle_funding: rounding", "settle_funding: IF"]),
    "sweep_rounds_up": ("sweep takes the funding surplus rounded up", ["sweep_to_insurance: IF"]),
    "accrue_books_growth": ("accrual books the interval's growth into the funding pool",
                            ["accrue: I2", "accrue: no money moves"]),
    "index_priced_at_oracle_now": ("every second of the interval valued at the oracle's price "
                                   "now, whenever it was dated (a retroactive rate, R8)",
                                   ["funding_index: F2", "funding_index: F2 weight"]),
    "index_ignores_update": ("every second valued at the stored funding price, the oracle's "
                             "update inside the interval ignored: when anyone pokes changes what "
                             "accrues", ["funding_index: poke"]),
    "rate_from_open_interest": ("the rate from the traders' long open interest, not the "
                                "vault's size: a wash fill moves it (F1)", ["funding_index: F2"]),
    "rate_unclamped": ("the rate not clamped to ±max_funding_rate", ["funding_rate: bounded"]),
    "rate_sign_flipped": ("the skew from +vault size: longs are paid when the vault is short",
                          ["funding_rate: sign"]),
}
# I9: each vault entry point rounding the holders' way (perpvault.prove.vault_rounding).
from perpvault.prove import vault_rounding  # noqa: E402 (loaded by _checks() above already)

MUTANTS.update({
    vault_rounding.mutant_name(op): (f"vault {op} rounds the holders' way, not the vault's",
                                     [f"I9[{op}]: price not lower"])
    for op in vault_rounding.OPS
})

# Search hints for mutant runs only (never for proofs): extra equalities that pin parts of
# the state irrelevant to the planted bug, so z3's non-linear search finds a model quickly.
# A model found under a hint satisfies the check's hypotheses and violates its property, so it
# is a counterexample of the unhinted check too.
_ADL_HINT = {"price": 10**30, "maker_fee": 0, "F": 0, "a.funding_index": 0,
             "cp0.funding_index": 0, "cp1.funding_index": 0, "cp2.funding_index": 0,
             "a.open_notional": 0, "cp0.open_notional": 0, "cp1.open_notional": 0,
             "cp2.open_notional": 0}
_TRADE_HINT = {"F": 0, "maker.funding_index": 0, "taker.funding_index": 0,
               "vault.funding_index": 0}
HINTS: dict[str | tuple[str, str], dict[str, int]] = {
    "trade_round_flip": {"F": 0, "buyer.funding_index": 0, "seller.funding_index": 0,
                         "vault.funding_index": 0, "price": 1, "buyer_fee": 0,
                         "seller_fee": 0},
    "cost_basis_mismatch": {**_TRADE_HINT, "maker_fee": 0, "taker_fee": 0},
    "fee_split_double_floor": _TRADE_HINT,
    "adl_haircut_plus_one": _ADL_HINT,
    # A bankrupt long of 2 against two shorts of 1: any odd haircut leaves a remainder.
    "adl_no_remainder": {**_ADL_HINT, "a.size": 2, "cp0.size": -1, "cp1.size": -1},
    ("adl_haircut_plus_one", "adl[2]: I6"): {**_ADL_HINT, "a.size": 2, "cp0.size": -1,
                                            "cp1.size": -1},
    "adl_same_side": _ADL_HINT,
    "adl_skip_without_fee": {**_ADL_HINT, "maker_fee": 200},
    # The vault short 1 with cap and scale 1: the rate is 1; the oracle's update dated now.
    "index_priced_at_oracle_now": {**_TRADE_HINT, "cap": 1, "scale": 1, "last": 0, "now": 1,
                                   "updated": 1, "vault.size": -1},
    ("index_priced_at_oracle_now", "funding_index: F2 weight"): {
        **_TRADE_HINT, "cap": 1, "scale": 1, "last": 0, "now": 2, "updated": 1, "vault.size": -1},
    # Rate 1 from t = 0, the stored price 0, the update at t = 1 at 10**12: one unit after it.
    "index_ignores_update": {"cap": 1, "scale": 1, "last": 0, "updated": 1, "now": 2, "fp": 0,
                             "p_now": 10**12, "vault.size": -1, "F": 0},
    # Funding settled, no fees, cap and scale 1, each second priced at 10**12: the rate is 1
    # while there is open interest, 0 without; two flat traders open a position of 1.
    "rate_from_open_interest": {**_TRADE_HINT, "maker_fee": 0, "taker_fee": 0, "fund_fee_share": 0,
                                "fp": 10**12, "cap": 1, "scale": 1, "last": 0, "now": 1,
                                "updated": 1, "oi": 0, "maker.size": 0, "taker.size": 0,
                                "taker_size": 1},
}


# --- running ----------------------------------------------------------------------------------


def make_solver() -> z3.Solver:
    """z3's SMT core after cheap preprocessing (simplify, propagate and eliminate the many
    defining equalities the transitions produce): 2-4x faster than the default here."""
    return z3.Then("simplify", "propagate-values", "solve-eqs", "smt").solver()


def run_check(check: Check, mutant: str | None = None,
              timeout_s: float = DEFAULT_TIMEOUT_S) -> Result:
    t0 = time.perf_counter()
    B = Symbolic({mutant} if mutant else frozenset())
    try:
        pre, goal = check.build(B)
        solver = make_solver()
        solver.set("timeout", int(timeout_s * 1000))
        solver.add(*pre)
        solver.add(*B.conds)
        solver.add(z3.Not(goal))
        hint = HINTS.get((mutant, check.name), HINTS.get(mutant, {})) if mutant else {}
        for name, v in hint.items():
            solver.add(z3.Int(name) == v)
        r = solver.check()
    except Exception as exc:  # a bug in a check is a failure, not a pass
        return Result(check.name, check.tool, "error", time.perf_counter() - t0, mutant,
                      f"{type(exc).__name__}: {exc}")
    dt = time.perf_counter() - t0
    if r == z3.unsat:
        return Result(check.name, check.tool, "proved", dt, mutant)
    if r == z3.sat:
        m = solver.model()
        cex = {str(d): str(m[d]) for d in m.decls() if "!" not in str(d)}
        return Result(check.name, check.tool, "counterexample", dt, mutant, counterexample=cex)
    reason = solver.reason_unknown()
    kind = "timeout" if "timeout" in reason or "canceled" in reason else "unknown"
    return Result(check.name, check.tool, kind, dt, mutant, reason)
