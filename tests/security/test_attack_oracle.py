"""Attacks through the oracle wiring: a Chainlink phase boundary, and an owner who re-wires the
oracle and uses it in the same block.

* **The jump bound at a phase boundary.** Chainlink numbers rounds ``phaseId << 64 |
  aggregatorRoundId``; when a proxy moves to a new aggregator, the first round of the new phase
  has no round - 1. An adapter that skips the jump check there serves a -90% first round, and a
  1.1x long that no honest price would touch is liquidated at it: its margin goes to whoever
  holds the other side when the glitch ends. The adapter compares that round with the previous
  phase's last answer and refuses it (``oracle: price jump too large``).
* **Instant re-wiring.** The owner points the feed's updater at a second address (or a market at
  another Chainlink aggregator) and uses it at once to post a crash and liquidate a healthy
  account, keeping the keeper reward. Every change of the updater, the bounds or a feed now
  waits out the timelock's delay in public: announced, nothing changes in force.

Each test measures what the victim lost and the attacker gained, in USDC atoms; both are zero.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import ape
import pytest

from perpvault.chain.deploy import DEFAULT_MARKETS, TIMELOCK_DELAY
from perpvault.keeper import dry_run
from perpvault.units import price, size
from tests.utils.checks import assert_invariants
from tests.utils.trading import set_price, trade

ETH = replace(DEFAULT_MARKETS[1], max_funding_rate=0)  # mmr 6.25%, penalty 1%, taker fee 5 bp
ANSWER0 = 3_000 * 10**8  # the Chainlink answer (8 decimals) the market opens at
CRASH = 300 * 10**8  # a new phase's first round: -90%
JUMP = 100_000  # the adapter's jump bound: 10% between rounds
CRASH_BTC = price(48_000)  # -20%: a 4.8x long is below maintenance, not bankrupt


@pytest.fixture
def chainlink_market(book, project, owner):
    """Market 2 of the book, ETH at 3,000, priced by a ChainlinkAdapter over a Chainlink-style
    proxy (phase 1: one aggregator)."""
    phase1 = project.MockAggregator.deploy(8, ANSWER0, sender=owner)
    proxy = project.MockAggregatorProxy.deploy(phase1, sender=owner)
    adapter = project.ChainlinkAdapter.deploy(3_600, JUMP, TIMELOCK_DELAY, sender=owner)
    market = book.clearinghouse.market_count()
    adapter.set_feed(market, proxy, sender=owner)
    book.clearinghouse.add_market(adapter, ETH.params(), sender=owner)
    return SimpleNamespace(market=market, adapter=adapter, proxy=proxy, phase1=phase1)


def _liquidate_if_allowed(system, account, keeper) -> str | None:
    """The keeper's move: dry-run the liquidation, send it if it passes. The refusal, or None."""
    reason = dry_run(system.clearinghouse, "liquidate", (account, []), keeper)
    if reason is None:
        system.clearinghouse.liquidate(account, [], sender=keeper)
    return reason


# --- R6: the jump bound at a Chainlink phase boundary ------------------------------------------------


def test_R6_phase_boundary__a_minus_90pct_first_round_is_refused_not_served(
    book, chainlink_market, project, owner, maker, trader, keeper, chain
):
    """The trader is long 36.9 ETH at 3,000 (110,700 notional on 100,000 of margin: 1.1x).
    The proxy moves to a new aggregator whose first round answers 300.

    On the old adapter the round is served: the trader's equity falls to 314.65, below its
    maintenance (691.875), and the keeper liquidates it: 26.65 ETH of the long close to the
    vault at 300. The trader's margin falls by 72,028.120936 USDC (99,944.65 -> 27,916.53) on a
    price no round before it came near; the keeper earns 15.987597, the fund 67.947289, and
    when the feed is back at 3,000 the vault's LPs hold the other 71,944.186 as profit.
    Now the round is refused: every read of the market reverts with the reason, and nothing
    moves until two consecutive rounds agree within 10% again."""
    s, cl = book, chainlink_market
    trade(s, maker, trader, cl.market, size("36.9"), price(3_000), chain=chain)
    assert not s.clearinghouse.is_liquidatable(trader)
    margin0, keeper0 = s.clearinghouse.margin(trader), s.clearinghouse.margin(keeper)

    crash = project.MockAggregator.deploy(8, CRASH, sender=owner)
    cl.proxy.set_aggregator(crash, sender=owner)  # phase 2, round 1: round - 1 has no answer
    assert cl.proxy.latestRoundData()[0] == (2 << 64) | 1
    served = dry_run(cl.adapter, "price", (cl.market,), keeper)
    refused = _liquidate_if_allowed(s, trader, keeper)

    trader_lost = margin0 - s.clearinghouse.margin(trader)
    keeper_gained = s.clearinghouse.margin(keeper) - keeper0
    assert (trader_lost, keeper_gained) == (0, 0), f"the adapter served {cl.adapter.latest(cl.market)[0]}"
    assert served == refused == "oracle: price jump too large"
    assert s.clearinghouse.position(trader, cl.market)[0] == size("36.9")

    # The bound is between consecutive rounds: the round after the glitch is compared with the
    # glitch and refused too; the one after it is served.
    crash.set_answer(2_990 * 10**8, chain.blocks.head.timestamp, sender=owner)
    with ape.reverts("oracle: price jump too large"):
        s.clearinghouse.mark_price(cl.market)
    crash.set_answer(2_990 * 10**8, chain.blocks.head.timestamp, sender=owner)
    assert s.clearinghouse.mark_price(cl.market) == price(2_990)
    assert not s.clearinghouse.is_liquidatable(trader)
    assert_invariants(s)


def test_R6_phase_boundary__a_first_round_within_the_bound_is_served(
    book, chainlink_market, project, owner
):
    cl = chainlink_market
    cl.proxy.set_aggregator(project.MockAggregator.deploy(8, 2_700 * 10**8, sender=owner), sender=owner)  # -10%
    assert book.clearinghouse.mark_price(cl.market) == price(2_700)


# --- R4 (oracle): no re-wiring takes effect before its delay ----------------------------------------------


def _victim_at_5x(s, maker, trader, chain):
    """The trader goes long 8 BTC at 60,000 (480,000 notional on 100,000: 4.8x): healthy unless
    BTC falls ~17%."""
    trade(s, maker, trader, 0, size(8), price(60_000), chain=chain)
    assert not s.clearinghouse.is_liquidatable(trader)


def test_R4_oracle__owner_swaps_the_updater_and_crashes_the_price__refused(
    book, owner, stranger, maker, trader, chain
):
    """The owner names its second address (the stranger) updater, which posts BTC at 48,000
    (-20%, inside the feed's 30% bound) and liquidates the 4.8x long itself.
    Old feed (an instant setter): the trader's margin falls by 99,760.000000 USDC and the second
    address earns 713.600000 of keeper reward. Now the new updater is only announced: its first
    price is refused, applying is too early, and the announce is public for a day."""
    s = book
    _victim_at_5x(s, maker, trader, chain)
    margin0, attacker0 = s.clearinghouse.margin(trader), s.clearinghouse.margin(stranger)

    s.feed.announce_updater(stranger, sender=owner)
    refusals = [dry_run(s.feed, "apply_updater", (), owner), dry_run(s.feed, "set_price", (0, CRASH_BTC), stranger)]
    if refusals[-1] is None:
        s.feed.set_price(0, CRASH_BTC, sender=stranger)
    refusals.append(_liquidate_if_allowed(s, trader, stranger))

    trader_lost = margin0 - s.clearinghouse.margin(trader)
    attacker_gained = s.clearinghouse.margin(stranger) - attacker0
    assert (trader_lost, attacker_gained) == (0, 0), f"BTC posted at {s.feed.latest(0)[0]} by the owner's key"
    assert refusals == ["timelock: too early", "feed: not updater", "ch: not liquidatable"]
    assert s.feed.updater() == s.oracle_updater.address
    assert s.feed.pending_updater() == stranger.address  # public, for a day, before it can apply
    assert_invariants(s)


def test_R4_oracle__owner_widens_the_jump_bound__the_old_bound_holds_until_applied(
    book, owner, oracle_updater, maker, trader, chain
):
    """The owner announces max_jump = 99.9999% so that one update can crash BTC by 80% (the old
    instant setter let it through in the same block); until the delay has passed the 30% bound
    is in force and the crash is refused."""
    s = book
    _victim_at_5x(s, maker, trader, chain)
    s.feed.announce_bounds(3_600, 999_999, sender=owner)
    with ape.reverts("timelock: too early"):
        s.feed.apply_bounds(sender=owner)
    with ape.reverts("feed: price jump too large"):
        set_price(s, 0, price(12_000))
    assert s.feed.max_jump() == 300_000
    assert not s.clearinghouse.is_liquidatable(trader)
    assert_invariants(s)


def test_R4_oracle__owner_repoints_a_chainlink_market__refused_until_the_delay(
    book, chainlink_market, project, owner, stranger, maker, trader, chain
):
    """The owner points the ETH market at its own aggregator answering 2,450 (-18%) to
    liquidate a 4.5x long from its second address. Old adapter (`set_feed` any time): the
    trader's margin falls by 37,479.961638 USDC and the second address earns 318.992248. Now
    `set_feed` works once per market, and an announced feed is not served before its delay."""
    s, cl = book, chainlink_market
    trade(s, maker, trader, cl.market, size(150), price(3_000), chain=chain)  # 450,000 notional
    assert not s.clearinghouse.is_liquidatable(trader)
    margin0, attacker0 = s.clearinghouse.margin(trader), s.clearinghouse.margin(stranger)
    rigged = project.MockAggregator.deploy(8, 2_450 * 10**8, sender=owner).address

    refusals = [dry_run(cl.adapter, "set_feed", (cl.market, rigged), owner)]
    if refusals[0] is None:
        cl.adapter.set_feed(cl.market, rigged, sender=owner)
    cl.adapter.announce_feed(cl.market, rigged, sender=owner)
    refusals.append(dry_run(cl.adapter, "apply_feed", (cl.market,), owner))
    refusals.append(_liquidate_if_allowed(s, trader, stranger))

    trader_lost = margin0 - s.clearinghouse.margin(trader)
    attacker_gained = s.clearinghouse.margin(stranger) - attacker0
    assert (trader_lost, attacker_gained) == (0, 0), f"ETH served at {cl.adapter.latest(cl.market)[0]}"
    assert refusals == ["feed: already set", "timelock: too early", "ch: not liquidatable"]
    assert cl.adapter.feeds(cl.market) == cl.proxy.address
    assert_invariants(s)
