"""ADL (SPEC 6.3): the keeper's ordered counterparties, checked by the contract, table-driven."""

from __future__ import annotations

import pytest

from perpvault.units import price, size, usdc
from tests.waterfall.books import BTC, CRASH, MAKER_FEE, fill, fund
from tests.waterfall.spec import (
    adl_order,
    assert_reverts,
    assert_waterfall_sound,
    charge,
    donate,
    equity_of,
    events,
    mark_value,
    pro_rata,
    score,
    sizes,
    walk_price,
)


def expected_queue(system, margins, basis, names) -> list[str]:
    """The short side's queue from the spec's score; the vault's equity is read (its fee income
    is not this test's subject), every other number is computed."""
    ch = system.clearinghouse
    entries = []
    for key in ("maker", "a9", "a8"):
        a = names[key]
        q = -{"maker": size("0.4"), "a9": size("0.25"), "a8": size("0.3")}[key]
        entries.append((a.address, score(q, basis[a], CRASH, equity_of(margins[a], q, basis[a], CRASH))))
    v = system.vault
    vq, vbasis = ch.positions(v, BTC).size, ch.positions(v, BTC).open_notional
    entries.append((v.address, score(vq, vbasis, CRASH, ch.equity(v))))
    return adl_order(entries)


# The crashed book's 907.79625 shortfall (933.0015 of debt less the fund's 25.20525 of dues)
# over 0.4, 0.25, 0.3 and 0.05 BTC, pro rata by size, the last the remainder.
HAIRCUTS = [363_118_500, 226_949_062, 272_338_875, 45_389_813]


def test_adl__keeper_list__trader_and_vault__last_reduced_partially(system, crashed_book, liquidator, taker):
    margins, basis, names = crashed_book
    ch = system.clearinghouse
    deficit = -equity_of(margins[taker], size(1), basis[taker], CRASH)
    assert deficit == usdc("933.0015")
    dues = ch.insurance_due()
    assert dues == usdc("25.20525")  # half the book's fill fees: the fund's money, paid first
    shortfall = deficit - dues
    queue = expected_queue(system, margins, basis, names)
    assert queue == [names[k].address for k in ("maker", "a9", "a8", "vault")]
    assert liquidator.adl_queue(BTC, longs=False) == queue
    assert liquidator.counterparties(taker) == queue
    before = sizes(system)
    result = liquidator.liquidate(taker)
    r = result.receipt
    assert [e.amount for e in events(r, "BadDebtCovered")] == [dues]
    assert events(r, "ShortfallSocialized")[0].amount == shortfall
    takes = [size("0.4"), size("0.25"), size("0.3"), size("0.05")]
    dl = events(r, "Deleveraged")
    assert [d.counterparty for d in dl] == queue
    assert [d.size for d in dl] == takes
    assert [d.haircut for d in dl] == pro_rata(shortfall, takes) == HAIRCUTS
    # The vault, last, is reduced from 0.35 to 0.3 short: never flipped.
    assert ch.positions(system.vault, BTC).size == -size("0.3")
    # Counterparties pay the maker fee on the mark notional of what they give up.
    maker = names["maker"]
    assert ch.margin(maker) == margins[maker] - basis[maker] - mark_value(size("0.4"), CRASH) - HAIRCUTS[0] - charge(
        size("0.4"), CRASH, MAKER_FEE)
    assert_waterfall_sound(system, r, taker, before)


REVERTS = [
    ("unsorted", ["a9", "maker", "a8", "vault"], "ch: adl order"),
    ("same_side", ["trader", "maker", "a9", "a8", "vault"], "ch: adl counterparty same side"),
    ("zero_position", ["stranger", "maker", "a9", "a8", "vault"], "ch: adl counterparty has no position"),
    ("bankrupt_itself", ["taker", "maker", "a9", "a8", "vault"], "ch: adl bankrupt as counterparty"),
    ("duplicated", ["maker", "maker", "a9", "a8", "vault"], "ch: adl counterparty has no position"),
    ("duplicated_last", ["maker", "a9", "a8", "a8", "vault"], "ch: adl counterparty has no position"),
    ("vault_too_early", ["maker", "vault", "a9", "a8"], "ch: adl order"),
    ("too_short", ["maker", "a9", "a8"], "ch: adl list too short"),
    ("empty", [], "ch: adl list too short"),
]


@pytest.mark.parametrize("case,names_list,reason", REVERTS, ids=[r[0] for r in REVERTS])
def test_adl__bad_list__reverts(system, crashed_book, keeper, taker, stranger, case, names_list, reason):
    _, _, names = crashed_book
    names = dict(names, stranger=stranger)
    assert_reverts(system.clearinghouse, "liquidate", (taker, [names[k] for k in names_list]), keeper, reason)


def test_adl__skipping_a_higher_ranked_position__refused(system, crashed_book, keeper, taker):
    """R9: a sorted list that covers the close but leaves out a position ranked above the last
    one it closes (a8, third in line) is refused, and nothing moves
    (tests/security/test_attack_adl_queue.py: the attack with numbers)."""
    _, _, names = crashed_book
    assert_reverts(system.clearinghouse, "liquidate", (taker, [names[k] for k in ("maker", "a9", "vault")]),
                   keeper, "ch: adl skipped a higher-ranked position")


@pytest.fixture
def tied_book(system, chain, taker, others):
    """Two identical shorts (0.3 BTC each, 5,000 margin, same entry): equal scores."""
    a8, a9 = others
    margins = {taker: fund(system, taker, usdc(3_700))}
    for a in others:
        margins[a] = fund(system, a, usdc(5_000))
        fill(system, chain, taker, a, BTC, size("0.3"), price(60_000), margins, margins)
    walk_price(system, BTC, CRASH)
    return sorted(others, key=lambda a: int(a.address, 16))


@pytest.mark.parametrize("order,reason", [("by_address", None), ("reversed", "ch: adl order")])
def test_adl__tie__broken_by_lower_address(system, tied_book, liquidator, keeper, taker, order, reason):
    ch = system.clearinghouse
    low, high = tied_book
    assert ch.adl_score(low, BTC) == ch.adl_score(high, BTC)
    cps = [low, high] if order == "by_address" else [high, low]
    if reason:
        assert_reverts(ch, "liquidate", (taker, cps), keeper, reason)
        return
    assert liquidator.counterparties(taker) == [low.address, high.address]
    before = sizes(system)
    r = ch.liquidate(taker, cps, sender=keeper)
    shortfall = events(r, "ShortfallSocialized")[0].amount
    assert [d.haircut for d in events(r, "Deleveraged")] == pro_rata(shortfall, [size("0.3")] * 2)
    assert_waterfall_sound(system, r, taker, before)


# Prime prices, sizes and fund: every division leaves a remainder.
P0 = 60_013_000_000_000_000_000_087
P1 = 52_979_000_000_000_000_000_057
Q1 = 613_000_000_000_000_091
Q2 = 389_000_000_000_000_083
FUND = 331_000_013


def test_adl__prime_prices_and_sizes__haircuts_sum_exactly(system, chain, liquidator, taker, maker, others):
    ch = system.clearinghouse
    a8 = others[0]
    walk_price(system, BTC, P0)
    margins = {taker: fund(system, taker, usdc(6_100)), maker: fund(system, maker, usdc(4_000)),
               a8: fund(system, a8, usdc(10_000))}
    fill(system, chain, taker, maker, BTC, Q1, P0, margins, margins)
    fill(system, chain, taker, a8, BTC, Q2, P0, margins, margins)
    donate(system, FUND)
    dues = ch.insurance_due()  # the fund's money too, paid first
    walk_price(system, BTC, P1)
    q = Q1 + Q2
    basis = -(-Q1 * P0 // 10**30) - (-Q2 * P0 // 10**30)  # the long pays each fill rounded up
    e = equity_of(margins[taker], q, basis, P1)
    assert ch.equity(taker) == e < 0
    shortfall = -e - FUND - dues
    before = sizes(system)
    result = liquidator.liquidate(taker)
    r = result.receipt
    assert result.counterparties == [maker.address, a8.address]
    assert events(r, "BadDebtCovered")[0].amount == dues + FUND
    assert events(r, "ShortfallSocialized")[0].amount == shortfall
    dl = events(r, "Deleveraged")
    assert [d.haircut for d in dl] == pro_rata(shortfall, [Q1, Q2])
    for d, take in zip(dl, (Q1, Q2)):
        # ADL price p = m - (E + paid) / q: the bankrupt long sells above mark by S / q.
        adl_price = P1 + shortfall * 10**30 // q
        assert abs(d.price - adl_price) <= 2 * 10**30 // take + 1
    assert ch.equity(taker) == 0
    assert_waterfall_sound(system, r, taker, before)


# A bankrupt short (the other sign of every rounding), prime numbers again.
E0 = 2_953_000_000_000_000_000_009
E1 = 3_359_000_000_000_000_000_017
S1 = 6_007_000_000_000_000_091
S2 = 4_001_000_000_000_000_021


def test_adl__bankrupt_short__longs_sell_below_mark(system, chain, liquidator, taker, maker, others):
    from tests.waterfall.books import ETH

    ch = system.clearinghouse
    a8 = others[0]
    walk_price(system, ETH, E0)
    margins = {taker: fund(system, taker, usdc(3_800)), maker: fund(system, maker, usdc(4_000)),
               a8: fund(system, a8, usdc(10_000))}
    # The short (taker) is the resting order of both fills: it pays the maker fee.
    fill(system, chain, maker, taker, ETH, S1, E0, margins, margins)
    fill(system, chain, a8, taker, ETH, S2, E0, margins, margins)
    walk_price(system, ETH, E1)
    q = -(S1 + S2)
    basis = -(S1 * E0 // 10**30) - (S2 * E0 // 10**30)  # the short receives each fill rounded down
    e = equity_of(margins[taker], q, basis, E1)
    assert ch.equity(taker) == e < 0
    dues = ch.insurance_due()  # the fund's money, paid first
    shortfall = -e - dues
    before = sizes(system)
    result = liquidator.liquidate(taker)
    r = result.receipt
    assert result.counterparties == [maker.address, a8.address]
    assert [e.amount for e in events(r, "BadDebtCovered")] == [dues]
    assert events(r, "ShortfallSocialized")[0].amount == shortfall
    dl = events(r, "Deleveraged")
    assert [d.size for d in dl] == [-S1, -S2]
    assert [d.haircut for d in dl] == pro_rata(shortfall, [S1, S2])
    adl_price = E1 - shortfall * 10**30 // (S1 + S2)  # p = m - (E + paid) / q, q < 0
    for d, take in zip(dl, (S1, S2)):
        assert abs(d.price - adl_price) <= 2 * 10**30 // take + 1
    assert ch.equity(taker) == 0
    assert_waterfall_sound(system, r, taker, before)


def test_adl__counterparty_that_cannot_pay_its_whole_part__gives_up_what_it_can(system, chain, liquidator, keeper,
                                                                                taker, others):
    """A counterparty's equity is cross-margined: a9 is short 1 BTC in profit (first in line)
    but long 10 ETH deep in loss, so the bankrupt long's shortfall exceeds its equity. ADL
    must not leave an account in debt (I4): the contract closes the largest part of a9's short
    whose share a9 can pay, so a9 ends at (almost exactly) zero equity, and the next short, a8,
    takes the rest; a9 keeps its place in the list. Leaving a9 out of the list is refused: it
    ranks above a8, and only the contract decides how much it can pay."""
    from tests.waterfall.books import ETH, buy_from_vault

    ch = system.clearinghouse
    a8, a9 = others
    margins = {taker: fund(system, taker, usdc(6_100)), a9: fund(system, a9, usdc(10_000)),
               a8: fund(system, a8, usdc(20_000))}
    fill(system, chain, taker, a9, BTC, size(1), price(60_000), margins, margins)
    buy_from_vault(system, a9, ETH, size(10), price(3_000))
    buy_from_vault(system, a8, BTC, -size(1), price(60_000))
    walk_price(system, BTC, price(45_000))
    walk_price(system, ETH, price(1_300))
    shortfall = -ch.equity(taker) - ch.insurance_due()  # the fund's dues pay first
    assert shortfall > ch.equity(a9) > ch.margin_requirements(a9)[1]  # healthy, but cannot absorb it
    assert liquidator.adl_queue(BTC, longs=False)[:2] == [a9.address, a8.address]
    assert_reverts(ch, "liquidate", (taker, [a9]), keeper, "ch: adl list too short")  # a9 alone is not enough
    assert_reverts(ch, "liquidate", (taker, [a8]), keeper, "ch: adl skipped a higher-ranked position")
    before = sizes(system)
    a9_eth = ch.positions(a9, ETH).size
    result = liquidator.liquidate(taker)
    assert result.counterparties == [a9.address, a8.address]
    d9, d8 = events(result.receipt, "Deleveraged")
    assert (d9.counterparty, d8.counterparty) == (a9.address, a8.address)
    assert 0 < d9.size < size(1) and d9.size + d8.size == size(1)  # a9 gave up part of its short
    assert d9.haircut + d8.haircut == shortfall
    # a9 paid all it could: its equity ends within a few atoms above zero (the part is sized
    # with 3 atoms of slack for the floors and the ceiled fee), its ETH long untouched.
    assert 0 <= ch.equity(a9) <= 5
    assert ch.positions(a9, BTC).size == -size(1) + d9.size and ch.positions(a9, ETH).size == a9_eth
    assert_waterfall_sound(system, result.receipt, taker, before)


def test_adl__counterparty_front_runs_the_keeper__stale_list_fails__replanned_list_exact(
    system, crashed_book, liquidator, keeper, taker
):
    """GMX audit #210: an account first in the ADL queue closes its position before the
    keeper's transaction lands. Its move is allowed (it buys back from the vault and pays for
    it); the keeper's stale list is re-validated at execution and reverts, nothing moves; the
    re-planned list socializes exactly the same shortfall against who is there now."""
    from tests.waterfall.books import buy_from_vault

    margins, basis, names = crashed_book
    ch = system.clearinghouse
    deficit = -equity_of(margins[taker], size(1), basis[taker], CRASH)
    stale = liquidator.counterparties(taker)
    assert stale[0] == names["maker"].address
    buy_from_vault(system, names["maker"], BTC, size("0.4"), CRASH)  # the front-run
    assert ch.positions(names["maker"], BTC).size == 0
    assert_reverts(ch, "liquidate", (taker, stale), keeper, "ch: adl counterparty has no position")
    dues = ch.insurance_due()  # the front-run's fee share included
    before = sizes(system)
    result = liquidator.liquidate(taker)
    assert names["maker"].address not in result.counterparties
    assert events(result.receipt, "ShortfallSocialized")[0].amount == deficit - dues
    assert_waterfall_sound(system, result.receipt, taker, before)
