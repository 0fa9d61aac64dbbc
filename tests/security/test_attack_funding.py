"""Funding attacks: a price first seen after an interval must not price it (R8, SPEC section 5 F2),
and one expensive fill must not set funding until the next (F3).

**R8, retroactive funding (the review's scenario).** A trader holds 10 BTC long at 60,000; eight
hours pass in which nothing happens (the updater re-posts 60,000 every hour, so the price stays
fresh); then the oracle moves +5% to 63,000 (any move of 0.8% or more put the old rate at its
cap). The traded-price EMA design priced every elapsed second at the premium and the oracle price
seen at the *next accrual*: the same eight hours cost nothing if anyone poked the account
(settle_funding) before the update, and the cap for the whole interval if the first poke came
after it, so the equity view and the vault's totalAssets() jumped at the update by more than the
position's PnL. With funding from the vault's skew, the rate is fixed at the interval's start and
each second is valued at the oracle price in force during it, so both pokes settle the same
funding to the atom and the views move at the update by the PnL alone.

On the code before the fix (``git apply tests/security/old_code/R8-retroactive-funding.patch``
puts back the EMA premium funding of commit 5798353, its EMA stored in ``funding_price`` and its
weight in ``skew_scale``, default 200_000 = 20%; contract and model; ``rm -rf .build`` after)
every test here fails. What the old code gave, on chain and on the model alike (USDC):

* against a trader (the EMA on the oracle): poked before the update, 0; poked after it, the long
  +5,039.999999 and the short -5,040; the long's equity view jumps by +35,039.999999 at the update
  for +30,000 of PnL;
* against the vault (its fill at the 10-bp spread put the EMA 2 bp over the oracle): poked before,
  the long -120 and the vault +119.999999; poked after, the long +5,039.999999 and the vault
  -5,040; the long's equity view jumps by +35,159.999999 and the vault's totalAssets() by
  -35,159.999999 for -30,000 of PnL.

(5,040 is the cap, 0.1% an hour, for 8 hours on the 630,000 of notional at the new price.) Today:
0 both ways against a trader; against the vault the long pays 480 and the vault receives
479.999999 both ways (10 BTC of a 100-BTC skew scale: a tenth of the cap for 8 hours on 600,000),
and the views move by the 30,000 of PnL alone. On the old code the F3 push puts the index at
2.67e23 instead of 2.51e23 one second after it.

**F3, no decay needed.** No traded price is kept, so a fill at the top of the band (a "push")
followed by no fills leaves the index exactly as without the push, at every later time. On the
old code the push moved the EMA 1% above the oracle and funding sat at its cap until the next fill.
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpvault.chain.deploy import DEFAULT_MARKETS
from perpvault.model import Order, Revert
from perpvault.units import PPM, size, usdc
from tests.security.model_world import KEEPER, UPDATER, A, B, C, exchange
from tests.utils import spec
from tests.utils.trading import fund_account, signed, trade

BTC = 0
P0 = DEFAULT_MARKETS[BTC].initial_price  # 60,000
P1 = P0 * 105 // 100  # 63,000: the update after the quiet hours
Q = size(10)
HOURS = 8
BAND = DEFAULT_MARKETS[BTC].price_band
CAP = DEFAULT_MARKETS[BTC].max_funding_rate
SKEW_SCALE = DEFAULT_MARKETS[BTC].skew_scale
COUNTERPARTIES = ["trader", "vault"]


@pytest.fixture
def funding_accounts(system, owner, lp, maker, taker, trader):
    """The default deployment (funding on): the LP's 1M in the vault; maker, taker and trader
    with 200k of margin each."""
    system.usdc.mint(lp, usdc(1_000_000), sender=owner)
    system.usdc.approve(system.vault, 2**256 - 1, sender=lp)
    system.vault.deposit(usdc(1_000_000), lp, sender=lp)
    for account in (maker, taker, trader):
        fund_account(system, account, usdc(200_000))
    return system


def _spec_index(vault_size: int, t0: int, now: int, oracle: int, updated: int) -> int:
    """The index at `now` per the spec, from 0 at `t0` (the price then P0), the oracle's latest
    price `oracle` posted at `updated`."""
    return spec.FundingMarket(0, t0, P0, vault_size, SKEW_SCALE, CAP).index_at(now, oracle, updated)


def _both_ways(chain, world):
    """`world(True, start)`, the chain rolled back, then `world(False, start)`: two histories from
    the same block, each starting its clock at `start`. Returns both worlds' records."""
    start = chain.pending_timestamp
    snapshot = chain.snapshot()
    try:
        first = world(True, start)
    finally:
        chain.restore(snapshot)
    return first, world(False, start)


# --- R8 on chain --------------------------------------------------------------------------------


def _r8_world(s, chain, taker, other, keeper, counterparty: str, poke_first: bool, start: int) -> dict:
    """Opens the 10 BTC long against `counterparty`, lets 8 quiet hours pass, then at one second
    T pokes both sides and posts 63,000 in the given order, reading the views just before and
    just after the update. Only records: the caller asserts (the world is rolled back)."""
    ch, feed, updater = s.clearinghouse, s.feed, s.oracle_updater
    chain.pending_timestamp = start
    feed.set_price(BTC, P0, sender=updater)  # fresh, whatever the clock did since the deployment
    chain.pending_timestamp = start + 1
    if counterparty == "vault":
        tx = s.vault.trade(BTC, Q, 2**256 - 1, sender=taker)
        other = s.vault
    else:
        tx = trade(s, other, taker, BTC, Q, P0, chain=chain)
    t0 = chain.blocks[tx.block_number].timestamp
    for hour in range(1, HOURS):
        chain.pending_timestamp = t0 + hour * 3_600
        feed.set_price(BTC, P0, sender=updater)
    t = t0 + HOURS * 3_600
    last_refresh = t0 + (HOURS - 1) * 3_600
    chain.mine(timestamp=t)
    out: dict = {"t0": t0, "t": t, "times": [], "credits": {}}

    def at_t(receipt) -> None:
        out["times"].append(chain.blocks[receipt.block_number].timestamp)

    def poke() -> None:
        for account in (taker, other):
            chain.pending_timestamp = t
            receipt = ch.settle_funding(account, sender=keeper)
            at_t(receipt)
            out["credits"][account.address] = sum(e.amount for e in receipt.events.filter(ch.FundingSettled))

    def views() -> tuple[int, int, int]:
        return ch.equity(taker), s.vault.totalAssets(), ch.funding_index(BTC)

    if poke_first:
        poke()
        out["oracle_at_poke"] = (P0, last_refresh)
    out["before"] = views()
    chain.pending_timestamp = t
    at_t(feed.set_price(BTC, P1, sender=updater))
    out["after"] = views()
    if not poke_first:
        poke()
        out["oracle_at_poke"] = (P1, t)
    return out


@pytest.mark.parametrize("counterparty", COUNTERPARTIES)
def test_r8__poked_before_or_after_an_oracle_update__the_same_funding_to_the_atom(
    funding_accounts, chain, taker, maker, keeper, counterparty
):
    s = funding_accounts
    first, then = _both_ways(chain, lambda poke_first, start: _r8_world(
        s, chain, taker, maker, keeper, counterparty, poke_first, start))

    other = s.vault.address if counterparty == "vault" else maker.address
    vault_size = -Q if counterparty == "vault" else 0
    for world in (first, then):
        assert set(world["times"]) == {world["t"]}  # every poke and the update in the same second
        assert world["t"] - world["t0"] == HOURS * 3_600
        index = _spec_index(vault_size, world["t0"], world["t"], *world["oracle_at_poke"])
        assert world["credits"] == {taker.address: spec.funding_credit(Q, index), other: spec.funding_credit(-Q, index)}
    # The same funding to the atom, whoever poked first.
    assert first["credits"] == then["credits"]
    if counterparty == "vault":
        assert first["credits"][taker.address] < 0  # the vault is short: the long pays
    else:
        assert first["credits"] == {taker.address: 0, other: 0}  # the vault is flat: no funding
    # The views move at the update by the position's PnL alone: the index view not at all.
    taker_pnl = spec.value(Q, P1) - spec.value(Q, P0)
    vault_pnl = spec.value(vault_size, P1) - spec.value(vault_size, P0)
    for world in (first, then):
        (equity0, assets0, index0), (equity1, assets1, index1) = world["before"], world["after"]
        assert equity1 - equity0 == taker_pnl
        assert assets1 - assets0 == vault_pnl
        assert index1 == index0


# --- R8 on the model ------------------------------------------------------------------------------


def _model_open(q: int, counterparty: str, *, gaps: list[int]):
    """A holds `q` against B or the vault; the oracle is re-posted at P0 after each of `gaps`
    (seconds, each at most the oracle's max age). Returns the exchange at the last re-post's time
    plus `gaps[-1]` and the time the position opened."""
    ex = exchange(funding=True)
    if counterparty == "vault":
        ex.vault_trade(A, BTC, q, 2**256 - 1 if q > 0 else 0)
    else:
        ex.match_orders(A, Order(B, BTC, -q, P0, 1, 2**40), Order(A, BTC, q, P0, 1, 2**40), abs(q))
    t0 = ex.now
    for gap in gaps[:-1]:
        ex.advance(gap)
        ex.set_price(UPDATER, BTC, P0)
    ex.advance(gaps[-1])
    return ex, t0


def _model_world(ex, other: str, new_price: int, *, poke_first: bool) -> dict:
    out: dict = {}

    def poke() -> None:
        for account in (A, other):
            before = ex.margin(account)
            ex.settle_funding(KEEPER, account)
            out[account] = ex.margin(account) - before

    def views() -> tuple[int, int, int]:
        return ex.equity(A), ex.total_assets(), ex.funding_index(BTC)

    if poke_first:
        poke()
    out["before"] = views()
    ex.set_price(UPDATER, BTC, new_price)
    out["after"] = views()
    if not poke_first:
        poke()
    return out


def _model_r8(q: int, counterparty: str, gaps: list[int], move_ppm: int) -> None:
    ex, t0 = _model_open(q, counterparty, gaps=gaps)
    other = ex.w.vault.address if counterparty == "vault" else B
    vault_size = -q if counterparty == "vault" else 0
    new_price = P0 * (PPM + move_ppm) // PPM
    last_post = ex.w.feed.latest(BTC)[1]
    first = _model_world(copy.deepcopy(ex), other, new_price, poke_first=True)
    then = _model_world(ex, other, new_price, poke_first=False)
    for world, latest in ((first, (P0, last_post)), (then, (new_price, ex.now))):
        index = _spec_index(vault_size, t0, ex.now, *latest)
        assert (world[A], world[other]) == (spec.funding_credit(q, index), spec.funding_credit(-q, index))
    assert (first[A], first[other]) == (then[A], then[other])
    for world in (first, then):
        (equity0, assets0, index0), (equity1, assets1, index1) = world["before"], world["after"]
        assert equity1 - equity0 == spec.value(q, new_price) - spec.value(q, P0)
        assert assets1 - assets0 == spec.value(vault_size, new_price) - spec.value(vault_size, P0)
        assert index1 == index0


@pytest.mark.parametrize("counterparty", COUNTERPARTIES)
def test_r8__the_review_scenario__the_same_funding_either_way__model(counterparty):
    _model_r8(Q, counterparty, [3_600] * HOURS, 50_000)


@settings(max_examples=200, deadline=None)
@given(
    q=st.integers(size("0.001"), size(30)),
    short=st.booleans(),
    counterparty=st.sampled_from(COUNTERPARTIES),
    gaps=st.lists(st.integers(1, 3_600), min_size=1, max_size=10),
    move_ppm=st.integers(-300_000, 300_000),
)
def test_r8__any_position_any_quiet_time_any_update__poke_order_changes_nothing__model(
    q, short, counterparty, gaps, move_ppm
):
    _model_r8(-q if short else q, counterparty, gaps, move_ppm)


# --- F3 on chain ------------------------------------------------------------------------------------

F3_SIZE = 3141592653589793239  # the vault is short about 3.14 BTC (any last digit)
PUSH = size("0.5")
LATER = (1, 1_799, 3_000, 4_001, 7_207)  # seconds after the push; the oracle is re-posted hourly


def _f3_world(s, chain, taker, maker, trader, keeper, push: bool, start: int) -> dict:
    """The vault short F3_SIZE; 601 s later the maker buys PUSH from the trader at the top of the
    band (or nobody does anything); then the index and the long's equity at every later time
    (the price stays 60,000: a round price, so splitting an interval floors nothing), and what
    the long and the vault settle at the end."""
    ch, feed, updater = s.clearinghouse, s.feed, s.oracle_updater
    chain.pending_timestamp = start
    feed.set_price(BTC, P0, sender=updater)  # fresh, whatever the clock did since the deployment
    chain.pending_timestamp = start + 1
    tx = s.vault.trade(BTC, F3_SIZE, 2**256 - 1, sender=taker)
    t0 = chain.blocks[tx.block_number].timestamp
    tp = t0 + 601
    top = P0 * (PPM + BAND) // PPM
    out: dict = {"index": [], "equity": [], "pushed_at": None}
    if push:
        chain.pending_timestamp = tp
        mo, ms = signed(s, trader, BTC, -PUSH, top, chain=chain)
        to, ts = signed(s, maker, BTC, PUSH, top, chain=chain)
        receipt = s.order_book.match_orders(mo, ms, to, ts, PUSH, sender=maker)
        out["pushed_at"] = chain.blocks[receipt.block_number].timestamp
    refreshed = t0
    for later in LATER:
        while tp + later - refreshed > 3_600:
            refreshed += 3_600
            chain.pending_timestamp = refreshed
            feed.set_price(BTC, P0, sender=updater)
        chain.mine(timestamp=tp + later)
        out["index"].append(ch.funding_index(BTC))
        out["equity"].append(ch.equity(taker))
    out["settled"] = []
    for account in (taker, s.vault):
        chain.pending_timestamp = tp + LATER[-1] + 1
        receipt = ch.settle_funding(account, sender=keeper)
        out["settled"].append([(e.account, e.amount) for e in receipt.events.filter(ch.FundingSettled)])
    out["tp"] = tp
    return out


def test_f3__a_push_at_the_top_of_the_band_then_no_fills__funding_exactly_as_without_it(
    funding_accounts, chain, taker, maker, trader, keeper
):
    s = funding_accounts
    pushed, quiet = _both_ways(chain, lambda push, start: _f3_world(
        s, chain, taker, maker, trader, keeper, push, start))
    assert pushed["pushed_at"] == pushed["tp"]
    assert pushed["tp"] == quiet["tp"]  # the same timeline
    assert pushed["index"] == quiet["index"]
    assert pushed["equity"] == quiet["equity"]
    assert pushed["settled"] == quiet["settled"]
    assert quiet["index"][-1] > 0  # the vault is short: the index moves, at the same pace in both


# --- F3 on the model: any fill prices between traders change nothing of the index ---------------

steps = st.lists(
    st.tuples(
        st.integers(0, 3_600),  # seconds before the oracle posts
        st.integers(-20_000, 20_000),  # its move, ppm (0: a re-post)
        st.integers(1, 3_600),  # seconds after it, before the fill
        st.integers(size("0.001"), size(5)),  # the fill's size (the taker buys)
        st.integers(-BAND, BAND),  # the fill's price against the oracle, ppm
        st.booleans(),  # B or C takes
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=100, deadline=None)
@given(vault_size=st.integers(size("0.01"), size(100)), vault_short=st.booleans(), plan=steps,
       later=st.lists(st.integers(1, 3_600), min_size=1, max_size=4))
def test_f3__fills_between_traders_at_any_price__change_nothing_of_the_index__model(
    vault_size, vault_short, plan, later
):
    """Three worlds on one timeline: fills between traders at the drawn prices, the same fills at
    the oracle, and no fills (a keeper pokes the vault at the same seconds, so every world
    accrues at the same times). The index is the same in all three after every step and at
    every later time."""
    base = exchange(funding=True, min_notional=0,
                    margins={A: usdc(1_000_000), B: usdc(1_000_000), C: usdc(1_000_000)})
    q = vault_size if vault_short else -vault_size  # A's trade: the vault takes the other side
    base.vault_trade(A, BTC, q, 2**256 - 1 if q > 0 else 0)
    priced, at_oracle, pokes = base, copy.deepcopy(base), copy.deepcopy(base)
    worlds = (priced, at_oracle, pokes)
    vault = base.w.vault.address

    def same_index() -> None:
        assert len({ex.funding_index(BTC) for ex in worlds}) == 1
        assert len({ex.ch.markets[BTC].funding_index for ex in worlds}) == 1

    for nonce, (before, move, after, fill_size, offset, b_takes) in enumerate(plan, start=1):
        for ex in worlds:
            ex.advance(before)
            ex.set_price(UPDATER, BTC, ex.w.feed.latest(BTC)[0] * (PPM + move) // PPM)
            ex.advance(after)
        oracle = priced.ch.mark_price(BTC)
        taker, maker = (B, C) if b_takes else (C, B)
        for ex, price in ((priced, oracle * (PPM + offset) // PPM), (at_oracle, oracle)):
            try:
                ex.match_orders(taker, Order(maker, BTC, -fill_size, price, nonce, 2**40),
                                Order(taker, BTC, fill_size, price, nonce, 2**40), fill_size)
            except Revert:
                ex.settle_funding(KEEPER, vault)  # refused: it still accrues at this second
        pokes.settle_funding(KEEPER, vault)
        same_index()
    for seconds in later:  # no more fills: nothing decays, nothing to decay
        for ex in worlds:
            ex.advance(seconds)
        same_index()
    paid = []  # A, untouched since its trade, settles the same in every world
    for ex in worlds:
        ex.set_price(UPDATER, BTC, ex.w.feed.latest(BTC)[0])  # fresh again
        before = ex.margin(A)
        ex.settle_funding(KEEPER, A)
        paid.append(ex.margin(A) - before)
    assert len(set(paid)) == 1
