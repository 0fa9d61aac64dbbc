"""Deploy and drive the perpvault contracts (ape).

One deploy function, :func:`deploy`, serves the tests, the scripts, the demo and the
CLI, so there is exactly one place that knows the wiring order.
"""

from perpvault.chain.deploy import DEFAULT_MARKETS, DEFAULT_RISK, MarketSpec, System, deploy

__all__ = ["DEFAULT_MARKETS", "DEFAULT_RISK", "MarketSpec", "System", "deploy"]
