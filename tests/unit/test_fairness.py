"""The ADL fairness metrics (perpvault.fairness), pinned three ways:

(a) paper 2's Table 2 (Chitra, Thogiti, Trujillo Ramirez, Xu, arXiv 2602.15182), reproduced to
    the cent from the paper's per-wave inputs in ``data/chitra-adl-waves/`` (MIT,
    attribution in that folder) through the same functions the replay uses;
(b) a hand-computed pair of ADL events, trader by trader, for what the per-wave table cannot
    pin (shares, remainder atoms, touched, no-PnL cuts, inversions);
(c) Hypothesis: wealth pro-rata is exact to the atom, feasible, and min-max optimal.
"""

from __future__ import annotations

import csv
import itertools
import subprocess
import sys
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perpvault.fairness import (
    Allocation,
    Cut,
    EventMetrics,
    Inversions,
    NoPnlCuts,
    event_metrics,
    fairness_regret,
    haircut_shares,
    max_pct,
    no_pnl_cuts,
    notional_closed,
    optimal_max_pct,
    order_inversions,
    overshoot,
    rank_inversions,
    total,
    touched,
    tracking,
    undershoot,
    uniform_share,
    wealth_pro_rata,
)
from perpvault.paths import repo_root

# The paper's per-wave inputs, vendored with their MIT licence and attribution (data/chitra-adl-waves/).
PAPER_WAVES = repo_root() / "data" / "chitra-adl-waves"

# --- (a) Table 2 ------------------------------------------------------------------------------


def read_waves(folder: Path) -> list[dict[str, str]]:
    """The 16 rows of ``policy_per_wave_metrics.csv``; a missing folder fails the test (no skip)."""
    path = folder / "policy_per_wave_metrics.csv"
    if not path.is_file():
        pytest.fail(
            f"paper data not found: {path}. The repository's data/chitra-adl-waves/ holds it "
            "(copied from the project's shared data, MIT licence).",
            pytrace=False,
        )
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def waves() -> list[dict[str, str]]:
    return read_waves(PAPER_WAVES)


def usd(text: str) -> Fraction:
    """A CSV float as the exact decimal it is printed as."""
    return Fraction(text)


def wave_metrics(row: dict[str, str], policy: str) -> EventMetrics:
    """One wave as the replay sees an ADL event: needed, taken, max_pct, and the min-max ILP's
    max_pct as the optimum (the CSV's max_pct is computed upstream, per trader)."""
    return EventMetrics(
        needed=usd(row["budget_needed"]),
        taken=usd(row[f"budget_{policy}"]),
        max_pct=usd(row[f"max_pct_{policy}"]),
        max_pct_optimum=usd(row["max_pct_fixed_point_ilp_integer"]),
    )


def cents(amount: Fraction) -> Decimal:
    exact = Decimal(amount.numerator) / Decimal(amount.denominator)
    return exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


# policy column, tracking, fairness, total: paper 2, Table 2 (continuous pro-rata is the fifth
# row, "~0 + 2,732,437.29").
TABLE_2 = [
    ("prod", "53782490.53", "11077031.68", "64859522.21"),
    ("contract_pr", "3020120.65", "384064.35", "3404185.00"),
    ("vector", "1793022.03", "2620345.57", "4413367.61"),
    ("fixed_point_ilp_integer", "106205.81", "0.00", "106205.81"),
    ("pr", "0.00", "2732437.29", "2732437.29"),
]


@pytest.mark.parametrize(
    ("policy", "track", "fair", "objective"), TABLE_2, ids=[r[0] for r in TABLE_2]
)
def test_table_2__reproduced_to_the_cent(waves, policy, track, fair, objective):
    totals = total(wave_metrics(row, policy) for row in waves)
    assert totals.events == 16
    assert cents(totals.tracking) == Decimal(track)
    assert cents(totals.fairness_regret) == Decimal(fair)
    assert cents(totals.objective) == Decimal(objective)


def test_table_2__production_overshoot_is_net_of_six_undershot_waves(waves):
    """The paper's $45.0M production overshoot is sum(H - B): $49.41M over, $4.38M under
    (waves 1, 2, 4, 5, 9, 10), so tracking |H - B| is over + under = $53.78M."""
    events = [wave_metrics(row, "prod") for row in waves]
    totals = total(events)
    assert cents(totals.taken - totals.needed) == Decimal("45028665.72")
    assert cents(totals.overshoot) == Decimal("49405578.12")
    assert cents(totals.undershoot) == Decimal("4376912.41")
    assert totals.tracking == totals.overshoot + totals.undershoot
    undershot = [row["wave"] for row, e in zip(waves, events, strict=True) if e.undershoot]
    assert undershot == ["1", "2", "4", "5", "9", "10"]


def test_table_2__deployable_policies_only_undershoot(waves):
    """Integer pro-rata's $3.02M and vector mirror descent's $1.79M tracking are all undershoot."""
    for policy in ("contract_pr", "vector"):
        totals = total(wave_metrics(row, policy) for row in waves)
        assert totals.overshoot == 0
        assert totals.undershoot == totals.tracking


def test_read_waves__fails_with_a_clear_message_when_the_shared_folder_is_missing(tmp_path):
    with pytest.raises(pytest.fail.Exception, match="data/chitra-adl-waves/ holds it"):
        read_waves(tmp_path / "chitra-adl-waves")


# --- (b) by hand ------------------------------------------------------------------------------


def first_event() -> Allocation:
    """Shortfall 5 atoms. A keeper skipped B, second in line, and cut D, which has no PnL.

    ========  =====  ====  =====  ========  =====================
    trader    rank   PnL   taken  notional  share h = taken / PnL
    ========  =====  ====  =====  ========  =====================
    A         0      5     4      400       4/5
    B         1      3     0      0         0
    C         2      3     1      100       1/3
    D         3      -2    1      100       (no positive PnL)
    ========  =====  ====  =====  ========  =====================

    taken 6: tracking |6 - 5| = 1, overshoot 1, undershoot 0. max_pct = 4/5 (A).
    Touched A, C, D (3); notional 600; one no-PnL cut of 1 atom (D).

    Wealth pro-rata of 5 over u = (5, 3, 3), U = 11: lambda = 5/11. Floors 25/11 -> 2,
    15/11 -> 1, 15/11 -> 1 sum to 4: one remainder atom. After it the shares would be A 3/5,
    B 2/3, C 2/3, so A takes it: (3, 1, 1), m* = 3/5. (Largest remainder would give it to B,
    remainder 4/11 against A's 3/11: (2, 2, 1), largest share 2/3.)
    Fairness regret |4/5 - 3/5| * 5 = 1.

    Order inversions (u_i > u_j but less PnL left, r = u - x): r = A 1, B 3, C 2. Comparable
    pairs (A, B) and (A, C) (B and C tie on u): both inverted, 2 of 2.
    Rank inversions (later in line, larger share): (B, C): C's 1/3 > B's 0; (A, B), (A, C) are
    not (4/5 is the largest). 1 of 3.
    """
    return Allocation(
        needed=5,
        cuts=(
            Cut("A", pnl=5, taken=4, notional_closed=400, rank=0),
            Cut("B", pnl=3, taken=0, notional_closed=0, rank=1),
            Cut("C", pnl=3, taken=1, notional_closed=100, rank=2),
            Cut("D", pnl=-2, taken=1, notional_closed=100, rank=3),
        ),
    )


def second_event() -> Allocation:
    """Shortfall 4 atoms; a size pro-rata that took only 2, one atom from each.

    A (rank 0) PnL 8 gives 1 (share 1/8), E (rank 1) PnL 4 gives 1 (1/4). tracking 2,
    undershoot 2, max_pct 1/4. Wealth pro-rata of 4 over (8, 4): lambda = 1/3, floors 2, 1,
    one atom left: A's share after it 3/8 < E's 2/4, so (3, 1), m* = 3/8. Below the optimum
    still counts: regret |1/4 - 3/8| * 4 = 1/2. r = A 7, E 3: no order inversion (1 pair);
    E, later in line, gave the larger share: 1 rank inversion of 1. Touched A, E; notional 100.
    """
    return Allocation(
        needed=4,
        cuts=(
            Cut("A", pnl=8, taken=1, notional_closed=50, rank=0),
            Cut("E", pnl=4, taken=1, notional_closed=50, rank=1),
        ),
    )


def test_by_hand__first_event__every_metric():
    event = first_event()
    assert event.taken == 6
    assert (tracking(6, 5), overshoot(6, 5), undershoot(6, 5)) == (1, 1, 0)
    assert haircut_shares(event) == [Fraction(4, 5), Fraction(0), Fraction(1, 3)]
    assert max_pct(event) == Fraction(4, 5)
    assert touched(event) == {"A", "C", "D"}
    assert notional_closed(event) == 600
    assert no_pnl_cuts(event) == NoPnlCuts(count=1, amount=1)
    assert uniform_share(5, [5, 3, 3]) == Fraction(5, 11)
    assert wealth_pro_rata(5, [5, 3, 3]) == [3, 1, 1]
    assert optimal_max_pct(5, [5, 3, 3]) == Fraction(3, 5)
    assert fairness_regret(Fraction(4, 5), Fraction(3, 5), 5) == 1
    assert order_inversions(event) == Inversions(count=2, pairs=2)
    assert rank_inversions(event) == Inversions(count=1, pairs=3)


def test_by_hand__second_event__below_the_optimum_counts_too():
    event = second_event()
    assert (tracking(2, 4), overshoot(2, 4), undershoot(2, 4)) == (2, 0, 2)
    assert max_pct(event) == Fraction(1, 4)
    assert wealth_pro_rata(4, [8, 4]) == [3, 1]
    assert optimal_max_pct(4, [8, 4]) == Fraction(3, 8)
    assert fairness_regret(Fraction(1, 4), Fraction(3, 8), 4) == Fraction(1, 2)
    assert order_inversions(event) == Inversions(count=0, pairs=1)
    assert rank_inversions(event) == Inversions(count=1, pairs=1)


def test_by_hand__event_metrics_and_total():
    """Per event as above; in total 2 events, needed 9, taken 8, tracking 3 (1 over, 2 under),
    regret 1 + 1/2 = 3/2, objective 9/2, max_pct 4/5, 4 distinct traders (A twice) in 5 cuts,
    notional 700, inversions 2 of 3 by PnL and 2 of 4 by rank."""
    first, second = event_metrics(first_event()), event_metrics(second_event())
    assert (first.max_pct_optimum, first.fairness_regret, first.objective) == (Fraction(3, 5), 1, 2)
    assert (second.max_pct_optimum, second.fairness_regret) == (Fraction(3, 8), Fraction(1, 2))
    totals = total([first, second])
    assert (totals.events, totals.needed, totals.taken) == (2, 9, 8)
    assert (totals.tracking, totals.overshoot, totals.undershoot) == (3, 1, 2)
    assert (totals.fairness_regret, totals.objective) == (Fraction(3, 2), Fraction(9, 2))
    assert totals.max_pct == Fraction(4, 5)
    assert (totals.traders_touched, totals.cuts, totals.notional_closed) == (4, 5, 700)
    assert totals.no_pnl_cuts == NoPnlCuts(count=1, amount=1)
    assert totals.order_inversions == Inversions(count=2, pairs=3)
    assert totals.rank_inversions == Inversions(count=2, pairs=4)


@pytest.mark.parametrize(
    ("budget", "winners", "expected"),
    [
        (5, [5, 3, 3], [3, 1, 1]),  # the remainder atom to the largest winner (3/5 < 2/3)
        (2, [3, 3, 7], [0, 0, 2]),  # two atoms to one winner before the others get one
        (2, [2, 1], [1, 1]),  # tie at share 1: the smaller winner first (no inversion)
        (3, [4, 4, 4], [1, 1, 1]),  # exact: no remainder
        (12, [4, 4, 4], [4, 4, 4]),  # the whole capacity
        (15, [4, 4, 4], [4, 4, 4]),  # beyond it: everything, 3 atoms of undershoot
        (3, [0, 6, 0], [0, 3, 0]),  # winners without PnL get nothing
        (0, [5, 3], [0, 0]),
    ],
)
def test_wealth_pro_rata__table(budget, winners, expected):
    assert wealth_pro_rata(budget, winners) == expected


def test_allocation__one_cut_per_trader_and_amounts_not_negative():
    with pytest.raises(ValueError, match="one cut per trader"):
        Allocation(1, (Cut("A", 5, 1), Cut("A", 3, 0)))
    with pytest.raises(ValueError, match=">= 0"):
        Cut("A", 5, -1)


def test_fairness_imports_nothing_of_ape_eth_web3_or_the_chain():
    code = "import sys, perpvault.fairness\nprint('\\n'.join(sorted(sys.modules)))\n"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    leaked = [
        m
        for m in loaded
        if m.split(".")[0] in ("ape", "web3", "hexbytes")
        or m.startswith(("ape_", "eth_", "perpvault.chain", "perpvault.fuzz"))
    ]
    assert "perpvault.fairness" in loaded
    assert not leaked, f"importing perpvault.fairness loads {leaked}"


# --- (c) Hypothesis ---------------------------------------------------------------------------


@st.composite
def budget_and_winners(draw, max_pnl: int = 10**12, max_winners: int = 40) -> tuple[int, list[int]]:
    """Positive PnL per winner (zeros included) and a budget up to their total."""
    winners = draw(st.lists(st.integers(0, max_pnl), min_size=1, max_size=max_winners).filter(any))
    return draw(st.integers(0, sum(winners))), winners


@st.composite
def feasible_allocation(draw, budget: int, winners: list[int]) -> list[int]:
    """Any x with 0 <= x_i <= u_i and sum(x) = budget: random cuts, then the gap moved in a
    random order of winners."""
    x = [draw(st.integers(0, u)) for u in winners]
    gap = budget - sum(x)
    for i in draw(st.permutations(range(len(winners)))):
        step = min(gap, winners[i] - x[i]) if gap > 0 else -min(-gap, x[i])
        x[i] += step
        gap -= step
    assert gap == 0
    return x


def largest_share(x: list[int], winners: list[int]) -> Fraction:
    return max(Fraction(xi, u) for xi, u in zip(x, winners, strict=True) if u)


@given(budget_and_winners())
def test_wealth_pro_rata__sums_to_the_budget_exactly(case):
    budget, winners = case
    assert sum(wealth_pro_rata(budget, winners)) == budget


@given(budget_and_winners())
def test_wealth_pro_rata__never_takes_more_than_a_winners_positive_pnl(case):
    budget, winners = case
    x = wealth_pro_rata(budget, winners)
    assert all(0 <= xi <= u for xi, u in zip(x, winners, strict=True))


@given(budget_and_winners(), st.integers(1, 10**6))
def test_wealth_pro_rata__beyond_capacity_takes_everything(case, excess):
    _, winners = case
    budget = sum(winners) + excess
    assert wealth_pro_rata(budget, winners) == winners
    assert undershoot(sum(winners), budget) == excess


@given(st.data())
def test_wealth_pro_rata__max_pct_is_minimal_among_feasible_allocations(data):
    budget, winners = data.draw(budget_and_winners(), label="budget, winners")
    other = data.draw(feasible_allocation(budget, winners), label="feasible allocation")
    assert largest_share(other, winners) >= optimal_max_pct(budget, winners)


@given(budget_and_winners(max_pnl=6, max_winners=4))
def test_optimal_max_pct__is_the_min_max_over_every_integer_allocation(case):
    """Exhaustive on small cases: the smallest largest share of all allocations of the budget."""
    budget, winners = case
    best = min(
        largest_share(list(x), winners)
        for x in itertools.product(*(range(u + 1) for u in winners))
        if sum(x) == budget
    )
    assert optimal_max_pct(budget, winners) == best


@given(budget_and_winners())
def test_optimal_max_pct__within_one_atom_of_the_uniform_share(case):
    """lambda <= m* <= lambda + 1/min(u_i): the integer optimum is the uniform share, to an atom."""
    budget, winners = case
    share, best = uniform_share(budget, winners), optimal_max_pct(budget, winners)
    assert share <= best <= share + Fraction(1, min(u for u in winners if u))


@given(st.one_of(budget_and_winners(max_pnl=12, max_winners=6), budget_and_winners()))
def test_wealth_pro_rata__has_no_order_inversions(case):
    """Paper 2, Prop. 9(3), in whole atoms: a larger winner never keeps less PnL than a smaller.
    Small PnL makes the remainder ties (where this can break) common."""
    budget, winners = case
    x = wealth_pro_rata(budget, winners)
    event = Allocation(
        budget, tuple(Cut(f"w{i}", u, xi) for i, (u, xi) in enumerate(zip(winners, x, strict=True)))
    )
    assert order_inversions(event).count == 0
