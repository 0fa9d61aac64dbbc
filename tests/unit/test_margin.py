"""Margin: deposits, withdrawals, equity and health views, realized PnL, entry prices, flips.

Funding is switched off here (cap 0) so every equity is exact from the spec's formulas; funding
has its own file.
"""

import ape
import pytest

from perpvault.units import price, size, usdc
from tests.unit.conftest import TRADER_DEPOSIT
from tests.utils import spec
from tests.utils.checks import assert_invariants
from tests.utils.trading import fund_account, set_price, trade

BTC, ETH = 0, 1
BTC_IMR, BTC_MMR, MAKER_FEE, TAKER_FEE = 100_000, 50_000, 200, 500
ETH_IMR, ETH_MMR = 125_000, 62_500


@pytest.fixture
def books(no_funding, funded):
    """Reference books of maker and taker in the BTC market, from TRADER_DEPOSIT."""
    return spec.Book(margin=TRADER_DEPOSIT), spec.Book(margin=TRADER_DEPOSIT)


def test_deposit__credits_margin_and_moves_tokens(system, trader):
    fund_account(system, trader, usdc(250), deposit=False)
    tx = system.clearinghouse.deposit(usdc(250), sender=trader)
    assert system.clearinghouse.margin(trader) == usdc(250)
    assert system.usdc.balanceOf(trader) == 0
    assert system.usdc.balanceOf(system.clearinghouse) == usdc(250)
    assert system.clearinghouse.is_known(trader)
    deposited = [e for e in tx.events if e.event_name == "Deposited"]
    assert len(deposited) == 1 and deposited[0].account == trader.address and deposited[0].amount == usdc(250)
    assert_invariants(system)


def test_deposit__twice__adds_up_and_remembers_account_once(system, trader):
    fund_account(system, trader, usdc(100))
    count = system.clearinghouse.account_count()
    fund_account(system, trader, usdc(23))
    assert system.clearinghouse.margin(trader) == usdc(123)
    assert system.clearinghouse.account_count() == count
    assert_invariants(system)


def test_withdraw__all_without_positions__returns_tokens(system, trader):
    fund_account(system, trader, usdc(100))
    tx = system.clearinghouse.withdraw(usdc(100), sender=trader)
    assert system.clearinghouse.margin(trader) == 0
    assert system.usdc.balanceOf(trader) == usdc(100)
    assert system.usdc.balanceOf(system.clearinghouse) == 0
    withdrawn = [e for e in tx.events if e.event_name == "Withdrawn"]
    assert len(withdrawn) == 1 and withdrawn[0].account == trader.address and withdrawn[0].amount == usdc(100)
    assert_invariants(system)


def test_withdraw__beyond_free_collateral__reverts(system, books, maker, taker, chain):
    _, taker_book = books
    trade(system, maker, taker, BTC, size("10"), price(60_000), chain=chain)
    taker_book.buy(size("10"), price(60_000), TAKER_FEE)
    free = taker_book.equity(price(60_000)) - spec.requirement(size("10"), price(60_000), BTC_IMR)
    assert free > 0
    with ape.reverts("ch: insufficient margin"):
        system.clearinghouse.withdraw(free + 1, sender=taker)
    system.clearinghouse.withdraw(free, sender=taker)
    assert system.usdc.balanceOf(taker) == free
    assert system.clearinghouse.free_collateral(taker) == 0
    assert_invariants(system)


def test_views__after_fill__match_spec_formulas(system, books, maker, taker, chain):
    maker_book, taker_book = books
    q, p = size("1.7"), price(60_000)
    trade(system, maker, taker, BTC, q, p, chain=chain)
    taker_fee = taker_book.buy(q, p, TAKER_FEE)
    maker_book.sell(q, p, MAKER_FEE)
    assert taker_fee == spec.ceil_div(q * p * TAKER_FEE, 10**36)
    for account, book in ((taker, taker_book), (maker, maker_book)):
        equity = book.equity(p)
        initial = spec.requirement(book.size, p, BTC_IMR)
        maintenance = spec.requirement(book.size, p, BTC_MMR)
        notional = spec.notional(book.size, p)
        assert system.clearinghouse.margin(account) == book.margin
        assert system.clearinghouse.equity(account) == equity
        assert tuple(system.clearinghouse.health(account)) == (equity, initial, maintenance, notional)
        assert tuple(system.clearinghouse.margin_requirements(account)) == (initial, maintenance)
        assert system.clearinghouse.free_collateral(account) == equity - initial
        assert not system.clearinghouse.is_liquidatable(account)
    assert_invariants(system)


def test_views__cross_margin__sum_over_markets(system, books, maker, taker, chain):
    maker_book, taker_book = books
    eth_book = spec.Book()
    trade(system, maker, taker, BTC, size("0.5"), price(60_000), chain=chain)
    trade(system, maker, taker, ETH, -size("7"), price(3_000), chain=chain)
    taker_book.buy(size("0.5"), price(60_000), TAKER_FEE)
    eth_book.sell(size("7"), price(3_000), TAKER_FEE)
    set_price(system, BTC, price(61_003))
    set_price(system, ETH, price(2_989))
    equity = taker_book.equity(price(61_003)) + eth_book.equity(price(2_989))
    initial = spec.requirement(size("0.5"), price(61_003), BTC_IMR) + spec.requirement(size("7"), price(2_989), ETH_IMR)
    maintenance = spec.requirement(size("0.5"), price(61_003), BTC_MMR) + spec.requirement(size("7"), price(2_989),
                                                                                           ETH_MMR)
    notional = spec.notional(size("0.5"), price(61_003)) + spec.notional(size("7"), price(2_989))
    assert tuple(system.clearinghouse.health(taker)) == (equity, initial, maintenance, notional)
    assert system.clearinghouse.free_collateral(taker) == equity - initial
    assert_invariants(system)


def test_health__price_moves_against_leveraged_long__becomes_liquidatable(system, no_funding, maker, taker, chain):
    fund_account(system, maker, usdc(100_000))
    fund_account(system, taker, usdc(1_000))
    book = spec.Book(margin=usdc(1_000))
    q = size("0.15")
    trade(system, maker, taker, BTC, q, price(60_000), chain=chain)
    book.buy(q, price(60_000), TAKER_FEE)
    set_price(system, BTC, price(57_000))
    assert book.equity(price(57_000)) >= spec.requirement(q, price(57_000), BTC_MMR)
    assert not system.clearinghouse.is_liquidatable(taker)
    assert system.clearinghouse.free_collateral(taker) == 0  # below initial: nothing to withdraw
    set_price(system, BTC, price(55_000))
    assert book.equity(price(55_000)) < spec.requirement(q, price(55_000), BTC_MMR)
    assert system.clearinghouse.is_liquidatable(taker)
    assert system.clearinghouse.equity(taker) == book.equity(price(55_000))
    assert_invariants(system)


def test_reduce__long_at_profit__realizes_pnl_into_margin(system, books, maker, taker, chain):
    maker_book, taker_book = books
    trade(system, maker, taker, BTC, size("0.3"), price(60_000), chain=chain)
    taker_book.buy(size("0.3"), price(60_000), TAKER_FEE)
    maker_book.sell(size("0.3"), price(60_000), MAKER_FEE)
    set_price(system, BTC, price(61_237))
    trade(system, maker, taker, BTC, -size("0.1"), price(61_237), chain=chain)
    basis_before = taker_book.basis
    fee = taker_book.sell(size("0.1"), price(61_237), TAKER_FEE)
    maker_book.buy(size("0.1"), price(61_237), MAKER_FEE)
    # Realized: what the 0.1 sold for minus a third of the cost basis (what remains keeps its entry).
    realized = spec.value(size("0.1"), price(61_237)) - (basis_before - basis_before * 2 // 3)
    assert taker_book.margin == TRADER_DEPOSIT - spec.fee(size("0.3"), price(60_000), TAKER_FEE) - fee + realized
    assert realized > 0
    assert system.clearinghouse.margin(taker) == taker_book.margin
    assert tuple(system.clearinghouse.position(taker, BTC))[:2] == (size("0.2"), taker_book.basis)
    assert system.clearinghouse.margin(maker) == maker_book.margin
    assert tuple(system.clearinghouse.position(maker, BTC))[:2] == (-size("0.2"), maker_book.basis)
    assert_invariants(system)


def test_reduce__short_at_loss__realizes_loss_and_keeps_entry(system, books, maker, taker, chain):
    maker_book, taker_book = books
    trade(system, maker, taker, BTC, -size("0.7"), price(60_000), chain=chain)
    taker_book.sell(size("0.7"), price(60_000), TAKER_FEE)
    maker_book.buy(size("0.7"), price(60_000), MAKER_FEE)
    set_price(system, BTC, price(60_917))
    trade(system, maker, taker, BTC, size("0.3"), price(60_917), chain=chain)
    margin_before = taker_book.margin
    fee = taker_book.buy(size("0.3"), price(60_917), TAKER_FEE)
    maker_book.sell(size("0.3"), price(60_917), MAKER_FEE)
    assert taker_book.margin - margin_before + fee < 0  # a loss was realized
    assert system.clearinghouse.margin(taker) == taker_book.margin
    sz, basis, entry = system.clearinghouse.position(taker, BTC)
    assert (sz, basis) == (-size("0.4"), taker_book.basis)
    # The remaining short keeps the entry price of 60,000 (to within the rounding of the basis).
    assert abs(entry - price(60_000)) <= 10**30 // size("0.4") + 1
    assert system.clearinghouse.margin(maker) == maker_book.margin
    assert_invariants(system)


def test_increase__entry_price__is_size_weighted_average(system, books, maker, taker, chain):
    _, taker_book = books
    trade(system, maker, taker, BTC, size("0.1"), price(60_000), chain=chain)
    set_price(system, BTC, price(61_001))
    trade(system, maker, taker, BTC, size("0.2"), price(61_001), chain=chain)
    taker_book.buy(size("0.1"), price(60_000), TAKER_FEE)
    taker_book.buy(size("0.2"), price(61_001), TAKER_FEE)
    expected_basis = spec.notional(size("0.1"), price(60_000)) + spec.notional(size("0.2"), price(61_001))
    sz, basis, entry = system.clearinghouse.position(taker, BTC)
    assert (sz, basis) == (size("0.3"), expected_basis)
    assert entry == expected_basis * 10**30 // size("0.3")
    assert entry == (price(60_000) + 2 * price(61_001)) // 3  # 60,667.333...
    assert system.clearinghouse.margin(taker) == taker_book.margin  # opening realizes nothing but fees
    assert_invariants(system)


def test_flip__long_to_short__realizes_all_and_enters_at_fill(system, books, maker, taker, chain):
    maker_book, taker_book = books
    trade(system, maker, taker, BTC, size("0.1"), price(60_000), chain=chain)
    taker_book.buy(size("0.1"), price(60_000), TAKER_FEE)
    maker_book.sell(size("0.1"), price(60_000), MAKER_FEE)
    set_price(system, BTC, price(59_011))
    trade(system, maker, taker, BTC, -size("0.3"), price(59_011), chain=chain)
    taker_book.sell(size("0.3"), price(59_011), TAKER_FEE)
    maker_book.buy(size("0.3"), price(59_011), MAKER_FEE)
    sz, basis, entry = system.clearinghouse.position(taker, BTC)
    assert (sz, basis) == (-size("0.2"), taker_book.basis)
    # Two thirds of the sale proceeds are the new short's basis: entry is the fill price.
    assert basis == -(spec.value(size("0.3"), price(59_011)) * 2 // 3)
    assert entry == price(59_011)
    # The whole long was closed: realized PnL is a third of the proceeds minus its full cost.
    proceeds = spec.value(size("0.3"), price(59_011))
    realized = proceeds - proceeds * 2 // 3 - spec.notional(size("0.1"), price(60_000))
    fees = spec.fee(size("0.1"), price(60_000), TAKER_FEE) + spec.fee(size("0.3"), price(59_011), TAKER_FEE)
    assert system.clearinghouse.margin(taker) == TRADER_DEPOSIT - fees + realized == taker_book.margin
    assert tuple(system.clearinghouse.position(maker, BTC))[:2] == (size("0.2"), maker_book.basis)
    assert system.clearinghouse.margin(maker) == maker_book.margin
    assert_invariants(system)


def test_close__whole_position__clears_market_and_entry(system, books, maker, taker, chain):
    _, taker_book = books
    trade(system, maker, taker, BTC, size("0.4"), price(60_000), chain=chain)
    trade(system, maker, taker, BTC, -size("0.4"), price(60_000), chain=chain)
    taker_book.buy(size("0.4"), price(60_000), TAKER_FEE)
    taker_book.sell(size("0.4"), price(60_000), TAKER_FEE)
    assert tuple(system.clearinghouse.position(taker, BTC)) == (0, 0, 0)
    assert system.clearinghouse.market_mask(taker) == 0
    assert system.clearinghouse.margin(taker) == taker_book.margin
    assert tuple(system.clearinghouse.health(taker)) == (taker_book.margin, 0, 0, 0)
    system.clearinghouse.withdraw(taker_book.margin, sender=taker)
    assert system.usdc.balanceOf(taker) == taker_book.margin
    assert_invariants(system)


def test_withdraw__with_open_position__settles_and_keeps_initial(system, books, maker, taker, chain):
    _, taker_book = books
    trade(system, maker, taker, BTC, size("1"), price(60_000), chain=chain)
    taker_book.buy(size("1"), price(60_000), TAKER_FEE)
    set_price(system, BTC, price(62_000))  # unrealized profit counts toward free collateral
    free = taker_book.equity(price(62_000)) - spec.requirement(size("1"), price(62_000), BTC_IMR)
    assert free > TRADER_DEPOSIT - spec.requirement(size("1"), price(60_000), BTC_IMR)
    assert system.clearinghouse.free_collateral(taker) == free
    system.clearinghouse.withdraw(free, sender=taker)
    assert system.clearinghouse.free_collateral(taker) == 0
    assert system.clearinghouse.margin(taker) == taker_book.margin - free
    assert_invariants(system)
