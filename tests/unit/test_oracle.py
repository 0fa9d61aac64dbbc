"""Oracles: the settable PriceFeed, the Chainlink adapter over MockAggregator, and the
clearinghouse's reads failing closed."""

import ape
import pytest

from perpvault.model.constants import GRACE_PERIOD, MAX_DELAY, MIN_DELAY
from perpvault.params import TIMELOCK_DELAY as DELAY
from perpvault.units import price, size, usdc
from tests.utils import spec
from tests.utils.checks import assert_invariants
from tests.utils.trading import change_oracle, fund_account, set_price, trade

BTC = 0
MAX_AGE, MAX_JUMP = 3_600, 300_000  # the deployment's feed bounds
ZERO = "0x" + "00" * 20
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


# --- PriceFeed: the owner's changes wait out the timelock -------------------------------------------


def test_change_updater__applies_only_after_the_delay(system, owner, stranger, oracle_updater, chain, block_time):
    tx = system.feed.announce_updater(stranger, sender=owner)
    eta = block_time(tx) + DELAY
    ev = tx.events.filter(system.feed.UpdaterAnnounced)[0]
    assert (ev.updater, ev.eta) == (stranger.address, eta)
    assert (system.feed.pending_updater(), system.feed.pending_updater_eta()) == (stranger.address, eta)
    # Announced, not in force: the old updater still writes, the new one cannot.
    assert system.feed.updater() == oracle_updater.address
    with ape.reverts("feed: not updater"):
        system.feed.set_price(BTC, price(60_002), sender=stranger)
    system.feed.set_price(BTC, price(60_002), sender=oracle_updater)
    chain.pending_timestamp = eta - 1
    with ape.reverts("timelock: too early"):
        system.feed.apply_updater(sender=owner)
    chain.pending_timestamp = eta
    tx = system.feed.apply_updater(sender=owner)
    assert tx.events.filter(system.feed.UpdaterChanged)[0].updater == stranger.address
    assert (system.feed.updater(), system.feed.pending_updater_eta()) == (stranger.address, 0)
    system.feed.set_price(BTC, price(60_003), sender=stranger)
    with ape.reverts("feed: not updater"):
        system.feed.set_price(BTC, price(60_004), sender=oracle_updater)
    assert_invariants(system)


def test_change_updater__zero_address__refused_at_announce(system, owner):
    with ape.reverts("feed: zero address"):
        system.feed.announce_updater(ZERO, sender=owner)
    assert system.feed.pending_updater_eta() == 0


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
def test_announce_bounds__edges_checked_at_announce(system, owner, chain, block_time, max_age, max_jump, reason):
    if reason is not None:
        with ape.reverts(reason):
            system.feed.announce_bounds(max_age, max_jump, sender=owner)
        assert system.feed.pending_bounds_eta() == 0
        return
    tx = system.feed.announce_bounds(max_age, max_jump, sender=owner)
    eta = block_time(tx) + DELAY
    ev = tx.events.filter(system.feed.BoundsAnnounced)[0]
    assert (ev.max_age, ev.max_jump, ev.eta) == (max_age, max_jump, eta)
    pending = (system.feed.pending_max_age(), system.feed.pending_max_jump(), system.feed.pending_bounds_eta())
    assert pending == (max_age, max_jump, eta)
    assert (system.feed.max_age(), system.feed.max_jump()) == (MAX_AGE, MAX_JUMP)  # nothing in force yet
    chain.pending_timestamp = eta
    tx = system.feed.apply_bounds(sender=owner)
    ev = tx.events.filter(system.feed.BoundsChanged)[0]
    assert (ev.max_age, ev.max_jump) == (max_age, max_jump)
    assert (system.feed.max_age(), system.feed.max_jump()) == (max_age, max_jump)
    assert system.feed.pending_bounds_eta() == 0
    assert_invariants(system)


def test_announced_bounds__change_nothing_until_applied(system, owner, oracle_updater):
    """A wider jump bound announced is not a wider jump bound: a 90% move still reverts."""
    system.feed.announce_bounds(MAX_AGE, 999_999, sender=owner)
    with ape.reverts("feed: price jump too large"):
        system.feed.set_price(BTC, price(6_000), sender=oracle_updater)
    with ape.reverts("timelock: too early"):
        system.feed.apply_bounds(sender=owner)
    assert system.feed.latest(BTC)[0] == price(60_000)


@pytest.mark.parametrize("change", ["updater", "bounds"])
def test_apply__after_the_grace_period__expired(system, owner, stranger, chain, block_time, change):
    announce = {"updater": lambda: system.feed.announce_updater(stranger, sender=owner),
                "bounds": lambda: system.feed.announce_bounds(60, 1_000, sender=owner)}[change]
    apply = getattr(system.feed, f"apply_{change}")
    eta = block_time(announce()) + DELAY
    chain.pending_timestamp = eta + GRACE_PERIOD + 1
    with ape.reverts("timelock: expired"):
        apply(sender=owner)
    chain.pending_timestamp = eta + GRACE_PERIOD + 2
    announce()  # announcing again restarts the clock
    with ape.reverts("timelock: too early"):
        apply(sender=owner)
    assert (system.feed.max_age(), system.feed.updater()) == (MAX_AGE, system.oracle_updater.address)


def test_apply__exactly_at_the_end_of_the_grace_period__applies(system, owner, chain, block_time):
    eta = block_time(system.feed.announce_bounds(60, 1_000, sender=owner)) + DELAY
    chain.pending_timestamp = eta + GRACE_PERIOD
    system.feed.apply_bounds(sender=owner)
    assert system.feed.max_age() == 60


@pytest.mark.parametrize("change", ["updater", "bounds"])
def test_cancel__withdraws_the_announced_change(system, owner, stranger, chain, change):
    announce = {"updater": lambda: system.feed.announce_updater(stranger, sender=owner),
                "bounds": lambda: system.feed.announce_bounds(60, 1_000, sender=owner)}[change]
    cancel, apply = getattr(system.feed, f"cancel_{change}"), getattr(system.feed, f"apply_{change}")
    with ape.reverts("timelock: nothing announced"):
        cancel(sender=owner)
    with ape.reverts("timelock: nothing announced"):
        apply(sender=owner)
    announce()
    tx = cancel(sender=owner)
    event = {"updater": system.feed.UpdaterCancelled, "bounds": system.feed.BoundsCancelled}[change]
    assert len(tx.events.filter(event)) == 1
    chain.pending_timestamp += DELAY
    with ape.reverts("timelock: nothing announced"):
        apply(sender=owner)
    assert (system.feed.pending_updater(), system.feed.pending_bounds_eta()) == (ZERO, 0)
    assert (system.feed.max_age(), system.feed.updater()) == (MAX_AGE, system.oracle_updater.address)


OWNER_ONLY_FEED = [
    ("announce_updater", lambda r: (r.address,)),
    ("apply_updater", lambda r: ()),
    ("cancel_updater", lambda r: ()),
    ("announce_bounds", lambda r: (60, 1_000)),
    ("apply_bounds", lambda r: ()),
    ("cancel_bounds", lambda r: ()),
    ("announce_delay", lambda r: (2 * DELAY,)),
    ("apply_delay", lambda r: ()),
    ("cancel_delay", lambda r: ()),
]


@pytest.mark.parametrize("fn, args", OWNER_ONLY_FEED, ids=[f for f, _ in OWNER_ONLY_FEED])
def test_feed_timelock__not_owner__reverts(system, stranger, oracle_updater, fn, args):
    for who in (stranger, oracle_updater):
        with ape.reverts("ownable: caller is not the owner"):
            getattr(system.feed, fn)(*args(who), sender=who)


@pytest.mark.parametrize("delay, reason", [(MIN_DELAY, None), (MAX_DELAY, None),
                                           (MIN_DELAY - 1, "timelock: delay out of bounds"),
                                           (MAX_DELAY + 1, "timelock: delay out of bounds")])
def test_delay__bounded_at_deploy_and_at_announce(system, project, owner, oracle_updater, delay, reason):
    if reason is None:
        assert project.PriceFeed.deploy(oracle_updater, MAX_AGE, MAX_JUMP, delay, sender=owner).delay() == delay
        assert project.ChainlinkAdapter.deploy(MAX_AGE, MAX_JUMP, delay, sender=owner).delay() == delay
        system.feed.announce_delay(delay, sender=owner)
        assert system.feed.pending_delay() == delay
        return
    with ape.reverts(reason):
        project.PriceFeed.deploy(oracle_updater, MAX_AGE, MAX_JUMP, delay, sender=owner)
    with ape.reverts(reason):
        project.ChainlinkAdapter.deploy(MAX_AGE, MAX_JUMP, delay, sender=owner)
    with ape.reverts(reason):
        system.feed.announce_delay(delay, sender=owner)


def test_delay__changes_through_its_own_timelock(system, owner, stranger, chain, block_time):
    """A longer delay waits out the old one, then every later announce waits the new one."""
    eta = block_time(system.feed.announce_delay(3 * DELAY, sender=owner)) + DELAY
    assert system.feed.delay() == DELAY
    chain.pending_timestamp = eta - 1
    with ape.reverts("timelock: too early"):
        system.feed.apply_delay(sender=owner)
    chain.pending_timestamp = eta
    system.feed.apply_delay(sender=owner)
    assert (system.feed.delay(), system.feed.pending_delay_eta()) == (3 * DELAY, 0)
    tx = system.feed.announce_updater(stranger, sender=owner)
    assert system.feed.pending_updater_eta() == block_time(tx) + 3 * DELAY
    system.feed.announce_delay(MIN_DELAY, sender=owner)
    system.feed.cancel_delay(sender=owner)
    assert (system.feed.delay(), system.feed.pending_delay_eta()) == (3 * DELAY, 0)


def test_change_oracle__the_one_helper_warps_refreshes_and_applies(deploy_system, stranger, chain):
    """`change_oracle` is how tests, the fuzzer and the scenarios change the oracle: the prices
    it re-posts after the wait are the ones before it, so only the wiring changes."""
    system = deploy_system()  # its own System: change_oracle re-points system.oracle_updater
    before = [system.feed.latest(m)[0] for m in range(2)]
    change_oracle(system, chain=chain, updater=stranger, bounds=(7_200, 200_000))
    assert (system.feed.updater(), system.feed.max_age(), system.feed.max_jump()) == (stranger.address, 7_200,
                                                                                       200_000)
    assert system.oracle_updater == stranger
    assert [system.feed.price(m) for m in range(2)] == before
    set_price(system, BTC, price(60_001))  # by the new updater
    assert_invariants(system)


# --- ChainlinkAdapter --------------------------------------------------------------------------------


@pytest.fixture
def adapter(project, owner):
    return project.ChainlinkAdapter.deploy(MAX_AGE, 100_000, DELAY, sender=owner)  # 10% jump bound


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
        project.ChainlinkAdapter.deploy(0, 100_000, DELAY, sender=owner)
    with ape.reverts("feed: max_jump out of bounds"):
        project.ChainlinkAdapter.deploy(MAX_AGE, 10**6, DELAY, sender=owner)
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


# --- ChainlinkAdapter: a market's feed is set once, then changes through the timelock --------------


def test_adapter__set_feed_a_second_time__reverts(system, project, adapter, aggregator, owner):
    adapter.set_feed(0, aggregator, sender=owner)
    other = project.MockAggregator.deploy(8, 3_000_00000000, sender=owner)
    with ape.reverts("feed: already set"):
        adapter.set_feed(0, other, sender=owner)
    assert adapter.feeds(0) == aggregator.address
    adapter.set_feed(1, other, sender=owner)  # another market's first feed: at once
    assert_invariants(system)


def test_adapter__change_feed__serves_the_old_feed_until_applied(project, adapter, aggregator, owner, chain,
                                                                   block_time):
    adapter.set_feed(0, aggregator, sender=owner)
    other = project.MockAggregator.deploy(8, 3_100_00000000, sender=owner)
    tx = adapter.announce_feed(0, other, sender=owner)
    eta = block_time(tx) + DELAY
    ev = tx.events.filter(adapter.FeedAnnounced)[0]
    assert (ev.market, ev.feed, ev.eta) == (0, other.address, eta)
    assert (adapter.pending_feeds(0), adapter.pending_feed_eta(0)) == (other.address, eta)
    assert adapter.latest(0)[0] == 3_000_12345678 * 10**10
    chain.pending_timestamp = eta - 1
    with ape.reverts("timelock: too early"):
        adapter.apply_feed(0, sender=owner)
    chain.pending_timestamp = eta
    tx = adapter.apply_feed(0, sender=owner)
    assert tx.events.filter(adapter.FeedSet)[0].feed == other.address
    assert (adapter.feeds(0), adapter.pending_feed_eta(0)) == (other.address, 0)
    assert adapter.latest(0)[0] == 3_100 * 10**18


def test_adapter__change_feed__cancel_and_expiry(project, adapter, aggregator, owner, chain, block_time):
    adapter.set_feed(0, aggregator, sender=owner)
    other = project.MockAggregator.deploy(8, 3_100_00000000, sender=owner)
    with ape.reverts("timelock: nothing announced"):
        adapter.cancel_feed(0, sender=owner)
    with ape.reverts("timelock: nothing announced"):
        adapter.apply_feed(0, sender=owner)
    adapter.announce_feed(0, other, sender=owner)
    tx = adapter.cancel_feed(0, sender=owner)
    assert tx.events.filter(adapter.FeedCancelled)[0].feed == other.address
    eta = block_time(adapter.announce_feed(0, other, sender=owner)) + DELAY
    chain.pending_timestamp = eta + GRACE_PERIOD + 1
    with ape.reverts("timelock: expired"):
        adapter.apply_feed(0, sender=owner)
    assert adapter.feeds(0) == aggregator.address


def test_adapter__announce_feed__checked_at_announce(project, adapter, owner):
    with ape.reverts("feed: zero address"):
        adapter.announce_feed(0, ZERO, sender=owner)
    with ape.reverts("feed: too many decimals"):
        adapter.announce_feed(0, project.MockAggregator.deploy(19, 1, sender=owner), sender=owner)
    assert adapter.pending_feed_eta(0) == 0


OWNER_ONLY_ADAPTER = [
    ("set_feed", lambda agg: (0, agg)),
    ("announce_feed", lambda agg: (0, agg)),
    ("apply_feed", lambda agg: (0,)),
    ("cancel_feed", lambda agg: (0,)),
    ("announce_delay", lambda agg: (2 * DELAY,)),
    ("apply_delay", lambda agg: ()),
    ("cancel_delay", lambda agg: ()),
]


@pytest.mark.parametrize("fn, args", OWNER_ONLY_ADAPTER, ids=[f for f, _ in OWNER_ONLY_ADAPTER])
def test_adapter_timelock__not_owner__reverts(adapter, aggregator, stranger, fn, args):
    with ape.reverts("ownable: caller is not the owner"):
        getattr(adapter, fn)(*args(aggregator), sender=stranger)


def test_adapter__delay_changes_through_its_own_timelock(adapter, owner, chain, block_time):
    eta = block_time(adapter.announce_delay(2 * DELAY, sender=owner)) + DELAY
    with ape.reverts("timelock: too early"):
        adapter.apply_delay(sender=owner)
    chain.pending_timestamp = eta
    adapter.apply_delay(sender=owner)
    assert adapter.delay() == 2 * DELAY
    with ape.reverts("timelock: delay out of bounds"):
        adapter.announce_delay(MAX_DELAY + 1, sender=owner)
    adapter.announce_delay(MIN_DELAY, sender=owner)
    adapter.cancel_delay(sender=owner)
    assert (adapter.delay(), adapter.pending_delay_eta()) == (2 * DELAY, 0)


# --- ChainlinkAdapter: the jump bound holds across a phase boundary ------------------------------------
# Round ids are phaseId << 64 | aggregatorRoundId (MockAggregatorProxy, as Chainlink's proxy).


@pytest.fixture
def proxy(project, owner, aggregator, adapter):
    """Market 0 of the adapter reads a proxy whose phase 1 is `aggregator` (3,000.12345678)."""
    p = project.MockAggregatorProxy.deploy(aggregator, sender=owner)
    adapter.set_feed(0, p, sender=owner)
    return p


def _new_phase(project, owner, proxy, answer):
    agg = project.MockAggregator.deploy(8, answer, sender=owner)
    proxy.set_aggregator(agg, sender=owner)
    return agg


def test_adapter__first_round_ever__served_unchecked(adapter, proxy):
    assert proxy.latestRoundData()[0] == (1 << 64) | 1
    assert adapter.price(0) == 3_000_12345678 * 10**10


@pytest.mark.parametrize("answer, served", [
    (3_300_13580245, True),  # +10% of 3,000.12345678, floored: the edge
    (3_300_13580246, False),
    (2_700_11111111, True),  # -10%, ceiled: the edge
    (2_700_11111110, False),
    (300_01234567, False),  # -90%
])
def test_adapter__first_round_of_a_new_phase__checked_against_the_previous_phase(project, owner, adapter, proxy,
                                                                                 answer, served):
    _new_phase(project, owner, proxy, answer)
    assert proxy.latestRoundData()[0] == (2 << 64) | 1
    assert proxy.getRoundData((2 << 64) | 0)[1] == 0  # round - 1 has no answer: the old code's blind spot
    if served:
        assert adapter.price(0) == answer * 10**10
    else:
        with ape.reverts("oracle: price jump too large"):
            adapter.price(0)


def test_adapter__later_rounds_of_a_new_phase__checked_within_the_phase(project, owner, adapter, proxy, chain):
    agg = _new_phase(project, owner, proxy, 3_000_00000000)
    agg.set_answer(3_300_00000001, chain.blocks.head.timestamp, sender=owner)  # +10% + 1 of round 1
    assert proxy.latestRoundData()[0] == (2 << 64) | 2
    with ape.reverts("oracle: price jump too large"):
        adapter.price(0)
    agg.set_answer(3_200_00000000, chain.blocks.head.timestamp, sender=owner)
    assert adapter.price(0) == 3_200 * 10**18


def test_adapter__previous_phase_unreadable__reverts(project, owner, adapter, proxy, system):
    proxy.set_aggregator(system.usdc, sender=owner)  # phase 2: a contract with no rounds at all
    _new_phase(project, owner, proxy, 3_000_00000000)  # phase 3, round 1
    with ape.reverts("oracle: no previous round"):
        adapter.price(0)


def test_adapter__previous_round_without_answer__reverts(adapter, aggregator, owner, chain):
    adapter.set_feed(0, aggregator, sender=owner)
    aggregator.set_answer(0, chain.blocks.head.timestamp, sender=owner)
    aggregator.set_answer(3_000_00000000, chain.blocks.head.timestamp, sender=owner)
    with ape.reverts("oracle: no previous round"):
        adapter.price(0)
    aggregator.set_answer(3_000_00000000, chain.blocks.head.timestamp, sender=owner)  # the next round heals it
    assert adapter.price(0) == 3_000 * 10**18


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
