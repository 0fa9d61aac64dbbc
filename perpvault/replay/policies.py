"""ADL policies side by side on the replay's ADL events, measured with :mod:`perpvault.fairness`.

At every liquidation that reaches ADL, the replay knows (from the keeper's plan, on the
reference model's state just before the liquidation) the shortfall ``S`` beyond the insurance
fund, each ADL market's bankrupt close and its share of ``S``, and the opposite side of each of
those markets in ADL rank order. :func:`event_allocations` splits the same ``S`` over the same
candidates four ways, each a :class:`~perpvault.fairness.Allocation` with one cut per candidate
(untouched candidates too, so every policy is measured against the same winners and the same
min-max optimum):

* ``queue`` — what perpvault ran: the plan's ``Deleveraged`` events (each counterparty's
  haircut against the mark, and the size closed).
* ``naive`` — whole opposing positions in rank order at the bankruptcy price until the bankrupt
  size is covered (:mod:`perpvault.replay.naive`; positions it closed at an earlier event are
  gone). What it takes beyond ``S`` is its overshoot.
* ``size_pro_rata`` — every opposite-side position gives up the same fraction of its size at
  the ADL price, so each pays its market's share of ``S`` in proportion to its size (the
  contract pro-rata of Drift and of the papers, in exact atoms). **Computed on the model, not
  run by the contracts**: the ``pro_rata`` policy of SPEC section 6 is not built yet, and this
  computation does not cap a cut at the account's equity as that policy must.
* ``wealth_pro_rata`` — the reference: every winner gives up the same share of its positive
  PnL (:func:`perpvault.fairness.wealth_pro_rata`, the integer min-max optimum). A haircut of
  PnL, not a close: it closes no notional.

A candidate's PnL (``u_i``'s source) is its unrealized PnL at the mark on its positions on the
opposite side of the event's ADL markets (``value(q, mark) - open_notional``; funding not yet
settled is not counted), summed over those markets: one cut per trader.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from perpvault import fairness
from perpvault.model.maths import notional as notional_of
from perpvault.model.maths import value as value_of

POLICIES = ("queue", "naive", "size_pro_rata", "wealth_pro_rata")
POLICY_NAMES = {
    "queue": "perpvault queue (run)",
    "naive": "naive whole-position queue",
    "size_pro_rata": "size pro-rata (computed)",
    "wealth_pro_rata": "wealth pro-rata (optimum)",
}


@dataclass(frozen=True)
class Candidate:
    """One position on the opposite side of an ADL market, before the ADL."""

    trader: str
    size: int  # |q|, base-unit atoms
    pnl: int  # unrealized PnL at the mark, atoms
    rank: int  # 0 = first in line in this market's queue
    score: int


@dataclass(frozen=True)
class MarketAdl:
    """One ADL market of an event: the bankrupt close, its share of S, the ranked side."""

    market: int
    close: int  # the bankrupt's signed close
    shortfall: int  # this market's share of S
    price: int  # the mark
    side: tuple[Candidate, ...]  # in ADL rank order


def proportional(budget: int, weights: Sequence[int]) -> list[int]:
    """``budget`` split in proportion to ``weights`` in whole atoms: floors, then the remainder
    one atom each to the largest fractional parts (ties to the earlier). Sums to ``budget``
    exactly when any weight is positive."""
    if budget < 0 or any(w < 0 for w in weights):
        raise ValueError("budget and weights are >= 0")
    total = sum(weights)
    if total == 0:
        return [0] * len(weights)
    parts = [budget * w // total for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-((budget * weights[i]) % total), i))
    for i in order[: budget - sum(parts)]:
        parts[i] += 1
    return parts


def naive_split(side: Iterable[Candidate], close: int, shortfall: int, gone: set) -> tuple[dict[str, int],
                                                                                            dict[str, int]]:
    """The naive policy on one market: whole positions in rank order (skipping those in `gone`,
    closed at an earlier event; the ones it closes are added) until ``|close|`` is covered, each
    giving up the bankruptcy price's gap on its whole size. Returns (taken, size closed) per
    trader; the taken amounts sum to :func:`perpvault.replay.naive.naive_adl`'s cut."""
    need = abs(close)
    closed: list[Candidate] = []
    covered = 0
    for c in side:
        if covered >= need:
            break
        if c.trader in gone:
            continue
        gone.add(c.trader)
        closed.append(c)
        covered += c.size
    if need == 0:
        return {}, {}
    cut = shortfall * max(covered, need) // need
    taken = proportional(cut, [c.size for c in closed])
    return ({c.trader: x for c, x in zip(closed, taken, strict=True)},
            {c.trader: c.size for c in closed})


@dataclass
class _Tally:
    taken: dict[str, int] = field(default_factory=dict)
    notional: dict[str, int] = field(default_factory=dict)

    def add(self, trader: str, taken: int, notional: int) -> None:
        self.taken[trader] = self.taken.get(trader, 0) + taken
        self.notional[trader] = self.notional.get(trader, 0) + notional


def event_allocations(needed: int, markets: Sequence[MarketAdl], deleveraged: Iterable[dict[str, Any]],
                      naive_gone: dict[int, set]) -> dict[str, fairness.Allocation]:
    """The four policies' allocations of one ADL event (see the module docstring).

    `deleveraged`: the ``Deleveraged`` events perpvault emitted for it (``counterparty``,
    ``market``, ``size``, ``haircut``); `naive_gone`: per market, the traders whose positions
    the naive policy closed at earlier events (updated)."""
    by_market = {m.market: m for m in markets}
    pnl: dict[str, int] = {}
    rank: dict[str, int] = {}
    score: dict[str, int] = {}
    for m in markets:
        for c in m.side:
            pnl[c.trader] = pnl.get(c.trader, 0) + c.pnl
            if c.rank < rank.get(c.trader, c.rank + 1):
                rank[c.trader], score[c.trader] = c.rank, c.score
    tallies = {p: _Tally() for p in POLICIES}
    for e in deleveraged:
        m = by_market[e["market"]]
        tallies["queue"].add(e["counterparty"].lower(), e["haircut"], notional_of(e["size"], m.price))
    for m in markets:
        taken, sizes = naive_split(m.side, m.close, m.shortfall, naive_gone.setdefault(m.market, set()))
        for t, x in taken.items():
            tallies["naive"].add(t, x, notional_of(sizes[t], m.price))
        weights = [c.size for c in m.side]
        cuts = proportional(m.shortfall, weights)
        closes = proportional(min(abs(m.close), sum(weights)), weights)
        for c, x, q in zip(m.side, cuts, closes, strict=True):
            tallies["size_pro_rata"].add(c.trader, x, notional_of(q, m.price) if q else 0)
    traders = sorted(pnl, key=lambda t: (rank[t], t))
    winners = [t for t in traders if pnl[t] > 0]
    for t, x in zip(winners, fairness.wealth_pro_rata(needed, [pnl[t] for t in winners]), strict=True):
        tallies["wealth_pro_rata"].add(t, x, 0)
    out = {}
    for p in POLICIES:
        tl = tallies[p]
        out[p] = fairness.Allocation(needed, tuple(
            fairness.Cut(t, pnl[t], tl.taken.get(t, 0), tl.notional.get(t, 0), rank[t], score[t]) for t in traders))
    return out


def _num(x: fairness.Amount) -> float | int:
    return x if isinstance(x, int) else float(x)


def metrics_row(m: fairness.EventMetrics | fairness.Totals) -> dict[str, Any]:
    """The numbers report.json keeps per policy: atoms, shares as floats."""
    touched = m.traders_touched if isinstance(m, fairness.Totals) else len(m.touched)
    row = {"needed": m.needed, "taken": m.taken, "tracking": m.tracking, "overshoot": m.overshoot,
           "undershoot": m.undershoot, "max_pct": _num(m.max_pct),
           "fairness_regret": int(round(m.fairness_regret)) if isinstance(m.fairness_regret, Fraction)
           else m.fairness_regret,
           "traders_touched": touched, "notional_closed": m.notional_closed,
           "no_pnl_cuts": {"count": m.no_pnl_cuts.count, "amount": m.no_pnl_cuts.amount},
           "order_inversions": {"count": m.order_inversions.count, "pairs": m.order_inversions.pairs}}
    if isinstance(m, fairness.EventMetrics):
        row["max_pct_optimum"] = _num(m.max_pct_optimum)
    else:
        row["cuts"] = m.cuts
    return row


@dataclass
class PolicyComparison:
    """Every ADL event of a replay under the four policies."""

    events: list[dict[str, Any]] = field(default_factory=list)  # per event: step, account, per policy
    metrics: dict[str, list[fairness.EventMetrics]] = field(default_factory=lambda: {p: [] for p in POLICIES})
    shares: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in POLICIES})

    def add(self, step: int, account: str, allocations: dict[str, fairness.Allocation]) -> None:
        row: dict[str, Any] = {"step": step, "account": account}
        for p, a in allocations.items():
            em = fairness.event_metrics(a)
            self.metrics[p].append(em)
            self.shares[p] += [float(Fraction(c.taken, c.positive_pnl)) for c in a.winners if c.taken > 0]
            row[p] = metrics_row(em)
        self.events.append(row)

    def totals(self) -> dict[str, fairness.Totals]:
        return {p: fairness.total(self.metrics[p]) for p in POLICIES}

    def report(self) -> dict[str, Any]:
        return {"policies": POLICY_NAMES,
                "pnl": "unrealized PnL at the mark before the ADL, on the positions opposite the bankrupt in the "
                       "event's ADL markets (funding not counted)",
                "totals": {p: metrics_row(t) for p, t in self.totals().items()},
                "events": self.events,
                "haircut_shares": self.shares}


def market_side(ch: Any, market: int, ranked: Sequence[tuple[str, int]]) -> tuple[Candidate, ...]:
    """The candidates of one ADL market from the model `ch` (before the liquidation) and the
    ranked side [(account, |size|)]."""
    price = ch.mark_price(market)
    out = []
    for k, (acct, size) in enumerate(ranked):
        p = ch.positions_of(acct, market)
        out.append(Candidate(acct, size, value_of(p.size, price) - p.open_notional, k, ch.adl_score(acct, market)))
    return tuple(out)


__all__ = ["POLICIES", "POLICY_NAMES", "Candidate", "MarketAdl", "PolicyComparison", "event_allocations",
           "market_side", "metrics_row", "naive_split", "proportional"]
