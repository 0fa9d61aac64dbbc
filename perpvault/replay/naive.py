"""The naive ADL the replay compares ours with (Hyperliquid / CEX style): at every one of our ADL
events, the same bankrupt close and shortfall, but whole opposing positions closed in rank order
at the bankruptcy price until the bankrupt size is covered. What it takes beyond the shortfall
is its overshoot; ours is zero by construction (I6)."""

from __future__ import annotations

from dataclasses import dataclass, field

from perpvault.model.maths import notional as notional_of


@dataclass
class Naive:
    """The naive policy's totals (see :func:`naive_adl`)."""

    haircuts: int = 0
    overshoot: int = 0
    touched: set = field(default_factory=set)
    closed_notional: int = 0
    events: int = 0


def naive_adl(queue: list[tuple[str, int]], close: int, shortfall: int, closed: set, naive: Naive,
              price: int, market: int) -> None:
    """Hyperliquid/CEX-style ADL for one bankrupt close of signed size `close` with shortfall
    share `shortfall`: whole opposing positions `queue` [(account, |size|)] in rank order, each
    closed at the bankruptcy price p = mark + shortfall/close, until |close| is covered. Each
    closed position gives up |p - mark| on its whole size; what exceeds `shortfall` is the
    overshoot. Positions it closed earlier (`closed`: (account, market)) are gone."""
    need = abs(close)
    taken = 0
    for account, size in queue:
        if taken >= need:
            break
        if (account, market) in closed:
            continue
        closed.add((account, market))
        naive.touched.add(account)
        taken += size
        naive.closed_notional += notional_of(size, price)
    if need == 0:
        return
    # Haircut per unit at the bankruptcy price, on the whole size closed (the uncovered tail, if
    # the queue ran out, is priced the same way).
    cut = shortfall * max(taken, need) // need
    naive.haircuts += cut
    naive.overshoot += cut - shortfall
    naive.events += 1


__all__ = ["Naive", "naive_adl"]
