"""The one diff (perpvault.chain.compare.diff) and the one state read behind it.

A model loaded from a chain mid-way agrees with it; every number the read carries is
compared (a read with that one number off is reported, by name); a stale oracle makes the
views revert on chain and in the model alike, for the same reason, and all three readers
agree on the reverted state.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from perpvault.chain.compare import ModelViews, diff, model_from_chain
from perpvault.chain.invariants import check_invariants
from perpvault.chain.raw import RawDriver, open_raw
from perpvault.chain.state import PAGE, ChainState, read_state_batch
from perpvault.units import USDC, price, size

MARGIN = 100_000 * USDC
BTC, ETH = 0, 1
LP, MAKER, TAKER, TRADER = 3, 4, 5, 6


def _book(d: RawDriver) -> list[str]:
    """An LP in the vault; BTC and ETH fills between three traders; a vault trade."""
    s, a = d.system, [x.address for x in d.accounts]
    for t in (LP, MAKER, TAKER, TRADER):
        d.mint(a[t], 10 * MARGIN)
        d.approve(a[t], s.clearinghouse)
        d.approve(a[t], s.vault)
    for t in (MAKER, TAKER, TRADER):
        d.deposit(a[t], MARGIN)
    d.vault_deposit(a[LP], 5 * MARGIN)
    d.fill(a[MAKER], a[TAKER], BTC, size("0.5"), price(60_100), nonces=(1, 2))
    d.fill(a[TRADER], a[MAKER], ETH, size(3), price(3_010), nonces=(3, 4))
    d.vault_trade(a[TRADER], BTC, size("0.2"), price(61_000))
    return a


@pytest.fixture(scope="module")
def raw_book():
    driver, anvil = open_raw()
    with anvil:
        yield driver, _book(driver)


def test_model_from_chain__mid_way__agrees_with_every_number(raw_book):
    d, _ = raw_book
    state = d.read()
    model = model_from_chain(state, d.view, d.system)
    assert diff(model, state) == []
    assert check_invariants(state) == []
    assert (
        sum(1 for acct in state.known() for p in acct.positions if p.size) == 6
    )  # two fills, a vault trade


def _with_account(state: ChainState, address: str, **changes: object) -> ChainState:
    accounts = dict(state.accounts)
    accounts[address] = replace(accounts[address], **changes)
    return replace(state, accounts=accounts)


def _with_position(state: ChainState, address: str, market: int, **changes: object) -> ChainState:
    positions = list(state.accounts[address].positions)
    positions[market] = replace(positions[market], **changes)
    return _with_account(state, address, positions=tuple(positions))


ONE_OFF = {  # what the read says differently -> the diff line that must name it
    "market_mask": (
        lambda s, a: _with_account(s, a[TAKER], market_mask=s.accounts[a[TAKER]].market_mask ^ 2),
        "market_mask(",
    ),
    "lp shares": (
        lambda s, a: _with_account(s, a[LP], shares=s.accounts[a[LP]].shares + 1),
        "vault shares(",
    ),
    "initial requirement": (
        lambda s, a: _with_account(
            s,
            a[MAKER],
            health=replace(
                s.accounts[a[MAKER]].health, initial=s.accounts[a[MAKER]].health.initial + 1
            ),
        ),
        "health(",
    ),
    "maintenance requirement": (
        lambda s, a: _with_account(
            s,
            a[MAKER],
            health=replace(
                s.accounts[a[MAKER]].health, maintenance=s.accounts[a[MAKER]].health.maintenance - 1
            ),
        ),
        "health(",
    ),
    "adl score": (
        lambda s, a: _with_position(
            s, a[TAKER], BTC, adl_score=s.accounts[a[TAKER]].positions[BTC].adl_score + 1
        ),
        "adl_score(",
    ),
    "entry price": (lambda s, a: _with_position(s, a[TAKER], BTC, entry_price=1), "entry price("),
    "vault peak share value": (
        lambda s, a: replace(s, vault_peak_share_value=s.vault_peak_share_value + 1),
        "vault_peak_share_value",
    ),
    "vault peak time": (
        lambda s, a: replace(s, vault_peak_time=s.vault_peak_time + 1),
        "vault_peak_time",
    ),
    "paused": (lambda s, a: replace(s, paused=not s.paused), "paused"),
    "vault totalSupply": (
        lambda s, a: replace(s, vault_total_supply=s.vault_total_supply + 1),
        "vault totalSupply",
    ),
    "funding index now": (
        lambda s, a: replace(
            s, markets=(replace(s.markets[0], funding_index_now=7), *s.markets[1:])
        ),
        "funding_index(0)",
    ),
    "vault balance": (lambda s, a: replace(s, vault_balance=s.vault_balance + 1), "vault balance"),
}


@pytest.mark.parametrize("what", sorted(ONE_OFF))
def test_diff__read_with_one_number_off__names_it(raw_book, what):
    d, a = raw_book
    state = d.read()
    model = model_from_chain(state, d.view, d.system)
    change, named = ONE_OFF[what]
    lines = diff(model, change(state, a))
    assert len(lines) == 1 and named in lines[0], lines


def test_stale_oracle__views_revert_alike_on_chain_and_in_the_model(raw_book):
    """An hour and more without a price: every view that needs a fresh price reverts; the three
    readers agree on it, and the model reverts the same way, for the same reason."""
    d, a = raw_book
    snap = d.snapshot()
    try:
        d.advance_time(3_700)
        d.rpc.mine()
        state = d.read()
        taker = state.accounts[a[TAKER]]
        assert taker.health is None and taker.revert_reason == "oracle: stale price"
        assert taker.positions[BTC].adl_score is None and taker.positions[BTC].entry_price != 0
        # The funding index needs no fresh price (it values the seconds at the prices the oracle
        # wrote, mechanism.md section 5): its view still answers, and the model's the same.
        assert all(m.funding_index_now is not None for m in state.markets)
        assert state.vault_total_assets is None
        assert state == d.reader.read_slow()
        assert (
            read_state_batch(d.system, extra=[x.address for x in d.accounts]).book() == state.book()
        )
        model = model_from_chain(state, d.view, d.system)
        views = ModelViews.of(model, a)
        assert views.of_account(model, a[TAKER].lower()) is None
        assert diff(model, state, views) == []
        wrong = _with_account(state, a[TAKER], revert_reason="oracle: no price")
        assert [line.split(":")[0] for line in diff(model, wrong, views)] == [
            f"MODEL health({a[TAKER].lower()}) reverts"
        ]
    finally:
        d.revert(snap)


def test_state_reader__more_accounts_than_a_page__reads_them_all_at_one_block():
    """StateReader.vy reads 32 accounts a call: beyond that the reader sends the further pages
    in one batch, and the whole read still equals the view-by-view batch read."""
    d, anvil = open_raw()
    with anvil:
        s, a = d.system, [x.address for x in d.accounts]
        d.rpc.call("anvil_autoImpersonateAccount", [True])
        d.mint(a[LP], 10 * MARGIN)
        d.approve(a[LP], s.vault)
        d.vault_deposit(a[LP], 5 * MARGIN)
        many = [f"0x{0x5EED0000 + i:040x}" for i in range(PAGE + 8)]
        for who in many:
            d.mint(who, MARGIN)
            d.approve(who, s.clearinghouse)
            d.deposit(who, MARGIN // 2)
        for who in many[-3:]:  # open positions on the second page
            d.vault_trade(who, ETH, size(1), price(3_100))
        state = d.read()
        assert len(state.known()) == len(many) + 1  # and the vault
        assert state == d.reader.read_slow()
        assert read_state_batch(s, extra=a).book() == state.book()
        assert diff(model_from_chain(state, d.view, s), state) == []


def test_model_from_chain__pending_change__loaded_with_its_stricter_imr(raw_book):
    """An announced change is state too: the loaded model holds it (the same eta, the same
    pending values), so its margin requirements are the chain's, stricter imr included."""
    d, a = raw_book
    s = d.system
    snap = d.snapshot()
    try:
        params = list(d.view("Clearinghouse", "params", BTC))
        params[0] = 300_000  # imr 30%, from 10%
        d.send(s.owner, s.clearinghouse, s.abis["Clearinghouse"].fn("announce_market_params").encode(BTC, params))
        state = d.read()
        model = model_from_chain(state, d.view, d.system)
        assert model.w.ch.pending_params_eta[BTC] == d.view("Clearinghouse", "pending_params_eta", BTC) != 0
        taker = a[TAKER]
        assert state.accounts[taker].health.initial == model.w.ch._health(taker.lower()).initial
        assert diff(model, state) == []
        model.w.ch.pending_params.pop(BTC)  # without the pending change: the old imr
        assert state.accounts[taker].health.initial > model.w.ch._health(taker.lower()).initial
    finally:
        d.revert(snap)


def test_model_from_chain__oracle_wiring__loaded_with_what_is_pending(raw_book):
    """The feed's updater, its delay and its announced changes are loaded too: the model then
    refuses and applies the same timelocked changes as the chain."""
    d, a = raw_book
    s = d.system
    feed = s.abis["PriceFeed"]
    snap = d.snapshot()
    try:
        d.send(s.owner, s.feed, feed.fn("announce_updater").encode(a[TRADER]))
        d.send(s.owner, s.feed, feed.fn("announce_bounds").encode(7_200, 200_000))
        d.send(s.owner, s.feed, feed.fn("announce_delay").encode(2 * 86_400))
        model = model_from_chain(d.read(), d.view, d.system).w.feed
        assert (model.pending_updater, model.pending_updater_eta) == (
            a[TRADER].lower(), d.view("PriceFeed", "pending_updater_eta"))
        assert (model.pending_max_age, model.pending_max_jump, model.pending_bounds_eta) == (
            7_200, 200_000, d.view("PriceFeed", "pending_bounds_eta"))
        assert (model.timelock.delay, model.timelock.pending_delay, model.timelock.pending_delay_eta) == (
            86_400, 2 * 86_400, d.view("PriceFeed", "pending_delay_eta"))
        assert model.updater == s.oracle_updater.lower()
    finally:
        d.revert(snap)
