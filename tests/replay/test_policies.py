"""The replay's ADL policies side by side (perpvault.replay.policies): one event split four ways
by hand, the naive split against the naive totals, and a whole replay's table on the model."""

from __future__ import annotations

from fractions import Fraction

import pytest

from perpvault import replay
from perpvault.replay import Naive, naive_adl
from perpvault.replay.policies import POLICIES, Candidate, MarketAdl, event_allocations, naive_split, proportional
from perpvault.scenarios import build

WAD = 10**18
USDC = 10**6
PRICE = 53_000 * WAD


# The worked example's ADL (docs/mechanism.md): a bankrupt long of 1 BTC at 53,000, S = 530 USDC.
# Three shorts in rank order: A 0.6 BTC up 1,000, B 0.4 BTC up 200, C 1 BTC down 50.
SIDE = (
    Candidate("a", 6 * WAD // 10, 1_000 * USDC, 0, 30),
    Candidate("b", 4 * WAD // 10, 200 * USDC, 1, 20),
    Candidate("c", WAD, -50 * USDC, 2, -1),
)
EVENT = MarketAdl(market=0, close=-WAD, shortfall=530 * USDC, price=PRICE, side=SIDE)
# What the contracts ran: the queue takes A whole, then B, at the ADL price.
RUN = [{"counterparty": "a", "market": 0, "size": 6 * WAD // 10, "haircut": 318 * USDC},
       {"counterparty": "b", "market": 0, "size": 4 * WAD // 10, "haircut": 212 * USDC}]


def _by_hand():
    return event_allocations(530 * USDC, [EVENT], RUN, {})


def _taken(allocation):
    return {c.trader: c.taken for c in allocation.cuts}


def test_one_event__each_policy_takes_what_its_rule_says():
    a = _by_hand()
    assert set(a) == set(POLICIES)
    assert _taken(a["queue"]) == {"a": 318 * USDC, "b": 212 * USDC, "c": 0}
    # A and B cover the 1 BTC exactly: the naive policy takes the same.
    assert _taken(a["naive"]) == {"a": 318 * USDC, "b": 212 * USDC, "c": 0}
    # In proportion to size 0.6 : 0.4 : 1.0 of 530, loser C included.
    assert _taken(a["size_pro_rata"]) == {"a": 159 * USDC, "b": 106 * USDC, "c": 265 * USDC}
    # 530 / 1,200 of each winner's positive PnL, in atoms: floors 441,666,666 and 88,333,333, the
    # last atom to A (441,666,667 / 10^9 < 88,333,334 / (2 * 10^8)).
    assert _taken(a["wealth_pro_rata"]) == {"a": 441_666_667, "b": 88_333_333, "c": 0}
    # Every policy is measured on the same candidates, PnL and ranks.
    for alloc in a.values():
        assert [(c.trader, c.pnl, c.rank) for c in alloc.cuts] == [(c.trader, c.pnl, c.rank) for c in SIDE]


def test_one_event__the_metrics_by_hand():
    from perpvault.fairness import event_metrics

    a = _by_hand()
    m = {p: event_metrics(x) for p, x in a.items()}
    optimum = Fraction(441_666_667, 1_000 * USDC)
    assert all(e.max_pct_optimum == optimum for e in m.values())
    # The queue empties B's PnL and more (212 of 200): max_pct 1.06.
    assert m["queue"].max_pct == Fraction(212, 200)
    assert m["queue"].fairness_regret == (Fraction(212, 200) - optimum) * 530 * USDC
    assert m["size_pro_rata"].max_pct == Fraction(106, 200)
    assert m["size_pro_rata"].no_pnl_cuts.count == 1 and m["size_pro_rata"].no_pnl_cuts.amount == 265 * USDC
    assert m["wealth_pro_rata"].fairness_regret == 0
    assert all(e.tracking == 0 for e in m.values())
    assert len(m["queue"].touched) == 2 and len(m["size_pro_rata"].touched) == 3
    assert len(m["wealth_pro_rata"].touched) == 2
    # Notional: the queue and the naive close 1 BTC; size pro-rata 0.3 + 0.2 + 0.5 BTC; wealth none.
    assert m["queue"].notional_closed == m["naive"].notional_closed == 53_000 * USDC
    assert m["size_pro_rata"].notional_closed == 53_000 * USDC
    assert m["wealth_pro_rata"].notional_closed == 0


@pytest.mark.parametrize("sizes", [(6, 4), (20, 4), (5, 8)])
def test_naive_split__per_trader_sums_to_the_naive_cut(sizes):
    queue = [(t, s * WAD // 10) for t, s in zip("ab", sizes, strict=True)]
    totals = Naive()
    naive_adl(queue, -WAD, 530 * USDC, set(), totals, PRICE, 0)
    side = [Candidate(t, s, 0, k, 0) for k, (t, s) in enumerate(queue)]
    taken, closed = naive_split(side, -WAD, 530 * USDC, set())
    assert sum(taken.values()) == totals.haircuts
    assert set(closed) == totals.touched


def test_naive_split__positions_closed_at_an_earlier_event_are_gone():
    gone = {"a"}
    taken, closed = naive_split(SIDE, -WAD, 530 * USDC, gone)
    # B (0.4) and C (1.0) close 1.4 BTC for the 1-BTC bankrupt: 1.4 x 530 in proportion to size.
    assert taken == {"b": 212 * USDC, "c": 530 * USDC}
    assert gone == {"a", "b", "c"}


@pytest.mark.parametrize("budget, weights, expected", [
    (10, [1, 1, 1], [4, 3, 3]),
    (5, [1, 2, 2], [1, 2, 2]),
    (7, [0, 3, 4], [0, 3, 4]),
    (0, [5, 6], [0, 0]),
    (3, [0, 0], [0, 0]),
])
def test_proportional__floors_then_largest_remainders(budget, weights, expected):
    assert proportional(budget, weights) == expected


@pytest.fixture(scope="module")
def oct10_on_the_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("oct10")
    return replay.run(build("oct10"), out, progress=False, chain=False), out


def test_replay__every_adl_event_under_every_policy(oct10_on_the_model):
    r, out = oct10_on_the_model
    P = r["adl_policies"]
    assert P["events"] and set(P["totals"]) == set(POLICIES)
    assert sum(e["queue"]["needed"] for e in P["events"]) == r["adl"]["uncovered_shortfall"]
    # What the contracts ran takes each event's shortfall exactly, and so does size pro-rata: so
    # neither can have a max_pct below the min-max optimum. The reference takes at most the
    # winners' positive PnL, and its regret is zero.
    for e in P["events"]:
        for p in ("queue", "size_pro_rata"):
            assert e[p]["taken"] == e[p]["needed"], (e["step"], p)
            assert e[p]["max_pct"] >= e[p]["max_pct_optimum"], (e["step"], p)
        assert e["wealth_pro_rata"]["taken"] <= e["wealth_pro_rata"]["needed"]
        assert e["wealth_pro_rata"]["fairness_regret"] == 0
    T = P["totals"]
    assert T["queue"]["taken"] == r["adl"]["haircuts"] and T["queue"]["tracking"] == 0
    # The naive totals are the naive comparison's: its overshoot, and its haircuts are what it
    # took from traders plus the shortfall of the events where its queue had run out.
    naive = r["naive_comparison"]
    assert T["naive"]["overshoot"] == naive["overshoot"] > 0
    assert T["naive"]["taken"] + T["naive"]["undershoot"] == naive["haircuts"]
    assert T["queue"]["fairness_regret"] > T["wealth_pro_rata"]["fairness_regret"] == 0
    md = (out / "report.md").read_text()
    assert "## ADL policies side by side" in md and "size pro-rata is computed on the model, not run" in md
    assert (out / "adl_policies.png").stat().st_size > 10_000
