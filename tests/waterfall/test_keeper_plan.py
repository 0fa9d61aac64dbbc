"""The keeper plans on the model's own waterfall (perpvault.keeper.plan): Hypothesis over random
crashed books in the reference model.

For every liquidatable account, the plan-mode list must be
- accepted by the contract path: the model's `liquidate` with that list, run for real, passes and
  ends in exactly the state (and events) the plan's run ended in; accounts outside the plan's
  scope are untouched;
- the queue the contract guarantees (SPEC section 6): at every step, the highest-ranked
  opposite-side position not listed yet, judged independently of the planner by running
  `liquidate` with explicit lists: the state at that step and every candidate's score there;
  a listed position the step does not close (no Deleveraged event) is one that could pay
  nothing of its part, and is left exactly as it was.
When there is no plan, no counterparty the contract would close was left out.
"""

from __future__ import annotations

import copy
import math
from dataclasses import astuple, replace

from hypothesis import event, given, settings
from hypothesis import strategies as st

from perpvault.chain.deploy import DEFAULT_MARKETS, DEFAULT_RISK
from perpvault.keeper import NoPlan, Plan, plan_liquidation
from perpvault.model import Exchange, MarketParams, Revert, RiskParams
from perpvault.model.maths import ahead
from perpvault.units import PPM, usdc

BTC, ETH = 0, 1
OWNER = "0x" + "0a" * 20
UPDATER = "0x" + "0b" * 20
KEEPER = "0x" + "0c" * 20
LP = "0x" + "0d" * 20
TRADERS = [f"0x{(i + 1) * 0x1111:040x}" for i in range(8)]
LIST_TOO_SHORT = "ch: adl list too short"
# Why the contract refuses a counterparty at its step (the list's entry, not the waterfall).
REFUSED = ("ch: adl order", "ch: adl counterparty has no position",
           "ch: adl counterparty same side", "ch: adl bankrupt as counterparty")


# --- random crashed books -----------------------------------------------------------------------

trades = st.lists(
    st.tuples(st.integers(0, 7), st.integers(0, 7), st.sampled_from([BTC, ETH]),
              st.sampled_from([5_000, 20_000, 60_000, 110_000]), st.booleans(), st.sampled_from([-200, 0, 150])),
    min_size=4, max_size=16,
)
vault_trades = st.lists(st.tuples(st.integers(0, 7), st.sampled_from([BTC, ETH]),
                                  st.sampled_from([3_000, 30_000]), st.booleans()), max_size=4)


@st.composite
def crashed_books(draw: st.DrawFn) -> Exchange:
    """Up to 8 traders (few distinct margins and sizes, so scores tie), fills at a premium so
    funding accrues, a few vault trades, a fund from empty to ample, a vault that may refuse
    take-overs, then both markets moved (mostly down, as far as -50%) before the keeper looks."""
    limit = draw(st.sampled_from([0, usdc(30_000), 10**15]), label="vault_max_notional")
    markets = [(MarketParams.of(replace(m, vault_max_notional=limit).params()), m.initial_price)
               for m in DEFAULT_MARKETS]
    ex = Exchange(OWNER, UPDATER, markets=markets, risk=RiskParams.of(DEFAULT_RISK))
    n = draw(st.integers(3, len(TRADERS) - 1), label="traders")
    # The twin copies every trade of trader 0 with the same counterparty: equal scores, so the
    # queue's order between the two is the tie-break by address.
    twin = TRADERS[n] if draw(st.booleans(), label="trader 0 has a twin") else None
    for account in (LP, KEEPER, *TRADERS[:n], *([twin] if twin else [])):
        ex.mint(account, usdc(10_000_000))
        for spender in (ex.ch.address, ex.w.vault.address, ex.w.fund.address):
            ex.approve(account, spender)
    ex.vault_deposit(LP, draw(st.sampled_from([usdc(2_000), usdc(200_000)]), label="vault capital"))
    donation = draw(st.sampled_from([0, usdc(20), usdc(3_000)]), label="fund donation")
    if donation:
        ex.donate(KEEPER, donation)
    for t in TRADERS[:n]:
        ex.deposit(t, draw(st.sampled_from([usdc(800), usdc(3_000), usdc(12_000)])))
    if twin:
        ex.deposit(twin, ex.margin(TRADERS[0]))
    for maker, taker, market, notional, buy, premium_bp in draw(trades, label="fills"):
        maker, taker = maker % n, (maker + 1 + taker % (n - 1)) % n  # two different traders
        p = ex.ch.mark_price(market) * (10_000 + premium_bp) // 10_000
        q = usdc(notional) * 10**30 // p
        try:
            ex.fill(TRADERS[maker], TRADERS[taker], market, q if buy else -q, p)
            if twin and 0 in (maker, taker):
                as_twin = [twin if i == 0 else TRADERS[i] for i in (maker, taker)]
                ex.fill(*as_twin, market, q if buy else -q, p)
        except Revert:
            pass  # not enough margin: the model is as before
    for who, market, notional, buy in draw(vault_trades, label="vault trades"):
        q = usdc(notional) * 10**30 // ex.ch.mark_price(market)
        try:
            ex.vault_trade(TRADERS[who % n], market, q if buy else -q, 2**200 if buy else 1)
        except Revert:
            pass
    ex.advance(draw(st.sampled_from([1, 3_000]), label="seconds of funding"))
    for market in (BTC, ETH):  # to 50%-110% of the price, in two updates (each within max_jump)
        target = draw(st.sampled_from([500_000, 580_000, 710_000, 790_000, 860_000, 1_000_000, 1_100_000]),
                      label=f"market {market} moves to (ppm)")
        p0 = ex.ch.mark_price(market)
        ex.set_price(UPDATER, market, p0 * math.isqrt(target * PPM) // PPM)
        ex.set_price(UPDATER, market, p0 * target // PPM)
    return ex


# --- what the contract path says, with explicit lists ------------------------------------------


def run_list(ex: Exchange, account: str, cps: list[str]) -> tuple[str | None, Exchange]:
    """`liquidate(account, cps)` on a copy, without plan mode: the revert reason (None if it
    passes) and the copy as it stood when the run stopped (mid-transaction on a revert)."""
    trial = copy.deepcopy(ex)
    try:
        trial.w.ch.liquidate(KEEPER, account, list(cps))
    except Revert as exc:
        return exc.reason, trial
    return None, trial


def opposite(ch, account: str, market: int) -> list[str]:
    """Who is on the other side of `account` in `market` now (its ADL candidates)."""
    mine = ch.positions_of(account, market).size
    return [a for a, acct in ch.accounts.items() if a != account and market in acct.positions
            and acct.positions[market].size != 0 and (acct.positions[market].size > 0) != (mine > 0)]


def unchanged(after, before, a: str) -> bool:
    """`a`'s positions and equity are the same in both states (settled funding aside)."""
    def sizes(ch):
        return {m: (p.size, p.open_notional) for m, p in ch.accounts[a].positions.items()}
    return sizes(after) == sizes(before) and after._health(a).equity == before._health(a).equity


def assert_queue_order(ex: Exchange, account: str, plan: Plan) -> None:
    """Each entry of the plan's list is the highest-ranked position not listed yet in its
    _deleverage; the entries before each Deleveraged event's counterparty were skipped."""
    cps, k = plan.counterparties, 0
    prev: tuple[int, str] | None = None
    for e in plan.events:
        if e.name == "Liquidated":
            prev = None  # one _deleverage per close: the order restarts in the next
            continue
        if e.name != "Deleveraged":
            continue
        market = e.args["market"]
        while True:
            chosen = cps[k]
            reason, at_step = run_list(ex, account, cps[:k])
            assert reason == LIST_TOO_SHORT, reason  # the list runs out exactly here
            ch = at_step.w.ch
            scores = {a: ch.adl_score(a, market) for a in opposite(ch, account, market)}
            in_order = [a for a in scores if prev is None or ahead(*prev, scores[a], a)]
            best = in_order[0]  # first in line by the contract's own order (perp_math._ahead's twin)
            for a in in_order[1:]:
                if ahead(scores[a], a, scores[best], best):
                    best = a
            assert chosen == best, f"step {k}: planned {chosen}, the queue's next is {best}"
            prev = (scores[chosen], chosen)
            k += 1
            if chosen == e.args["counterparty"]:
                break
            # Could pay nothing of its part: the step left its position and equity as they were
            # (its funding was settled into margin).
            _, after = run_list(ex, account, cps[:k])
            assert unchanged(after.w.ch, ch, chosen)
            event("ADL: a higher-ranked position that could pay nothing, skipped")
        if len(set(scores.values())) < len(scores):
            event("ADL: tied scores on the opposite side")
    assert k == len(cps)
    if len({e.args["market"] for e in plan.events if e.name == "Deleveraged"}) > 1:
        event("ADL: in two markets")
    if len(set(cps)) < len(cps):
        event("ADL: one counterparty listed twice")


def assert_none_left(ex: Exchange, account: str, exc: NoPlan) -> None:
    """No plan: only because the opposite side ran out, and nobody more the contract would take
    was left out (an ineligible counterparty is skipped, never the end of the plan)."""
    assert exc.reason == LIST_TOO_SHORT, f"no plan: {exc.reason}"
    if exc.counterparties:
        event("no plan: the opposite side ran out after some ADL")
    ch = ex.w.ch
    for market in range(ch.market_count):
        if ch.positions_of(account, market).size == 0:
            continue
        _, before = run_list(ex, account, exc.counterparties)
        for a in opposite(ch, account, market):
            reason, after = run_list(ex, account, [*exc.counterparties, a])
            if reason == LIST_TOO_SHORT:  # could pay nothing, or closed: then it was left out
                assert unchanged(after.w.ch, before.w.ch, a), f"{a} was left out"
                continue
            assert reason in REFUSED, f"{a} would be taken after {exc.counterparties} ({reason})"


def book(ex: Exchange, accounts: set[str]) -> dict:
    """What a liquidation can change: `accounts`' storage and the shared books."""
    ch, w = ex.w.ch, ex.w
    return {
        "accounts": {a: (ch.accounts[a].margin, ch.accounts[a].market_mask,
                         {m: astuple(p) for m, p in ch.accounts[a].positions.items()})
                     for a in sorted(accounts) if a in ch.accounts},
        "markets": {m: astuple(s) for m, s in ch.markets.items()},
        "insurance_due": ch.insurance_due,
        "peak": (ch.vault_peak_share_value, ch.vault_peak_time),
        "known": list(ch.known),
        "fund": (w.fund.total_in, w.fund.total_out),
        "tokens": {a: w.token.balance_of(a) for a in (ch.address, w.fund.address)},
    }


# --- the property --------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(ex=crashed_books())
def test_plan__on_random_crashed_books__is_the_queue_the_contract_accepts(ex):
    for _ in range(3):
        targets = [a for a in ex.ch.known if ex.is_liquidatable(a)]
        if not targets:
            break
        for account in targets:
            if not ex.is_liquidatable(account):
                continue
            try:
                plan = plan_liquidation(ex, account, KEEPER)
            except NoPlan as exc:
                event(f"no plan: {exc.reason}")
                assert_none_left(ex, account, exc)
                continue
            event(f"plan: {'ADL' if plan.counterparties else 'no ADL'}, "
                  f"{'partial' if plan.partial else 'full'}")
            assert_queue_order(ex, account, plan)
            scope = set(plan.outcome.w.ch.accounts)
            others = set(ex.ch.accounts) - scope
            untouched = book(ex, others)["accounts"]

            ex.liquidate(KEEPER, account, plan.counterparties)  # the contract path, for real

            assert ex.last_events == plan.outcome.w.events
            assert book(ex, scope) == book(plan.outcome, scope)
            assert book(ex, others)["accounts"] == untouched


# --- no list changes who pays (R9) ----------------------------------------------------------------


def _payers(events) -> list[tuple]:
    """Who paid what: each Deleveraged event's counterparty, market, size and haircut."""
    return [(e[2], e[3], e[4], e[6]) for e in events if e[0] == "Deleveraged"]


@settings(max_examples=150, deadline=None)
@given(ex=crashed_books(), data=st.data())
def test_any_list_the_contract_accepts__makes_the_same_accounts_pay_the_same(ex, data):
    """R9 on random crashed books: lists built from the honest plan by dropping entries and
    adding other opposite-side positions in any order. Whatever the contract path accepts
    makes exactly the plan's counterparties pay exactly the plan's haircuts; dropping a
    position ranked above the last one closed is refused. (With the completeness check
    removed, tests/security/old_code/R9-keeper-skip.patch, a skipping list passes.)"""
    for account in [a for a in ex.ch.known if ex.is_liquidatable(a)]:
        try:
            plan = plan_liquidation(ex, account, KEEPER)
        except NoPlan:
            continue
        if not plan.counterparties:
            continue
        honest = _payers(plan.outcome.w.events)
        side = sorted({a for m in range(ex.ch.market_count) if ex.ch.positions_of(account, m).size
                       for a in opposite(ex.ch, account, m)})
        keep = data.draw(st.lists(st.booleans(), min_size=len(plan.counterparties),
                                  max_size=len(plan.counterparties)), label="keep each planned entry")
        extra = data.draw(st.lists(st.sampled_from(side), max_size=3), label="other positions added")
        cps = [a for a, k in zip(plan.counterparties, keep, strict=True) if k] + extra
        before = len(ex.w.events)
        reason, run = run_list(ex, account, cps)
        event(f"crafted list: {'accepted' if reason is None else reason}")
        if reason is None:
            assert _payers(run.w.events[before:]) == honest, f"{cps} changed who pays"
        return
