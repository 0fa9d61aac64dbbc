"""How fair an ADL was: what a policy took against the shortfall, from whom, and how far its
worst-hit winner sits from the fairest split of the same shortfall.

Pure Python, exact arithmetic (``int`` atoms, :class:`fractions.Fraction` shares); nothing of
ape or the chain, so the replay, the tests and the paper's per-wave data all go through the
same functions. The words are the papers' (background note §1-§3; "paper 2" is Chitra,
Thogiti, Trujillo Ramirez, Xu, *Autodeleveraging as Online Learning*, arXiv 2602.15182):

* ``needed`` ``B``: the shortfall the ADL must socialize (``B_needed``; in perpvault the
  uncovered shortfall ``S``).
* ``taken`` ``H = sum(x_i)``: what the policy took from counterparties, against the mark price.
* ``u_i = max(PnL_i, 0)``: a trader's positive PnL at the mark before the ADL (its capacity).
* ``h_i = x_i / u_i`` for ``u_i > 0``: the haircut share (paper 2 writes ``x_i / (u_i + eps)``;
  exact integers need no ``eps``). Cuts of traders with ``u_i = 0`` have no share: they are
  counted apart (:func:`no_pnl_cuts`).

One :class:`Allocation` is one ADL event; :func:`event_metrics` measures it and :func:`total`
adds events up. The reference allocation is :func:`wealth_pro_rata`: every winner gives up the
same share of its positive PnL, in whole atoms, which is the min-max optimum
(:func:`optimal_max_pct`) the fairness regret is measured against.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import groupby

# Atoms (the replay) or exact dollars (the paper's per-wave CSV, read with Fraction(text)).
Amount = int | Fraction


# --- one ADL event ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Cut:
    """One trader's part in one ADL event (one row per trader: sum its positions first).

    ``pnl`` is the trader's PnL at the mark before the ADL (signed, atoms); ``taken`` (``x_i``)
    what the ADL took from it against the mark; ``notional_closed`` the notional force-closed
    (atoms at the mark); ``rank`` its place in the policy's queue (0 = first in line) and
    ``score`` its ADL score, where the policy ranks at all.
    """

    trader: str
    pnl: int
    taken: int
    notional_closed: int = 0
    rank: int | None = None
    score: int | None = None

    def __post_init__(self) -> None:
        if self.taken < 0 or self.notional_closed < 0:
            raise ValueError(f"{self.trader}: taken and notional_closed are amounts, >= 0")

    @property
    def positive_pnl(self) -> int:
        """``u_i = max(PnL_i, 0)``."""
        return max(self.pnl, 0)

    @property
    def is_winner(self) -> bool:
        return self.pnl > 0

    @property
    def touched(self) -> bool:
        """The ADL took something from it or closed some of its position."""
        return self.taken > 0 or self.notional_closed > 0


@dataclass(frozen=True)
class Allocation:
    """One ADL event: the shortfall it had to socialize and every candidate's cut."""

    needed: int
    cuts: tuple[Cut, ...]

    def __post_init__(self) -> None:
        if self.needed < 0:
            raise ValueError("needed is a shortfall, >= 0")
        names = [c.trader for c in self.cuts]
        if len(set(names)) != len(names):
            raise ValueError("one cut per trader: sum a trader's positions first")

    @property
    def taken(self) -> int:
        """``H = sum(x_i)``."""
        return sum(c.taken for c in self.cuts)

    @property
    def winners(self) -> tuple[Cut, ...]:
        """The cuts with positive PnL (``u_i > 0``), in the given order."""
        return tuple(c for c in self.cuts if c.is_winner)


# --- how much: tracking ---------------------------------------------------------------------


def tracking(taken: Amount, needed: Amount) -> Amount:
    """``|H - B|``: the tracking error (paper 2's first term)."""
    return abs(taken - needed)


def overshoot(taken: Amount, needed: Amount) -> Amount:
    """``(H - B)+``: taken beyond the shortfall."""
    return max(taken - needed, 0)


def undershoot(taken: Amount, needed: Amount) -> Amount:
    """``(B - H)+``: shortfall left unsocialized (paper 2's solvency miss, summed into V_T)."""
    return max(needed - taken, 0)


# --- from whom: shares, touched, cuts without PnL ---------------------------------------------


def haircut_shares(allocation: Allocation) -> list[Fraction]:
    """``h_i = x_i / u_i`` for every winner, in the given order (not clipped: a cut beyond a
    winner's positive PnL shows as a share above 1)."""
    return [Fraction(c.taken, c.positive_pnl) for c in allocation.winners]


def max_pct(allocation: Allocation) -> Fraction:
    """``m = max_i x_i / u_i`` over the winners (``u_i > 0``); 0 when there are none."""
    return max(haircut_shares(allocation), default=Fraction(0))


def touched(allocation: Allocation) -> frozenset[str]:
    """The traders the ADL took from or force-closed (``len`` is the count)."""
    return frozenset(c.trader for c in allocation.cuts if c.touched)


def notional_closed(allocation: Allocation) -> int:
    """Notional force-closed by the event, summed over traders."""
    return sum(c.notional_closed for c in allocation.cuts)


@dataclass(frozen=True)
class NoPnlCuts:
    """Cuts of traders with no positive PnL (``u_i <= 0``): how many, and how much in total."""

    count: int = 0
    amount: int = 0

    def __add__(self, other: NoPnlCuts) -> NoPnlCuts:
        return NoPnlCuts(self.count + other.count, self.amount + other.amount)


def no_pnl_cuts(allocation: Allocation) -> NoPnlCuts:
    """The cuts (``x_i > 0``) of traders whose PnL before the ADL was zero or negative."""
    cut = [c.taken for c in allocation.cuts if not c.is_winner and c.taken > 0]
    return NoPnlCuts(len(cut), sum(cut))


# --- order ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inversions:
    """``count`` inverted pairs out of ``pairs`` comparable ones."""

    count: int = 0
    pairs: int = 0

    @property
    def rate(self) -> Fraction:
        return Fraction(self.count, self.pairs) if self.pairs else Fraction(0)

    def __add__(self, other: Inversions) -> Inversions:
        return Inversions(self.count + other.count, self.pairs + other.pairs)


def _count_inversions(ordered: list[tuple[object, Fraction | int]]) -> Inversions:
    """Pairs ``(i, j)`` with ``i`` in an earlier group than ``j`` (``ordered`` is sorted by the
    group key, equal keys are one group and are not compared) and ``value_i < value_j``."""
    seen: list[Fraction | int] = []  # values of the earlier groups, sorted
    count = pairs = 0
    for _, group in groupby(ordered, key=lambda kv: kv[0]):
        values = [v for _, v in group]
        count += sum(bisect_left(seen, v) for v in values)
        pairs += len(seen) * len(values)
        for v in values:
            insort(seen, v)
    return Inversions(count, pairs)


def order_inversions(allocation: Allocation) -> Inversions:
    """Post-ADL monotonicity violations (paper 2, Prop. 9(3)): winner pairs with
    ``u_i > u_j`` whose positive PnL left after the ADL, ``r = u - x``, is in the other order,
    ``r_i < r_j``. Pairs with equal ``u`` are not compared. Wealth pro-rata has none
    (``r_i = (1 - lambda) u_i``; :func:`wealth_pro_rata` keeps that in whole atoms); a queue
    that empties the larger winner makes one per smaller winner it leaves standing."""
    ordered = sorted(
        ((-c.positive_pnl, c.positive_pnl - c.taken) for c in allocation.winners),
        key=lambda kv: kv[0],
    )
    return _count_inversions(ordered)


def rank_inversions(allocation: Allocation) -> Inversions:
    """Queue-order violations: winner pairs where the lower-ranked one (later in line) gave
    up a larger share ``h`` than the higher-ranked one. Only winners with a rank are compared;
    equal ranks are not. A queue run in order has none; one that skipped a higher-ranked
    winner has one per winner cut below it."""
    ordered = sorted(
        (
            (c.rank, Fraction(c.taken, c.positive_pnl))
            for c in allocation.winners
            if c.rank is not None
        ),
        key=lambda kv: kv[0],
    )
    return _count_inversions(ordered)


# --- the reference: wealth pro-rata, the min-max optimum ---------------------------------------


def uniform_share(budget: int, winners: Sequence[int]) -> Fraction:
    """``lambda = min(1, B / U)`` with ``U = sum(u_i)``: the share every winner gives up under
    wealth pro-rata, before rounding to atoms (0 if nobody has positive PnL)."""
    capacity = sum(winners)
    return min(Fraction(1), Fraction(budget, capacity)) if capacity else Fraction(0)


def wealth_pro_rata(budget: int, winners: Sequence[int]) -> list[int]:
    """The uniform share in whole atoms: ``x_i`` per winner (``winners`` are the ``u_i``).

    If ``B >= U`` every winner gives up all its positive PnL (the rest, ``B - U``, is
    undershoot). Otherwise:

    1. floors ``x_i = floor(B * u_i / U)``: every share is at most ``lambda``; the remainder
       ``R = B - sum(x_i)`` is less than the number of winners;
    2. the ``R`` remainder atoms go one at a time to the winner whose share after the atom,
       ``(x_i + 1) / u_i``, is smallest; ties to the smaller winner (smaller ``u_i``), then to
       the earlier one in ``winners``. A large winner can take two before a small one takes
       one.

    So ``sum(x_i) = B`` exactly, ``0 <= x_i <= u_i``, and the allocation is the ``B`` smallest
    of all the shares ``k / u_i`` (``1 <= k <= u_i``). Its largest share ``m*`` is therefore
    the smallest any integer allocation of ``B`` can have (one with largest share ``z`` has
    ``x_i <= floor(z * u_i)``, so ``B <= sum(floor(z * u_i))``), and lies in
    ``[lambda, lambda + 1 / min(u_i)]``. Largest-remainder rounding is not min-max: for
    ``u = (5, 3, 3)``, ``B = 5`` it gives ``(2, 2, 1)`` (largest share 2/3), this ``(3, 1, 1)``
    (3/5).

    No order inversions (:func:`order_inversions`): for ``u_i > u_j``, ``x_j`` has every
    share below ``m*`` and ``x_i`` none above, so ``r_i - r_j >= (1 - m*)(u_i - u_j) - 1 > -1``
    when ``m* < 1``; at ``m* = 1`` the smaller winner's last atom goes first.
    """
    if budget < 0 or any(u < 0 for u in winners):
        raise ValueError("budget and positive PnL are >= 0")
    capacity = sum(winners)
    if budget >= capacity:
        return list(winners)
    taken = [budget * u // capacity for u in winners]
    remainder = budget - sum(taken)

    def next_atom(i: int) -> tuple[Fraction, int, int]:
        return (Fraction(taken[i] + 1, winners[i]), winners[i], i)

    # Below lambda < 1 every floor is < u_i, so every winner with u_i > 0 is a candidate.
    heap = [next_atom(i) for i, u in enumerate(winners) if taken[i] < u]
    heapq.heapify(heap)
    for _ in range(remainder):
        *_, i = heapq.heappop(heap)
        taken[i] += 1
        if taken[i] < winners[i]:
            heapq.heappush(heap, next_atom(i))
    return taken


def optimal_max_pct(budget: int, winners: Sequence[int]) -> Fraction:
    """The min-max optimum ``m*``: the largest share under :func:`wealth_pro_rata`, the
    smallest largest share of any allocation of ``min(B, U)`` atoms over these winners."""
    shares = [
        Fraction(x, u) for x, u in zip(wealth_pro_rata(budget, winners), winners, strict=True) if u
    ]
    return max(shares, default=Fraction(0))


def fairness_regret(max_pct: Amount, max_pct_optimum: Amount, needed: Amount) -> Amount:
    """``|m - m*| * B``: paper 2's fairness term (eq. 23 with lambda = 1), in money."""
    return abs(max_pct - max_pct_optimum) * needed


# --- per event and in total -------------------------------------------------------------------


@dataclass(frozen=True)
class EventMetrics:
    """Everything measured on one ADL event (or one of the paper's waves: then only
    ``needed``, ``taken``, ``max_pct`` and ``max_pct_optimum`` are known)."""

    needed: Amount
    taken: Amount
    max_pct: Amount
    max_pct_optimum: Amount
    touched: frozenset[str] = frozenset()
    notional_closed: int = 0
    no_pnl_cuts: NoPnlCuts = NoPnlCuts()
    order_inversions: Inversions = Inversions()
    rank_inversions: Inversions = Inversions()

    @property
    def tracking(self) -> Amount:
        return tracking(self.taken, self.needed)

    @property
    def overshoot(self) -> Amount:
        return overshoot(self.taken, self.needed)

    @property
    def undershoot(self) -> Amount:
        return undershoot(self.taken, self.needed)

    @property
    def fairness_regret(self) -> Amount:
        return fairness_regret(self.max_pct, self.max_pct_optimum, self.needed)

    @property
    def objective(self) -> Amount:
        """Paper 2's per-round loss with lambda = 1: tracking + fairness regret."""
        return self.tracking + self.fairness_regret


def event_metrics(allocation: Allocation, *, max_pct_optimum: Amount | None = None) -> EventMetrics:
    """Measure one event. The optimum defaults to :func:`optimal_max_pct` of the shortfall over
    the same winners (winners in the given order)."""
    if max_pct_optimum is None:
        max_pct_optimum = optimal_max_pct(
            allocation.needed, [c.positive_pnl for c in allocation.winners]
        )
    return EventMetrics(
        needed=allocation.needed,
        taken=allocation.taken,
        max_pct=max_pct(allocation),
        max_pct_optimum=max_pct_optimum,
        touched=touched(allocation),
        notional_closed=notional_closed(allocation),
        no_pnl_cuts=no_pnl_cuts(allocation),
        order_inversions=order_inversions(allocation),
        rank_inversions=rank_inversions(allocation),
    )


@dataclass(frozen=True)
class Totals:
    """A policy over a run: sums over its events, except ``max_pct`` (the largest over events)
    and ``traders_touched`` (distinct traders; ``cuts`` counts trader-events)."""

    events: int
    needed: Amount
    taken: Amount
    tracking: Amount
    overshoot: Amount
    undershoot: Amount
    fairness_regret: Amount
    max_pct: Amount
    traders_touched: int
    cuts: int
    notional_closed: int
    no_pnl_cuts: NoPnlCuts
    order_inversions: Inversions
    rank_inversions: Inversions

    @property
    def objective(self) -> Amount:
        """Paper 2's cumulative objective ``L`` (lambda = 1): Table 2's row total."""
        return self.tracking + self.fairness_regret


def total(events: Iterable[EventMetrics]) -> Totals:
    """Add events up (Table 2 is this over the paper's 16 waves)."""
    events = list(events)
    return Totals(
        events=len(events),
        needed=sum((e.needed for e in events), 0),
        taken=sum((e.taken for e in events), 0),
        tracking=sum((e.tracking for e in events), 0),
        overshoot=sum((e.overshoot for e in events), 0),
        undershoot=sum((e.undershoot for e in events), 0),
        fairness_regret=sum((e.fairness_regret for e in events), 0),
        max_pct=max((e.max_pct for e in events), default=0),
        traders_touched=len(frozenset().union(*(e.touched for e in events))),
        cuts=sum(len(e.touched) for e in events),
        notional_closed=sum(e.notional_closed for e in events),
        no_pnl_cuts=sum((e.no_pnl_cuts for e in events), NoPnlCuts()),
        order_inversions=sum((e.order_inversions for e in events), Inversions()),
        rank_inversions=sum((e.rank_inversions for e in events), Inversions()),
    )


__all__ = [
    "Allocation",
    "Cut",
    "EventMetrics",
    "Inversions",
    "NoPnlCuts",
    "Totals",
    "event_metrics",
    "fairness_regret",
    "haircut_shares",
    "max_pct",
    "no_pnl_cuts",
    "notional_closed",
    "optimal_max_pct",
    "order_inversions",
    "overshoot",
    "rank_inversions",
    "total",
    "touched",
    "tracking",
    "undershoot",
    "uniform_share",
    "wealth_pro_rata",
]
