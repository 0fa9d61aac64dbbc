"""Twin of `contracts/modules/timelock.vy`: the delay every owner change waits out.

A change is announced (its `eta` = now + delay), applies from `eta` until `eta + GRACE_PERIOD`,
and can be cancelled until then. The delay itself changes only through the same timelock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from perpvault.model.constants import GRACE_PERIOD, MAX_DELAY, MIN_DELAY
from perpvault.model.maths import require

if TYPE_CHECKING:
    from perpvault.model.exchange import World


class Timelock:
    """The delay, its own pending change, and the checks every timelocked setter uses."""

    def __init__(self, w: World, delay: int) -> None:
        self.w = w
        self.delay = self.pending_delay = self.pending_delay_eta = 0
        self._initialize(delay)

    def _initialize(self, delay: int) -> None:
        self._check_delay(delay)
        self.delay = delay

    @staticmethod
    def _check_delay(delay: int) -> None:
        require(MIN_DELAY <= delay <= MAX_DELAY, "timelock: delay out of bounds")

    def _eta(self) -> int:
        return self.w.now + self.delay

    def _check_due(self, eta: int) -> None:
        require(eta != 0, "timelock: nothing announced")
        require(self.w.now >= eta, "timelock: too early")
        require(self.w.now <= eta + GRACE_PERIOD, "timelock: expired")

    def _announce_delay(self, delay: int) -> None:
        self._check_delay(delay)
        eta = self._eta()
        self.pending_delay, self.pending_delay_eta = delay, eta
        self.w.log("DelayAnnounced", delay, eta)

    def _apply_delay(self) -> None:
        self._check_due(self.pending_delay_eta)
        d = self.pending_delay
        self.delay = d
        self.pending_delay = self.pending_delay_eta = 0
        self.w.log("DelayApplied", d)

    def _cancel_delay(self) -> None:
        require(self.pending_delay_eta != 0, "timelock: nothing announced")
        d = self.pending_delay
        self.pending_delay = self.pending_delay_eta = 0
        self.w.log("DelayCancelled", d)
