# pragma version ~=0.4.3
"""
@title ChainlinkAdapter
@notice Serves Chainlink `AggregatorV3Interface` feeds to the Clearinghouse as
        one 18-decimal price per market, failing closed on a zero, negative or
        stale answer and on a jump beyond `max_jump` from the previous round.
"""

from snekmate.auth import ownable

initializes: ownable

from ..modules import constants
from ..interfaces import IOracle

implements: IOracle

exports: (ownable.owner, ownable.transfer_ownership)

from ..interfaces import IAggregatorV3




feeds: public(HashMap[uint256, IAggregatorV3])
max_age: public(uint256)
max_jump: public(uint256)


event FeedSet:
    market: indexed(uint256)
    feed: address


@deploy
def __init__(max_age_: uint256, max_jump_: uint256):
    """
    @notice Deploys the adapter; the deployer becomes the owner.
    @param max_age_ Seconds after which an answer is stale.
    @param max_jump_ Largest move between consecutive rounds, in ppm.
    """
    ownable.__init__()
    assert max_age_ != 0 and max_age_ <= constants.MAX_AGE_BOUND, "feed: max_age out of bounds"
    assert max_jump_ != 0 and max_jump_ < constants.PPM, "feed: max_jump out of bounds"
    self.max_age = max_age_
    self.max_jump = max_jump_


@external
def set_feed(market: uint256, feed: IAggregatorV3):
    """
    @notice Points `market` at a Chainlink aggregator (owner only).
    @param market The market id.
    @param feed The aggregator address.
    """
    ownable._check_owner()
    assert feed.address != empty(address), "feed: zero address"
    assert staticcall feed.decimals() <= 18, "feed: too many decimals"
    self.feeds[market] = feed
    log FeedSet(market=market, feed=feed.address)


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
    if round_id > 1:
        prev: int256 = 0
        prev_updated: uint256 = 0
        round_id, prev, started_at, prev_updated, answered_in = staticcall feed.getRoundData(round_id - 1)
        if prev > 0:
            q: uint256 = convert(prev, uint256) * scale
            move: uint256 = p - q if p > q else q - p
            assert move * constants.PPM <= self.max_jump * q, "oracle: price jump too large"
    return p, updated_at
