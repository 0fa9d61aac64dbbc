"""Oracles: the settable PriceFeed, the Chainlink adapter over MockAggregator, and the
clearinghouse's reads failing closed."""

import ape
import pytest

from perpvault.units import price, size, usdc
from tests.utils import spec
from tests.utils.checks import assert_invariants
from tests.utils.trading import fund_account, set_price, trade

BTC = 0
MAX_AGE, MAX_JUMP = 3_600, 300_000  # the deployment's feed bounds
MAX_PRICE = 10**36
WEEK = 7 * 86_400


def mine_at(chain, timestamp):
    chain.mine(timestamp=timestamp)
    assert chain.blocks.head.timestamp == timestamp


# --- PriceFeed -------------------------------------------------------------------------------------


def test_set_price__by_updater__stores_round_and_logs(system, oracle_updater, chain):
    tx = system.feed.set_price(3, price(17), sender=oracle_updater)
    t = chain.blocks[tx.block_number].timestamp
    assert tuple(system.feed.latest(3)) == (price(17), t)
    ev = tx.events.filter(system.feed.PriceUpdated)[0]
    assert (ev.market, ev.price, ev.updated_at) == (3, price(17), t)
    assert_invariants(system)


def test_set_price__not_updater__reverts(system, owner, stranger):
    for who in (stranger, owner):
        with ape.reverts("feed: not updater"):
            system.feed.set_price(BTC, price(60_001), sender=who)
    assert system.feed.latest(BTC)[0] == price(60_000)
    assert_invariants(system)


def test_set_price__zero__reverts(system, oracle_updater):
    with ape.reverts("feed: zero price"):
        system.feed.set_price(BTC, 0, sender=oracle_updater)
    assert_invariants(system)


def test_set_price__beyond_max_price__reverts(system, oracle_updater):
    with ape.reverts("feed: price too large"):
        system.feed.set_price(5, MAX_PRICE + 1, sender=oracle_updater)
    system.feed.set_price(5, MAX_PRICE, sender=oracle_updater)
    assert system.feed.price(5) == MAX_PRICE
    assert_invariants(system)


@pytest.mark.parametrize("direction", [1, -1])
def test_set_price__jump_beyond_bound__reverts(system, oracle_updater, direction):
    edge = price(60_000) + direction * price(60_000) * MAX_JUMP // 10**6  # exactly 30%
    with ape.reverts("feed: price jump too large"):
        system.feed.set_price(BTC, edge + direction, sender=oracle_updater)
    system.feed.set_price(BTC, edge, sender=oracle_updater)
    assert system.feed.price(BTC) == edge
    assert_invariants(system)


def test_price__never_set__reverts(system):
    with ape.reverts("oracle: no price"):
        system.feed.price(6)


def test_price__stale__reverts_but_latest_still_reads(system, chain, oracle_updater):
    tx = system.feed.set_price(BTC, price(60_001), sender=oracle_updater)
    t = chain.blocks[tx.block_number].timestamp
    mine_at(chain, t + MAX_AGE)
    assert system.feed.price(BTC) == price(60_001)  # exactly max_age old: still fresh
    mine_at(chain, t + MAX_AGE + 1)
    with ape.reverts("oracle: stale price"):
        system.feed.price(BTC)
    assert tuple(system.feed.latest(BTC)) == (price(60_001), t)
    assert_invariants(system)


def test_set_updater__owner_hands_role_over(system, owner, stranger, oracle_updater):
    with ape.reverts("ownable: caller is not the owner"):
        system.feed.set_updater(stranger, sender=stranger)
    with ape.reverts("feed: zero address"):
        system.feed.set_updater("0x0000000000000000000000000000000000000000", sender=owner)
    tx = system.feed.set_updater(stranger, sender=owner)
    assert tx.events.filter(system.feed.UpdaterChanged)[0].updater == stranger.address
    system.feed.set_price(BTC, price(60_002), sender=stranger)
    with ape.reverts("feed: not updater"):
        system.feed.set_price(BTC, price(60_003), sender=oracle_updater)
    assert_invariants(system)


@pytest.mark.parametrize(
    "max_age, max_jump, reason",
    [
        (1, 1, None),
        (WEEK, 999_999, None),
        (0, 1, "feed: max_age out of bounds"),
        (WEEK + 1, 1, "feed: max_age out of bounds"),
        (1, 0, "feed: max_jump out of bounds"),
        (1, 10**6, "feed: max_jump out of bounds"),
    ],
)
def test_set_bounds__edges(system, owner, max_age, max_jump, reason):
    if reason is None:
        tx = system.feed.set_bounds(max_age, max_jump, sender=owner)
        assert (system.feed.max_age(), system.feed.max_jump()) == (max_age, max_jump)
        ev = tx.events.filter(system.feed.BoundsChanged)[0]
        assert (ev.max_age, ev.max_jump) == (max_age, max_jump)
    else:
        with ape.reverts(reason):
            system.feed.set_bounds(max_age, max_jump, sender=owner)
        assert (system.feed.max_age(), system.feed.max_jump()) == (MAX_AGE, MAX_JUMP)
    assert_invariants(system)


def test_set_bounds__not_owner__reverts(system, stranger):
    with ape.reverts("ownable: caller is not the owner"):
        system.feed.set_bounds(60, 1_000, sender=stranger)
    assert_invariants(system)


# --- ChainlinkAdapter --------------------------------------------------------------------------------


@pytest.fixture
def adapter(project, owner):
    return project.ChainlinkAdapter.deploy(MAX_AGE, 100_000, sender=owner)  # 10% jump bound


@pytest.fixture
def aggregator(project, owner):
    return project.MockAggregator.deploy(8, 3_000_12345678, sender=owner)  # 3,000.12345678


@pytest.mark.parametrize("decimals, answer",
                         [(8, 3_000_12345678), (18, 2999 * 10**18 + 29), (6, 3_000_123457), (0, 3_001)])
def test_adapter__scales_answer_to_18_decimals(system, project, owner, adapter, decimals, answer):
    agg = project.MockAggregator.deploy(decimals, answer, sender=owner)
    tx = adapter.set_feed(0, agg, sender=owner)
    assert tx.events.filter(adapter.FeedSet)[0].feed == agg.address
    assert adapter.price(0) == answer * 10 ** (18 - decimals)
    assert_invariants(system)


def test_adapter__too_many_decimals__reverts(system, project, owner, adapter):
    agg = project.MockAggregator.deploy(19, 3_000 * 10**19, sender=owner)
    with ape.reverts("feed: too many decimals"):
        adapter.set_feed(0, agg, sender=owner)
    assert_invariants(system)


def test_adapter__set_feed_guards(system, adapter, aggregator, owner, stranger):
    with ape.reverts("ownable: caller is not the owner"):
        adapter.set_feed(0, aggregator, sender=stranger)
    with ape.reverts("feed: zero address"):
        adapter.set_feed(0, "0x0000000000000000000000000000000000000000", sender=owner)
    with ape.reverts("oracle: no price"):
        adapter.price(0)
    assert_invariants(system)


def test_adapter__stale_answer__reverts(system, adapter, aggregator, owner, chain):
    adapter.set_feed(0, aggregator, sender=owner)
    updated = chain.blocks.head.timestamp
    aggregator.set_answer(3_000_00000000, updated, sender=owner)
    mine_at(chain, updated + MAX_AGE)
    assert adapter.price(0) == 3_000 * 10**18  # exactly max_age old: still fresh
    mine_at(chain, updated + MAX_AGE + 1)
    with ape.reverts("oracle: stale price"):
        adapter.price(0)
    assert tuple(adapter.latest(0)) == (3_000 * 10**18, updated)
    assert_invariants(system)


@pytest.mark.parametrize("answer", [0, -1, -3_000_00000000])
def test_adapter__zero_or_negative_answer__reverts(system, adapter, aggregator, owner, chain, answer):
    adapter.set_feed(0, aggregator, sender=owner)
    aggregator.set_answer(answer, chain.blocks.head.timestamp, sender=owner)
    with ape.reverts("oracle: zero price"):
        adapter.price(0)
    with ape.reverts("oracle: zero price"):
        adapter.latest(0)
    assert_invariants(system)


@pytest.mark.parametrize("direction", [1, -1])
def test_adapter__jump_between_rounds__reverts(system, adapter, aggregator, owner, chain, direction):
    adapter.set_feed(0, aggregator, sender=owner)
    prev = 3_000_12345678
    edge = prev + direction * (prev * 100_000 // 10**6)  # a 10% move, floored: inside the bound
    aggregator.set_answer(edge + direction, chain.blocks.head.timestamp, sender=owner)
    with ape.reverts("oracle: price jump too large"):
        adapter.price(0)
    aggregator.set_answer(prev, chain.blocks.head.timestamp, sender=owner)  # back in line
    aggregator.set_answer(edge, chain.blocks.head.timestamp, sender=owner)
    assert adapter.price(0) == edge * 10**10
    assert_invariants(system)


def test_adapter__constructor_bounds__revert(system, project, owner):
    with ape.reverts("feed: max_age out of bounds"):
        project.ChainlinkAdapter.deploy(0, 100_000, sender=owner)
    with ape.reverts("feed: max_jump out of bounds"):
        project.ChainlinkAdapter.deploy(MAX_AGE, 10**6, sender=owner)
    assert_invariants(system)


def test_adapter__as_market_oracle__prices_fills(system, project, owner, adapter, funded, maker, taker, chain):
    agg = project.MockAggregator.deploy(8, 101_00000000, sender=owner)  # a third market at 101.0
    market = system.clearinghouse.market_count()
    adapter.set_feed(market, agg, sender=owner)
    system.clearinghouse.add_market(adapter, system.markets[0].params(), sender=owner)
    assert system.clearinghouse.mark_price(market) == price(101)
    trade(system, maker, taker, market, size("10"), price(101), chain=chain)
    agg.set_answer(0, chain.blocks.head.timestamp, sender=owner)
    with ape.reverts("oracle: zero price"):
        trade(system, maker, taker, market, size("1"), price(101), chain=chain)
    assert system.clearinghouse.position(taker, market)[0] == size("10")
    assert_invariants(system)


# --- the clearinghouse fails closed ---------------------------------------------------------------------


def test_fill__stale_price__reverts(system, funded, maker, taker, chain):
    updated = system.feed.latest(BTC)[1]
    mine_at(chain, updated + MAX_AGE + 1)
    with ape.reverts("oracle: stale price"):
        trade(system, maker, taker, BTC, size("0.1"), price(60_000), chain=chain)
    with ape.reverts("oracle: stale price"):
        system.clearinghouse.mark_price(BTC)
    assert system.clearinghouse.position(taker, BTC)[0] == 0
    assert_invariants(system)


def test_withdraw__no_positions_during_stale_oracle__succeeds(system, funded, maker, taker, trader, chain):
    trade(system, maker, taker, BTC, size("0.1"), price(60_000), chain=chain)  # others hold positions
    mine_at(chain, system.feed.latest(BTC)[1] + MAX_AGE + 1)
    system.clearinghouse.withdraw(usdc(100_000), sender=trader)
    assert system.usdc.balanceOf(trader) == usdc(100_000)
    assert system.clearinghouse.margin(trader) == 0
    assert_invariants(system)


def test_withdraw__with_position_during_stale_oracle__reverts(system, funded, maker, taker, chain):
    trade(system, maker, taker, BTC, size("0.1"), price(60_000), chain=chain)
    mine_at(chain, system.feed.latest(BTC)[1] + MAX_AGE + 1)
    margin = system.clearinghouse.margin(taker)
    with ape.reverts("oracle: stale price"):
        system.clearinghouse.withdraw(usdc(1), sender=taker)
    assert system.clearinghouse.margin(taker) == margin
    set_price(system, BTC, price(60_000))  # a fresh price lets it through again
    system.clearinghouse.withdraw(usdc(1), sender=taker)
    assert_invariants(system)


def test_deposit__during_stale_oracle__succeeds(system, funded, maker, taker, chain):
    trade(system, maker, taker, BTC, size("0.1"), price(60_000), chain=chain)
    mine_at(chain, system.feed.latest(BTC)[1] + MAX_AGE + 1)
    margin = system.clearinghouse.margin(taker)
    assert margin == usdc(100_000) - spec.fee(size("0.1"), price(60_000), 500)
    fund_account(system, taker, usdc(5))
    assert system.clearinghouse.margin(taker) == margin + usdc(5)
    assert_invariants(system)


def test_withdraw__stale_oracle_of_another_market__succeeds(system, funded, maker, taker, chain):
    # Fail closed per market: only the prices of the account's own markets are read.
    trade(system, maker, taker, BTC, size("0.1"), price(60_000), chain=chain)
    eth_updated = system.feed.latest(1)[1]
    mine_at(chain, eth_updated + MAX_AGE + 1)
    set_price(system, BTC, price(60_000))
    with ape.reverts("oracle: stale price"):
        system.clearinghouse.mark_price(1)
    system.clearinghouse.withdraw(usdc(1_000), sender=taker)
    assert system.usdc.balanceOf(taker) == usdc(1_000)
    assert_invariants(system)
