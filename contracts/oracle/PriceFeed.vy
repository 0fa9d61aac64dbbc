# pragma version ~=0.4.3
"""
@title PriceFeed
@notice A settable price feed for local networks: one price per market with
        its timestamp, written by an updater role. Reads fail closed: a missing,
        zero or stale price reverts. An update that jumps more than `max_jump`
        (ppm of the previous price) reverts, so a crash has to be walked in steps.
"""

from snekmate.auth import ownable

initializes: ownable

from ..modules import constants
from ..interfaces import IOracle

implements: IOracle

exports: (ownable.owner, ownable.transfer_ownership)




struct Round:
    price: uint256
    updated_at: uint256


updater: public(address)
max_age: public(uint256)
max_jump: public(uint256)
rounds: public(HashMap[uint256, Round])


event PriceUpdated:
    market: indexed(uint256)
    price: uint256
    updated_at: uint256


event UpdaterChanged:
    updater: indexed(address)


event BoundsChanged:
    max_age: uint256
    max_jump: uint256


@deploy
def __init__(updater_: address, max_age_: uint256, max_jump_: uint256):
    """
    @notice Deploys the feed; the deployer becomes the owner.
    @param updater_ The only address allowed to write prices.
    @param max_age_ Seconds after which a price is stale.
    @param max_jump_ Largest move of one update, in ppm of the previous price.
    """
    ownable.__init__()
    self.updater = updater_
    self._set_bounds(max_age_, max_jump_)


@external
def set_updater(updater_: address):
    """
    @notice Hands the updater role to another address (owner only).
    @param updater_ The new updater.
    """
    ownable._check_owner()
    assert updater_ != empty(address), "feed: zero address"
    self.updater = updater_
    log UpdaterChanged(updater=updater_)


@external
def set_bounds(max_age_: uint256, max_jump_: uint256):
    """
    @notice Sets the staleness and jump bounds (owner only, within hard bounds).
    @param max_age_ Seconds after which a price is stale, 1 to 7 days' worth.
    @param max_jump_ Largest move of one update in ppm, 1 to 999_999.
    """
    ownable._check_owner()
    self._set_bounds(max_age_, max_jump_)


@external
def set_price(market: uint256, price_: uint256):
    """
    @notice Writes the price of `market` stamped with the block time.
    @dev Reverts on a zero or overflow-sized price and on a jump beyond `max_jump`.
    @param market The market id.
    @param price_ Quote per whole base unit, 18 decimals.
    """
    assert msg.sender == self.updater, "feed: not updater"
    assert price_ != 0, "feed: zero price"
    assert price_ <= constants.MAX_PRICE, "feed: price too large"
    previous: uint256 = self.rounds[market].price
    if previous != 0:
        move: uint256 = price_ - previous if price_ > previous else previous - price_
        assert move * constants.PPM <= self.max_jump * previous, "feed: price jump too large"
    self.rounds[market] = Round(price=price_, updated_at=block.timestamp)
    log PriceUpdated(market=market, price=price_, updated_at=block.timestamp)


@external
@view
def price(market: uint256) -> uint256:
    """
    @notice The current price of `market`, failing closed.
    @param market The market id.
    @return uint256 Quote per whole base unit, 18 decimals.
    """
    r: Round = self.rounds[market]
    assert r.price != 0, "oracle: no price"
    assert block.timestamp <= r.updated_at + self.max_age, "oracle: stale price"
    return r.price


@external
@view
def latest(market: uint256) -> (uint256, uint256):
    """
    @notice The last written price and its timestamp, without freshness checks.
    @param market The market id.
    @return uint256 The price (0 if never set).
    @return uint256 The time it was written.
    """
    r: Round = self.rounds[market]
    return r.price, r.updated_at


@internal
def _set_bounds(max_age_: uint256, max_jump_: uint256):
    assert max_age_ != 0 and max_age_ <= constants.MAX_AGE_BOUND, "feed: max_age out of bounds"
    assert max_jump_ != 0 and max_jump_ < constants.PPM, "feed: max_jump out of bounds"
    self.max_age = max_age_
    self.max_jump = max_jump_
    log BoundsChanged(max_age=max_age_, max_jump=max_jump_)
