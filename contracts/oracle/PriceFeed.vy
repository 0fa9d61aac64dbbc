# pragma version ~=0.4.3
"""
@title PriceFeed
@notice A settable price feed for local networks: one price per market with
        its timestamp, written by an updater role. Reads fail closed: a missing,
        zero or stale price reverts. An update that jumps more than `max_jump`
        (ppm of the previous price) reverts, so a crash has to be walked in steps.
        The owner changes the updater and the bounds only through the timelock
        (announce, wait `delay`, apply); the values given at deploy apply at once.
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

# @dev An announced updater and bounds, each with the time it may apply (0: nothing announced).
pending_updater: public(address)
pending_updater_eta: public(uint256)
pending_max_age: public(uint256)
pending_max_jump: public(uint256)
pending_bounds_eta: public(uint256)

# Declared after the feed's own storage, so the slots above stay where they were.
from ..modules import timelock

initializes: timelock

exports: (timelock.delay, timelock.pending_delay, timelock.pending_delay_eta)


event PriceUpdated:
    market: indexed(uint256)
    price: uint256
    updated_at: uint256


# @dev A new updater was announced; it may apply from `eta`.
event UpdaterAnnounced:
    updater: indexed(address)
    eta: uint256


# @dev The updater in force changed (at apply).
event UpdaterChanged:
    updater: indexed(address)


# @dev The announced updater was withdrawn.
event UpdaterCancelled:
    updater: indexed(address)


# @dev New bounds were announced; they may apply from `eta`.
event BoundsAnnounced:
    max_age: uint256
    max_jump: uint256
    eta: uint256


# @dev The bounds in force changed (at deploy and at apply).
event BoundsChanged:
    max_age: uint256
    max_jump: uint256


# @dev The announced bounds were withdrawn.
event BoundsCancelled:
    max_age: uint256
    max_jump: uint256


@deploy
def __init__(updater_: address, max_age_: uint256, max_jump_: uint256, delay_: uint256):
    """
    @notice Deploys the feed; the deployer becomes the owner. These values apply at once.
    @param updater_ The only address allowed to write prices.
    @param max_age_ Seconds after which a price is stale.
    @param max_jump_ Largest move of one update, in ppm of the previous price.
    @param delay_ Seconds between announcing an owner change and applying it (1 to 30 days).
    """
    ownable.__init__()
    timelock._initialize(delay_)
    self.updater = updater_
    self._check_bounds(max_age_, max_jump_)
    self._set_bounds(max_age_, max_jump_)


@external
def announce_updater(updater_: address):
    """
    @notice Announces a new updater (owner only); it applies after `delay`.
    @dev Replaces any pending updater. Nothing changes in force until `apply_updater`.
    @param updater_ The new updater.
    """
    ownable._check_owner()
    assert updater_ != empty(address), "feed: zero address"
    eta: uint256 = timelock._eta()
    self.pending_updater = updater_
    self.pending_updater_eta = eta
    log UpdaterAnnounced(updater=updater_, eta=eta)


@external
def apply_updater():
    """
    @notice Puts the announced updater in force (owner only), once its delay has passed.
    """
    ownable._check_owner()
    timelock._check_due(self.pending_updater_eta)
    u: address = self.pending_updater
    self.updater = u
    self.pending_updater = empty(address)
    self.pending_updater_eta = 0
    log UpdaterChanged(updater=u)


@external
def cancel_updater():
    """
    @notice Withdraws the announced updater (owner only).
    """
    ownable._check_owner()
    assert self.pending_updater_eta != 0, "timelock: nothing announced"
    u: address = self.pending_updater
    self.pending_updater = empty(address)
    self.pending_updater_eta = 0
    log UpdaterCancelled(updater=u)


@external
def announce_bounds(max_age_: uint256, max_jump_: uint256):
    """
    @notice Announces new staleness and jump bounds (owner only, within hard bounds);
            they apply after `delay`.
    @dev Replaces any pending bounds. Nothing changes in force until `apply_bounds`.
    @param max_age_ Seconds after which a price is stale, 1 to 7 days' worth.
    @param max_jump_ Largest move of one update in ppm, 1 to 999_999.
    """
    ownable._check_owner()
    self._check_bounds(max_age_, max_jump_)
    eta: uint256 = timelock._eta()
    self.pending_max_age = max_age_
    self.pending_max_jump = max_jump_
    self.pending_bounds_eta = eta
    log BoundsAnnounced(max_age=max_age_, max_jump=max_jump_, eta=eta)


@external
def apply_bounds():
    """
    @notice Puts the announced bounds in force (owner only), once their delay has passed.
    """
    ownable._check_owner()
    timelock._check_due(self.pending_bounds_eta)
    self._set_bounds(self.pending_max_age, self.pending_max_jump)
    self._clear_bounds()


@external
def cancel_bounds():
    """
    @notice Withdraws the announced bounds (owner only).
    """
    ownable._check_owner()
    assert self.pending_bounds_eta != 0, "timelock: nothing announced"
    log BoundsCancelled(max_age=self.pending_max_age, max_jump=self.pending_max_jump)
    self._clear_bounds()


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
@pure
def _check_bounds(max_age_: uint256, max_jump_: uint256):
    assert max_age_ != 0 and max_age_ <= constants.MAX_AGE_BOUND, "feed: max_age out of bounds"
    assert max_jump_ != 0 and max_jump_ < constants.PPM, "feed: max_jump out of bounds"


@internal
def _set_bounds(max_age_: uint256, max_jump_: uint256):
    self.max_age = max_age_
    self.max_jump = max_jump_
    log BoundsChanged(max_age=max_age_, max_jump=max_jump_)


@internal
def _clear_bounds():
    self.pending_max_age = 0
    self.pending_max_jump = 0
    self.pending_bounds_eta = 0
