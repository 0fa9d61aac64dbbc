"""The clearinghouse's state transitions, written once for ints and z3 terms.

Each function mirrors the function of the same name in `perpvault/model/clearinghouse.py`
(and so `contracts/Clearinghouse.vy` / `contracts/InsuranceFund.vy`), restricted to one
market. Every step but the funding accrual runs with funding already accrued to the
market's current index ``F``; ``rate``, ``current_index`` and ``accrue`` (`funding._rate`,
`_current_index`, `_accrue`) bring it there. State is a plain dict, updated functionally so
that symbolic branches can be merged::

    st = {
        "acc": {name: {"m": margin, "q": size, "on": open_notional, "f": funding_index}},
        "F": current funding index, "pool": funding_pool, "weight": funding_weight,
        "oi": open_interest, "due": insurance_due, "bal": the clearinghouse's token balance,
        "fin": fund.total_in, "fout": fund.total_out, "fbal": the fund's token balance,
    }

The accrual reads four more fields, present only in the states of the funding checks:
``"last"`` (last_funding_time), ``"fp"`` (funding_price, the oracle price at the last
accrual), ``"cap"`` (max_funding_rate) and ``"scale"`` (skew_scale).

Mutants (``B.mut(name)``) are planted bugs used to show that each proof can fail; they are
listed with the check that must catch them in :mod:`perpvault.prove.checks`.
"""

from __future__ import annotations

import copy
from typing import Any

from perpvault.model.constants import FUNDING_PRICE_DIV, PPM
from perpvault.prove import gmath as g
from perpvault.prove.gmath import Int, i256, neg, to_int, to_uint, trunc_div, u256, udiv, vabs

MAX_SIZE = 10**36
MAX_AMOUNT = 2**128
MAX_POSITION = 2**127

State = dict[str, Any]


def cp(st: State) -> State:
    return copy.copy({**st, "acc": {k: dict(v) for k, v in st["acc"].items()}})


# --- token and fund ----------------------------------------------------------------------------


def deposit(B, st: State, who: str, amount: Int) -> State:
    """`Clearinghouse.deposit`: the token moves in, margin goes up."""
    B.require(amount != 0, "ch: zero amount")
    B.require(amount <= MAX_AMOUNT, "ch: amount too large")
    st = cp(st)
    st["bal"] = u256(B, st["bal"] + amount)
    a = st["acc"][who]
    a["m"] = i256(B, a["m"] + to_int(B, amount))
    return st


def equity(B, a: dict, price: Int) -> Int:
    """`_health(...).equity` for a one-market account whose funding is settled."""
    return i256(B, a["m"] + i256(B, g.value(B, a["q"], price) - a["on"]))


def withdraw(B, st: State, who: str, amount: Int, price: Int, imr: Int) -> State:
    """`Clearinghouse.withdraw`: settle, margin down, require E >= IMR, token out."""
    B.require(amount != 0, "ch: zero amount")
    B.require(amount <= MAX_AMOUNT, "ch: amount too large")
    st = settle(B, st, who)
    st = cp(st)
    a = st["acc"][who]
    a["m"] = i256(B, a["m"] - to_int(B, amount))
    initial = g.requirement(B, a["q"], price, imr)
    B.require(equity(B, a, price) >= to_int(B, initial), "ch: insufficient margin")
    B.require(st["bal"] >= amount, "erc20: transfer amount exceeds balance")
    st["bal"] = st["bal"] - amount
    return st


def cover(B, st: State, amount: Int) -> tuple[State, Int]:
    """`InsuranceFund.cover` with the clearinghouse receiving the tokens."""
    st = cp(st)
    available = u256(B, st["fin"] - st["fout"])
    paid = B.min_(amount, available)
    if B.mut("cover_over_balance"):
        paid = B.min_(amount, available + 1)  # MUTANT: one atom more than the fund holds

    def pay() -> tuple:
        fout = u256(B, st["fout"] + paid)
        B.require(st["fbal"] >= paid, "erc20: transfer amount exceeds balance")
        return fout, st["fbal"] - paid, u256(B, st["bal"] + paid)

    st["fout"], st["fbal"], st["bal"] = B.cases(
        paid != 0, pay, lambda: (st["fout"], st["fbal"], st["bal"])
    )
    return st, paid


def receive_revenue(B, st: State, amount: Int) -> State:
    """`InsuranceFund.receive_revenue` pulling `amount` from the clearinghouse."""
    B.require(amount != 0, "fund: zero amount")
    st = cp(st)
    B.require(st["bal"] >= amount, "erc20: transfer amount exceeds balance")
    st["bal"] = st["bal"] - amount
    st["fbal"] = u256(B, st["fbal"] + amount)
    st["fin"] = u256(B, st["fin"] + amount)
    return st


def sweep_to_insurance(B, st: State) -> tuple[State, Int]:
    """`Clearinghouse.sweep_to_insurance` for one market."""
    st = cp(st)
    amount = st["due"]
    st["due"] = 0
    surplus = g.floor_div(B, i256(B, i256(B, st["pool"] * 10**36) - st["weight"]), 10**36)
    if B.mut("sweep_rounds_up"):
        surplus = -g.floor_div(B, -i256(B, i256(B, st["pool"] * 10**36) - st["weight"]), 10**36)

    def take() -> tuple:
        return i256(B, st["pool"] - surplus), u256(B, amount + to_uint(B, surplus))

    st["pool"], amount = B.cases(surplus > 0, take, lambda: (st["pool"], amount))
    st = B.cases(amount != 0, lambda: receive_revenue(B, st, amount), lambda: st)
    return st, amount


# --- positions and funding ------------------------------------------------------------------


def rate(B, st: State, vault: str) -> Int:
    """`funding._rate`: max_funding_rate * clamp(-vault_size / skew_scale, -1, 1), WAD per
    second, the division truncated toward zero; 0 when the vault is flat. Positive (longs pay
    shorts) when the vault is short."""
    size = st["acc"][vault]["q"]
    if B.mut("rate_from_open_interest"):
        # MUTANT: the skew read from the traders' long open interest, as if the vault were
        # short all of it: a fill between two traders moves it (F1).
        size = neg(B, to_int(B, st["oi"]))

    def skewed() -> Int:
        cap = to_int(B, st["cap"])
        # MUTANT rate_sign_flipped: +size, so longs are paid when the vault is short.
        side = size if B.mut("rate_sign_flipped") else neg(B, size)
        r = trunc_div(B, i256(B, side * cap), to_int(B, st["scale"]))
        if B.mut("rate_unclamped"):
            return r  # MUTANT: no clamp to +-max_funding_rate
        return B.min_(B.max_(r, neg(B, cap)), cap)

    return B.cases(size != 0, skewed, lambda: 0)


def current_index(B, st: State, vault: str, now: Int, p_now: Int, updated: Int) -> Int:
    """`funding._current_index` at time `now`, the oracle's `latest()` answering
    (`p_now`, `updated`): the stored index grown by floor(rate * weighted / 10**12), where
    weighted values each second since the last accrual at the price in force then -- the
    stored funding price until `split`, p_now after it; split = updated when the oracle's
    update falls inside the interval (last <= updated < now), else now (a price dated before
    the last accrual, or first seen now, weighs nothing). No oracle read when the rate is 0."""
    last = st["last"]

    def grown() -> Int:
        r = rate(B, st, vault)

        def weighted_growth() -> Int:
            inside = B.and_(updated >= last, updated < now)
            split = B.ite(inside, updated, now)
            if B.mut("index_priced_at_oracle_now"):
                split = last  # MUTANT: every second valued at the price first seen now (R8)
            if B.mut("index_ignores_update"):
                split = now  # MUTANT: every second at the stored price, the update ignored
            w = to_int(B, u256(B, u256(B, u256(B, split - last) * st["fp"])
                               + u256(B, u256(B, now - split) * p_now)))
            return i256(B, st["F"] + g.floor_div(B, i256(B, r * w), FUNDING_PRICE_DIV))

        return B.cases(r == 0, lambda: st["F"], weighted_growth)

    return B.cases(now == last, lambda: st["F"], grown)


def accrue(B, st: State, vault: str, now: Int, p_now: Int, updated: Int) -> State:
    """`funding._accrue` at time `now`, the oracle's price in force `p_now` (dated `updated`):
    stores the index, the time, and p_now as the funding price the next interval starts at
    (`ledger._price`: `price()` serves the latest round while fresh; its staleness revert only
    adds reverts). Within the same second the index and the time stay and only the funding
    price is refreshed (an interval of no length is priced at nothing). No money moves."""

    def new_interval() -> State:
        s = cp(st)
        s["F"] = current_index(B, st, vault, now, p_now, updated)
        if B.mut("accrue_books_growth"):
            # MUTANT: the interval's growth booked into the funding pool at accrual.
            s["pool"] = i256(B, s["pool"] + i256(B, s["F"] - st["F"]))
        s["fp"] = p_now
        s["last"] = now
        return s

    def same_second() -> State:
        s = cp(st)
        s["fp"] = p_now
        return s

    return B.cases(now == st["last"], same_second, new_interval)


def settle(B, st: State, who: str) -> State:
    """`Clearinghouse._settle` (after `_accrue`): pay the position's funding since its index."""
    F = st["F"]
    a0 = st["acc"][who]

    def moved() -> State:
        def with_size() -> State:
            s = cp(st)
            a = s["acc"][who]
            delta = i256(B, F - a["f"])
            credit = g.funding_credit(B, a["q"], delta)
            a["m"] = i256(B, a["m"] + credit)
            s["pool"] = i256(B, s["pool"] - credit)
            s["weight"] = i256(B, s["weight"] + i256(B, a["q"] * delta))
            return s

        s = B.cases(a0["q"] != 0, with_size, lambda: cp(st))
        s["acc"][who]["f"] = F
        return s

    out = B.cases(a0["f"] != F, moved, lambda: cp(st))
    # Both branches end with the position's index at F (the else-branch because it already
    # was): say so directly, so the symbolic term is F itself rather than If(f != F, F, f).
    out["acc"][who]["f"] = F
    return out


def change_position(B, st: State, who: str, delta: Int, cash: Int) -> State:
    """`Clearinghouse._change_position`: margin - open_notional moves by exactly -cash."""
    st = cp(st)
    a = st["acc"][who]
    q = a["q"]
    q_new = i256(B, q + delta)

    def same_side() -> Int:
        return i256(B, a["on"] + cash)

    def reduce() -> Int:
        return trunc_div(B, i256(B, a["on"] * q_new), q)

    def flip() -> Int:
        return trunc_div(B, i256(B, cash * q_new), delta)

    on_new = B.cases(
        B.or_(q == 0, B.eq(q > 0, delta > 0)),
        same_side,
        lambda: B.cases(vabs(B, delta) <= vabs(B, q), reduce, flip),
    )
    on_margin = on_new
    if B.mut("cost_basis_mismatch"):
        # MUTANT: realized PnL computed from a basis rounded away from zero, the stored
        # basis truncated (an off-by-one between margin and open_notional).
        on_margin = B.cases(
            B.and_(B.not_(B.or_(q == 0, B.eq(q > 0, delta > 0))), vabs(B, delta) <= vabs(B, q)),
            lambda: on_new + B.ite(on_new * q != a["on"] * q_new, B.ite(on_new > 0, 1, -1), 0),
            lambda: on_new,
        )
    a["m"] = i256(B, a["m"] + i256(B, i256(B, on_margin - a["on"]) - cash))
    # The contract stores size and open notional as int128 in one slot. Only the concrete
    # run checks it: a revert left out of the symbolic transitions only adds states, so the
    # proofs still cover the contract (and the mutant queries stay fast).
    if not B.symbolic:
        B.require(
            -MAX_POSITION <= q_new < MAX_POSITION and -MAX_POSITION <= on_new < MAX_POSITION,
            "ch: position too large",
        )
    st["weight"] = i256(B, st["weight"] + i256(B, delta * a["f"]))
    st["oi"] = u256(
        B, u256(B, st["oi"] + to_uint(B, B.max_(q_new, 0))) - to_uint(B, B.max_(q, 0))
    )
    a["q"] = q_new
    a["on"] = on_new
    return st


def trade(
    B,
    st: State,
    buyer: str,
    seller: str,
    size: Int,
    price: Int,
    buyer_fee_rate: Int,
    seller_fee_rate: Int,
    fund_fee_share: Int,
    vault: str | None,
) -> tuple[State, dict]:
    """`Clearinghouse._trade` (the margin checks only add reverts: they are hypotheses here).

    Returns the new state and the cash flows: pays, gets, buyer fee, seller fee, to_fund.
    """
    st = settle(B, st, buyer)
    st = settle(B, st, seller)
    # The contract computes margin - open_notional of both sides before the trade (the margin
    # rule's k_before), whether or not it checks: that subtraction reverts on overflow too.
    for side in (buyer, seller):
        i256(B, st["acc"][side]["m"] - st["acc"][side]["on"])
    pays = g.notional(B, size, price)
    gets = to_uint(B, g.value(B, size, price))
    if B.mut("trade_round_flip"):
        pays, gets = gets, pays  # MUTANT: buyer pays floor, seller gets ceil
    st = change_position(B, st, buyer, size, to_int(B, pays))
    st = change_position(B, st, seller, neg(B, size), neg(B, to_int(B, gets)))
    bf = g.fee(B, size, price, buyer_fee_rate)
    sf = g.fee(B, size, price, seller_fee_rate)
    st["acc"][buyer]["m"] = i256(B, st["acc"][buyer]["m"] - to_int(B, bf))
    st["acc"][seller]["m"] = i256(B, st["acc"][seller]["m"] - to_int(B, sf))
    fees = u256(B, bf + sf)
    to_fund = fees
    if vault is not None:
        to_fund = udiv(B, u256(B, fees * fund_fee_share), PPM)
        to_vault = u256(B, fees - to_fund)
        if B.mut("fee_split_double_floor"):
            # MUTANT: both shares floored, the atom in between is lost.
            to_vault = udiv(B, u256(B, fees * u256(B, PPM - fund_fee_share)), PPM)
        st["acc"][vault]["m"] = i256(B, st["acc"][vault]["m"] + to_int(B, to_vault))
    st["due"] = u256(B, u256(B, u256(B, st["due"] + to_fund) + pays) - gets)
    return st, {"pays": pays, "gets": gets, "bf": bf, "sf": sf, "to_fund": to_fund}


def fill(
    B,
    st: State,
    maker: str,
    taker: str,
    taker_size: Int,
    price: Int,
    maker_fee_rate: Int,
    taker_fee_rate: Int,
    fund_fee_share: Int,
    vault: str | None,
) -> tuple[State, dict]:
    """`Clearinghouse.fill`: the taker buys (size > 0) or sells from the maker at `price`.

    A vault trade (`LiquidityVault.trade`) is a fill with ``maker == vault`` and no maker fee.
    """
    B.require(taker_size != 0, "ch: zero fill")
    B.require(B.and_(taker_size <= MAX_SIZE, taker_size >= -MAX_SIZE), "ch: size too large")
    assert maker != taker  # "ch: self-match": accounts are distinct names here
    if maker == vault:
        maker_fee_rate = 0
    return B.cases(
        taker_size > 0,
        lambda: trade(B, st, taker, maker, taker_size, price, taker_fee_rate, maker_fee_rate,
                      fund_fee_share, vault),
        lambda: trade(B, st, maker, taker, neg(B, taker_size), price, maker_fee_rate,
                      taker_fee_rate, fund_fee_share, vault),
    )


# --- the risk waterfall ---------------------------------------------------------------------


def close_to_vault(B, st: State, account: str, vault: str, close: Int, price: Int) -> State:
    """`_close` when the vault takes the position at mark: `_trade` with no fees."""
    return B.cases(
        close < 0,
        lambda: trade(B, st, vault, account, neg(B, close), price, 0, 0, 0, None)[0],
        lambda: trade(B, st, account, vault, close, price, 0, 0, 0, None)[0],
    )


def charges(
    B, st: State, account: str, keeper: str, E: Int, close: Int, price: Int,
    taker_fee: Int, penalty_rate: Int, keeper_share: Int,
) -> tuple[State, Int]:
    """`_liquidate` step 2 for one closed market: fee, then penalty, each capped at the equity
    left (`room`); the keeper's share to its margin, the rest to `insurance_due`."""
    st = cp(st)
    room = to_uint(B, B.max_(E, 0))
    fee = B.min_(g.fee(B, close, price, taker_fee), room)
    room_before = room
    room = u256(B, room - fee)
    penalty = B.min_(g.fee(B, close, price, penalty_rate), room)
    if B.mut("penalty_cap_stale"):
        # MUTANT: the penalty is capped at the equity before the fee was taken.
        penalty = B.min_(g.fee(B, close, price, penalty_rate), room_before)
    reward = udiv(B, u256(B, penalty * keeper_share), PPM)
    st["acc"][keeper]["m"] = i256(B, st["acc"][keeper]["m"] + to_int(B, reward))
    st["due"] = u256(B, u256(B, u256(B, st["due"] + fee) + penalty) - reward)
    charged = u256(B, fee + penalty)
    st["acc"][account]["m"] = i256(B, st["acc"][account]["m"] - to_int(B, charged))
    return st, charged


def bad_debt(B, st: State, account: str, after: Int) -> tuple[State, Int, Int]:
    """`_cover_bad_debt`: the fund covers what it can of -after, first from what it is owed
    (`insurance_due`), then from its balance (`cover`); returns (st, covered, S)."""
    def negative() -> tuple:
        need = to_uint(B, neg(B, after))
        s = cp(st)
        from_due = B.min_(need, s["due"])
        if B.mut("cover_ignores_dues"):
            from_due = 0  # MUTANT: only the fund's balance covers, the unswept dues sit idle
        s["due"] = u256(B, s["due"] - from_due)
        rest = u256(B, need - from_due)
        s, paid = B.cases(rest != 0, lambda: cover(B, s, rest), lambda: (cp(s), 0))
        covered = u256(B, from_due + paid)
        s = cp(s)
        s["acc"][account]["m"] = B.cases(
            covered != 0,
            lambda: i256(B, s["acc"][account]["m"] + to_int(B, covered)),
            lambda: s["acc"][account]["m"],
        )
        return s, covered, u256(B, need - covered)

    return B.cases(after < 0, negative, lambda: (cp(st), 0, 0))


def split_shortfall(B, shortfall: Int, notionals: list[Int]) -> list[Int]:
    """`_liquidate` step 4: S over the closed markets by notional, the last the remainder."""
    total = 0
    for n in notionals:
        total = u256(B, total + n)
    left = shortfall
    parts = []
    for k, n in enumerate(notionals):
        part = left
        if k != len(notionals) - 1:
            part = udiv(B, u256(B, shortfall * n), total)
        left = u256(B, left - part)
        parts.append(part)
    return parts


def deleverage(
    B, st: State, account: str, close: Int, price: Int, haircut: Int, cps: list[str],
    maker_fee: Int,
) -> tuple[State, list[dict]]:
    """`Clearinghouse._deleverage` over the listed counterparties (all of them are consumed:
    the list is exactly as long as the position needs, and every listed counterparty is
    eligible: one the contract skips changes nothing but the list). The ADL order check and
    the queue's completeness check only add reverts and are not modelled; the side checks are.

    Returns the new state and, per counterparty, its take, mark part and haircut part.
    """
    total_abs = vabs(B, close)
    mark_leg = g.value(B, neg(B, close), price)
    left = total_abs
    mark_left = mark_leg
    haircut_left = to_int(B, haircut)
    legs = []
    for c in cps:
        B.require(left != 0)  # the loop breaks when nothing is left: every listed cp is used
        assert c != account  # "ch: adl bankrupt as counterparty"
        st = settle(B, st, c)
        cq = st["acc"][c]["q"]
        B.require(cq != 0, "ch: adl counterparty has no position")
        if not B.mut("adl_same_side"):
            B.require(B.eq(cq > 0, close > 0), "ch: adl counterparty same side")
        take = B.min_(vabs(B, cq), left)
        left = i256(B, left - take)
        last = left == 0

        def pro_rata() -> tuple:
            return (
                trunc_div(B, i256(B, mark_leg * take), total_abs),
                trunc_div(B, i256(B, to_int(B, haircut) * take), total_abs),
            )

        cp_mark, cp_haircut = B.cases(B.not_(last), pro_rata, lambda: (mark_left, haircut_left))
        if B.mut("adl_haircut_plus_one"):
            cp_haircut = B.ite(last, cp_haircut + 1, cp_haircut)  # MUTANT: one atom over
        if B.mut("adl_no_remainder"):
            cp_haircut = trunc_div(B, i256(B, to_int(B, haircut) * take), total_abs)
        mark_left = i256(B, mark_left - cp_mark)
        haircut_left = i256(B, haircut_left - cp_haircut)
        cp_delta = B.ite(cq > 0, -take, take)
        cash = i256(B, cp_mark + cp_haircut)
        st = change_position(B, st, c, cp_delta, cash)
        st = change_position(B, st, account, neg(B, cp_delta), neg(B, cash))
        fee = g.fee(B, take, price, maker_fee)
        st["acc"][c]["m"] = i256(B, st["acc"][c]["m"] - to_int(B, fee))
        st["due"] = u256(B, st["due"] + fee)
        legs.append({"cq": cq, "take": take, "mark": cp_mark, "haircut": cp_haircut, "fee": fee,
                     "delta": cp_delta})
    B.require(left == 0, "ch: adl list too short")
    return st, legs
