"""The model's side of a comparison with the chain: its last transaction's events.

Reading the chain and diffing it with the model is :mod:`perpvault.chain.compare` (the model
imports nothing of the chain).
"""

from __future__ import annotations

from collections.abc import Iterable

from perpvault.model.exchange import Exchange


def model_events(model: Exchange, names: Iterable[str]) -> list[tuple]:
    """The last transaction's model events named in `names`."""
    wanted = set(names)
    return [e for e in model.last_events if e[0] in wanted]


__all__ = ["model_events"]
