"""ADL views (SPEC 6.3, "Views"): the score, the queue place and quantile (ADL lights) from
RiskLens, and the head of a side's queue, against the spec's ordering and the keeper's."""

from __future__ import annotations

import pytest

from perpvault.units import size
from tests.waterfall.books import BTC, ETH
from tests.waterfall.spec import equity_of, score
from tests.waterfall.test_adl import CRASH, expected_queue

SHORTS = {"maker": size("0.4"), "a9": size("0.25"), "a8": size("0.3")}


@pytest.mark.parametrize("key", list(SHORTS))
def test_adl_score__matches_the_spec_formula(system, crashed_book, key):
    margins, basis, names = crashed_book
    a, q = names[key], -SHORTS[key]
    exact = score(q, basis[a], CRASH, equity_of(margins[a], q, basis[a], CRASH))
    # WAD, two truncations: pnl% (error < 1e-18) times leverage (< 4), then the product.
    assert abs(system.clearinghouse.adl_score(a, BTC) - exact * 10**18) < 5


def test_adl_queue__short_side__matches_python_ranking(system, crashed_book, liquidator):
    margins, basis, names = crashed_book
    queue = expected_queue(system, margins, basis, names)
    lens = system.lens
    assert list(lens.adl_queue(BTC, False, 64)) == queue == liquidator.adl_queue(BTC, longs=False)
    assert list(lens.adl_queue(BTC, False, 2)) == queue[:2]
    assert list(lens.adl_queue(ETH, False, 64)) == []


def test_adl_queue__long_side__bankrupt_first(system, crashed_book, liquidator):
    """The bankrupt long has equity <= 0: infinite leverage, so its loss-making score is ~0 and it
    ranks ahead of the trader's (-11.75% / 0.89 = -0.132)."""
    _, _, names = crashed_book
    expected = [names["taker"].address, names["trader"].address]
    assert list(system.lens.adl_queue(BTC, True, 64)) == expected == liquidator.adl_queue(BTC, longs=True)


@pytest.mark.parametrize("place", [1, 2, 3, 4])
def test_adl_rank__place_and_quantile(system, crashed_book, place):
    """Four shorts: places 1..4 light 5, 4, 3, 2 (quantile = 5 - (place - 1) * 5 // count)."""
    margins, basis, names = crashed_book
    account = expected_queue(system, margins, basis, names)[place - 1]
    assert tuple(system.lens.adl_rank(account, BTC)) == (place, 4, [5, 4, 3, 2][place - 1])


def test_adl_rank__flat_account__zero(system, crashed_book, stranger):
    assert tuple(system.lens.adl_rank(stranger, BTC)) == (0, 0, 0)


def test_adl_rank__five_positions__lights_5_to_1(system, crashed_book, chain, lp, liquidator):
    """A fifth short (lp sells 0.1 to trader): places 1..5 light 5, 4, 3, 2, 1."""
    from perpvault.units import usdc
    from tests.waterfall.books import fill, fund

    _, _, names = crashed_book
    margins = {lp: fund(system, lp, usdc(50_000))}
    fill(system, chain, names["trader"], lp, BTC, size("0.1"), CRASH, margins, margins)
    queue = list(system.lens.adl_queue(BTC, False, 64))
    assert len(queue) == 5 and queue == liquidator.adl_queue(BTC, longs=False)
    lights = [tuple(system.lens.adl_rank(a, BTC)) for a in queue]
    assert lights == [(i + 1, 5, 5 - i) for i in range(5)]


def _rpc_view(system, chain):
    from perpvault.adl_rank import rpc_view

    return rpc_view(chain.provider.uri, system.clearinghouse.address)


@pytest.mark.parametrize("place", [1, 2, 3, 4])
def test_adl_rank_command__reads_the_side_from_a_node__as_risklens_ranks_it(system, crashed_book, chain, place):
    """`perpvault adl-rank`'s reading (over JSON-RPC, from the Clearinghouse's side list): the
    same place, count and quantile as RiskLens, the size ranked above it, the queue's head."""
    from perpvault.adl_rank import adl_standing

    margins, basis, names = crashed_book
    queue = expected_queue(system, margins, basis, names)
    account = queue[place - 1]
    standing = adl_standing(_rpc_view(system, chain), account, BTC, top=2)
    assert (standing.place, standing.count, standing.quantile) == tuple(system.lens.adl_rank(account, BTC))
    sizes = [abs(system.clearinghouse.positions(a, BTC).size) for a in queue]
    assert standing.size_ahead == sum(sizes[: place - 1])
    assert [a for a, _ in standing.head] == queue[:2]
    assert standing.score == system.clearinghouse.adl_score(account, BTC)
    assert f"place {place} of 4 on the short side" in standing.describe()


def test_adl_rank_command__prints_the_standing_and_refuses_an_unknown_market(system, crashed_book, chain, capsys):
    from perpvault.cli import main

    _, _, names = crashed_book
    args = ["adl-rank", "--url", chain.provider.uri, "--clearinghouse", system.clearinghouse.address]
    assert main([*args, "--market", "0", names["maker"].address]) == 0
    assert "place 1 of 4 on the short side, quantile 5" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main([*args, "--market", "7", names["maker"].address])
    assert exc.value.code == 2
    assert "--market 7: the Clearinghouse lists markets 0..1" in capsys.readouterr().err
