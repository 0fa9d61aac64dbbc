"""Seeded, reproducible crash scenarios: markets, price paths and a book of traders.

A scenario is data only: what the market looks like before the crash (who holds what, at
which leverage), how prices walk, and how much the LP vault and the insurance fund hold.
`perpvault.replay` plays one on a chain; `perpvault.model` plays it without one.
"""

from perpvault.scenarios.book import Scenario, TraderSpec
from perpvault.scenarios.catalogue import SCENARIOS, build

__all__ = ["SCENARIOS", "Scenario", "TraderSpec", "build"]
