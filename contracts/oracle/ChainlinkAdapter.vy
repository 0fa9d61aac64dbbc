# pragma version ~=0.4.3
"""
@title ChainlinkAdapter
@notice Serves Chainlink `AggregatorV3Interface` feeds to the Clearinghouse as
        one 18-decimal price per market, failing closed on a zero, negative or
        stale answer and on a jump beyond `max_jump` from the previous round,
        across a phase boundary too. A market's first feed is set at once; a
        later change waits out the timelock (announce, `delay`, apply).
"""

from snekmate.auth import ownable

initializes: ownable

from ..modules import constants
from ..interfaces import IOracle

implements: IOracle

exports: (ownable.owner, ownable.transfer_ownership)

from ..interfaces import IAggregatorV3

from ..modules import timelock

initializes: timelock

exports: (timelock.delay, timelock.pending_delay, timelock.pending_delay_eta)


# @dev Chainlink round ids are `phaseId << 64 | aggregatorRoundId`.
ROUND_MASK: constant(uint256) = 2**64 - 1


feeds: public(HashMap[uint256, IAggregatorV3])
max_age: public(uint256)
max_jump: public(uint256)
# @dev An announced new feed per market and when it may apply (0: nothing announced).
pending_feeds: public(HashMap[uint256, IAggregatorV3])
pending_feed_eta: public(HashMap[uint256, uint256])


# @dev The feed in force for `market` changed (first set, or an announced change applied).
event FeedSet:
    market: indexed(uint256)
    feed: address


# @dev A new feed for `market` was announced; it may apply from `eta`.
event FeedAnnounced:
    market: indexed(uint256)
    feed: address
    eta: uint256


# @dev The announced feed for `market` was withdrawn.
event FeedCancelled:
    market: indexed(uint256)
    feed: address


@deploy
def __init__(max_age_: uint256, max_jump_: uint256, delay_: uint256):
    """
    @notice Deploys the adapter; the deployer becomes the owner.
    @param max_age_ Seconds after which an answer is stale.
    @param max_jump_ Largest move between consecutive rounds, in ppm.
    @param delay_ Seconds between announcing a feed change and applying it (1 to 30 days).
    """
    ownable.__init__()
    timelock._initialize(delay_)
    assert max_age_ != 0 and max_age_ <= constants.MAX_AGE_BOUND, "feed: max_age out of bounds"
    assert max_jump_ != 0 and max_jump_ < constants.PPM, "feed: max_jump out of bounds"
    self.max_age = max_age_
    self.max_jump = max_jump_


@external
def set_feed(market: uint256, feed: IAggregatorV3):
    """
    @notice Points a market that has no feed yet at a Chainlink aggregator (owner
            only); it applies at once. Later changes go through `announce_feed`.
    @param market The market id.
    @param feed The aggregator (proxy) address.
    """
    ownable._check_owner()
    assert self.feeds[market].address == empty(address), "feed: already set"
    self._check_feed(feed)
    self.feeds[market] = feed
    log FeedSet(market=market, feed=feed.address)


@external
def announce_feed(market: uint256, feed: IAggregatorV3):
    """
    @notice Announces a new aggregator for `market` (owner only); it applies after `delay`.
    @dev Replaces any pending feed of the market. Nothing changes in force until `apply_feed`.
    @param market The market id.
    @param feed The new aggregator (proxy) address.
    """
    ownable._check_owner()
    self._check_feed(feed)
    eta: uint256 = timelock._eta()
    self.pending_feeds[market] = feed
    self.pending_feed_eta[market] = eta
    log FeedAnnounced(market=market, feed=feed.address, eta=eta)


@external
def apply_feed(market: uint256):
    """
    @notice Puts the announced feed of `market` in force (owner only), once its delay has passed.
    @param market The market id.
    """
    ownable._check_owner()
    timelock._check_due(self.pending_feed_eta[market])
    feed: IAggregatorV3 = self.pending_feeds[market]
    self.feeds[market] = feed
    self.pending_feeds[market] = empty(IAggregatorV3)
    self.pending_feed_eta[market] = 0
    log FeedSet(market=market, feed=feed.address)


@external
def cancel_feed(market: uint256):
    """
    @notice Withdraws the announced feed of `market` (owner only).
    @param market The market id.
    """
    ownable._check_owner()
    assert self.pending_feed_eta[market] != 0, "timelock: nothing announced"
    feed: IAggregatorV3 = self.pending_feeds[market]
    self.pending_feeds[market] = empty(IAggregatorV3)
    self.pending_feed_eta[market] = 0
    log FeedCancelled(market=market, feed=feed.address)


@external
def announce_delay(delay_: uint256):
    """
    @notice Announces a new timelock delay (owner only, 1 to 30 days); it applies
            after the delay in force now.
    @param delay_ The new delay in seconds.
    """
    ownable._check_owner()
    timelock._announce_delay(delay_)


@external
def apply_delay():
    """
    @notice Puts the announced delay in force (owner only), once the old delay has passed.
    """
    ownable._check_owner()
    timelock._apply_delay()


@external
def cancel_delay():
    """
    @notice Withdraws the announced delay (owner only).
    """
    ownable._check_owner()
    timelock._cancel_delay()


@external
@view
def price(market: uint256) -> uint256:
    """
    @notice The current price of `market` in 18 decimals, failing closed.
    @param market The market id.
    @return uint256 Quote per whole base unit, 18 decimals.
    """
    p: uint256 = 0
    updated_at: uint256 = 0
    p, updated_at = self._read(market)
    assert block.timestamp <= updated_at + self.max_age, "oracle: stale price"
    return p


@external
@view
def latest(market: uint256) -> (uint256, uint256):
    """
    @notice The latest answer and its timestamp, scaled to 18 decimals.
    @param market The market id.
    @return uint256 The price.
    @return uint256 The time it was updated.
    """
    return self._read(market)


@internal
@view
def _check_feed(feed: IAggregatorV3):
    assert feed.address != empty(address), "feed: zero address"
    assert staticcall feed.decimals() <= 18, "feed: too many decimals"


@internal
@view
def _read(market: uint256) -> (uint256, uint256):
    feed: IAggregatorV3 = self.feeds[market]
    assert feed.address != empty(address), "oracle: no price"
    scale: uint256 = 10 ** convert(18 - staticcall feed.decimals(), uint256)
    round_id: uint80 = 0
    answer: int256 = 0
    started_at: uint256 = 0
    updated_at: uint256 = 0
    answered_in: uint80 = 0
    round_id, answer, started_at, updated_at, answered_in = staticcall feed.latestRoundData()
    assert answer > 0, "oracle: zero price"
    p: uint256 = convert(answer, uint256) * scale
    q: uint256 = self._previous_answer(feed.address, convert(round_id, uint256)) * scale
    if q != 0:
        move: uint256 = p - q if p > q else q - p
        assert move * constants.PPM <= self.max_jump * q, "oracle: price jump too large"
    return p, updated_at


@internal
@view
def _previous_answer(feed: address, round_id: uint256) -> uint256:
    """
    @dev The answer of the round before `round_id`: round - 1 of the same phase,
         or, for the first round of a phase, the previous phase aggregator's latest
         answer. 0 only when there is no round before (phase 0 or 1, round 1).
         A previous round that cannot be read, or holds no positive answer, reverts.
    """
    phase: uint256 = round_id >> 64
    n: uint256 = round_id & ROUND_MASK
    answer: int256 = 0
    if n > 1:
        answer = convert(self._word(feed, abi_encode(convert(round_id - 1, uint80), method_id=method_id("getRoundData(uint80)")), 1), int256)
    elif phase > 1:
        word: bytes32 = self._word(feed, abi_encode(convert(phase - 1, uint16), method_id=method_id("phaseAggregators(uint16)")), 0)
        before: address = convert(convert(word, uint256), address)
        answer = convert(self._word(before, method_id("latestRoundData()", output_type=Bytes[4]), 1), int256)
    else:
        return 0
    assert answer > 0, "oracle: no previous round"
    return convert(answer, uint256)


@internal
@view
def _word(target: address, data: Bytes[36], index: uint256) -> bytes32:
    """
    @dev Word `index` of what `target` returns for `data`; zero when the call
         reverts or returns less (so a missing round reads as no answer).
    """
    ok: bool = False
    out: Bytes[160] = b""
    ok, out = raw_call(target, data, max_outsize=160, is_static_call=True, revert_on_failure=False)
    if not ok:
        return empty(bytes32)
    if len(out) < 32 * (index + 1):
        return empty(bytes32)
    return extract32(out, 32 * index)
