# pragma version ~=0.4.3
"""
@title timelock
@notice The delay every owner change waits out (SPEC E4): a change is announced,
        applies no sooner than `delay` seconds later and no later than
        `GRACE_PERIOD` after that, and can be cancelled until it applies. The
        delay itself is bounded (MIN_DELAY..MAX_DELAY) and changes only through
        the same announce/wait/apply, under the delay in force at the announce.
@dev Holds the delay and its own pending change; each contract that uses it
     stores its pending values with an `eta` from `_eta()` and checks it with
     `_check_due(eta)` before applying. Access control is the caller's.
"""

from . import constants


# @dev Seconds between an announce and the earliest apply.
delay: public(uint256)
# @dev An announced new delay and when it may apply (0: nothing announced).
pending_delay: public(uint256)
pending_delay_eta: public(uint256)


# @dev A new delay was announced; it may apply from `eta`.
event DelayAnnounced:
    delay: uint256
    eta: uint256


# @dev The announced delay is in force.
event DelayApplied:
    delay: uint256


# @dev The announced delay was withdrawn.
event DelayCancelled:
    delay: uint256


@internal
def _initialize(delay_: uint256):
    """
    @dev Sets the first delay, at deploy (no @deploy initializer, so the
         Liquidator can share this layout without writing its own storage).
    """
    self._check_delay(delay_)
    self.delay = delay_


@internal
@pure
def _check_delay(delay_: uint256):
    assert delay_ >= constants.MIN_DELAY and delay_ <= constants.MAX_DELAY, "timelock: delay out of bounds"


@internal
@view
def _eta() -> uint256:
    """
    @dev When a change announced now may apply.
    """
    return block.timestamp + self.delay


@internal
@view
def _check_due(eta: uint256):
    """
    @dev Reverts unless a change with this `eta` was announced, its delay has
         passed, and its grace period has not.
    """
    assert eta != 0, "timelock: nothing announced"
    assert block.timestamp >= eta, "timelock: too early"
    assert block.timestamp <= eta + constants.GRACE_PERIOD, "timelock: expired"


@internal
def _announce_delay(delay_: uint256):
    self._check_delay(delay_)
    eta: uint256 = self._eta()
    self.pending_delay = delay_
    self.pending_delay_eta = eta
    log DelayAnnounced(delay=delay_, eta=eta)


@internal
def _apply_delay():
    self._check_due(self.pending_delay_eta)
    d: uint256 = self.pending_delay
    self.delay = d
    self.pending_delay = 0
    self.pending_delay_eta = 0
    log DelayApplied(delay=d)


@internal
def _cancel_delay():
    assert self.pending_delay_eta != 0, "timelock: nothing announced"
    d: uint256 = self.pending_delay
    self.pending_delay = 0
    self.pending_delay_eta = 0
    log DelayCancelled(delay=d)
