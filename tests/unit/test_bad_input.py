"""Bad input: each is refused with its reason and leaves every balance as it was."""

import ape
import pytest

from perpvault.chain import DEFAULT_RISK, MarketSpec
from perpvault.units import price, size, usdc
from tests.utils.checks import assert_invariants
from tests.utils.trading import fund_account, signed

MAX_AMOUNT = 2**128
MAX_SIZE = 10**36


def balances(system, account):
    """Everything a refused call must not move."""
    ch = system.clearinghouse
    return (
        system.usdc.balanceOf(account),
        system.usdc.balanceOf(ch),
        ch.margin(account),
        ch.insurance_due(),
        ch.position(account, 0),
    )


def test_deposit__zero__reverts(system, trader):
    fund_account(system, trader, usdc(100))
    before = balances(system, trader)
    with ape.reverts("ch: zero amount"):
        system.clearinghouse.deposit(0, sender=trader)
    assert balances(system, trader) == before
    assert_invariants(system)


def test_withdraw__zero__reverts(system, trader):
    fund_account(system, trader, usdc(100))
    before = balances(system, trader)
    with ape.reverts("ch: zero amount"):
        system.clearinghouse.withdraw(0, sender=trader)
    assert balances(system, trader) == before
    assert_invariants(system)


HUGE_AMOUNTS = (MAX_AMOUNT + 1, 2**255 - 1, 2**255, 2**256 - 1)


def test_deposit__beyond_max_amount__reverts(system, trader):
    fund_account(system, trader, usdc(100))
    before = balances(system, trader)
    for amount in HUGE_AMOUNTS:
        with ape.reverts("ch: amount too large"):
            system.clearinghouse.deposit(amount, sender=trader)
    assert balances(system, trader) == before
    assert_invariants(system)


def test_withdraw__beyond_max_amount__reverts(system, trader):
    fund_account(system, trader, usdc(100))
    before = balances(system, trader)
    for amount in HUGE_AMOUNTS:
        with ape.reverts("ch: amount too large"):
            system.clearinghouse.withdraw(amount, sender=trader)
    assert balances(system, trader) == before
    assert_invariants(system)


def test_deposit__at_max_amount__passes_the_bound(system, trader):
    # MAX_AMOUNT itself is inside the bound: the deposit goes through when the caller has it.
    fund_account(system, trader, MAX_AMOUNT)
    assert system.clearinghouse.margin(trader) == MAX_AMOUNT
    assert system.usdc.balanceOf(system.clearinghouse) == MAX_AMOUNT
    assert_invariants(system)


def test_withdraw__beyond_free_collateral__reverts(system, trader):
    fund_account(system, trader, usdc(100))
    before = balances(system, trader)
    with ape.reverts("ch: insufficient margin"):
        system.clearinghouse.withdraw(usdc(100) + 1, sender=trader)
    assert balances(system, trader) == before
    assert_invariants(system)


def test_withdraw__never_deposited__reverts(system, stranger):
    before = balances(system, stranger)
    with ape.reverts("ch: insufficient margin"):
        system.clearinghouse.withdraw(1, sender=stranger)
    assert balances(system, stranger) == before
    assert_invariants(system)


def test_deposit__without_allowance__reverts(system, trader):
    system.usdc.mint(trader, usdc(100), sender=system.owner)
    before = balances(system, trader)
    with ape.reverts("erc20: insufficient allowance"):
        system.clearinghouse.deposit(usdc(100), sender=trader)
    assert balances(system, trader) == before
    assert_invariants(system)


def test_deposit__beyond_balance__reverts(system, trader):
    fund_account(system, trader, usdc(100), deposit=False)
    before = balances(system, trader)
    with ape.reverts("erc20: transfer amount exceeds balance"):
        system.clearinghouse.deposit(usdc(100) + 1, sender=trader)
    assert balances(system, trader) == before
    assert_invariants(system)


def test_match__fill_beyond_max_size__reverts(system, funded, maker, taker, chain):
    huge = MAX_SIZE + 1
    maker_order, maker_sig = signed(system, maker, 0, -huge, price(60_000), chain=chain)
    taker_order, taker_sig = signed(system, taker, 0, huge, price(60_000), chain=chain)
    before = balances(system, maker), balances(system, taker)
    with ape.reverts("ob: size too large"):
        system.order_book.match_orders(maker_order, maker_sig, taker_order, taker_sig, huge, sender=taker)
    assert (balances(system, maker), balances(system, taker)) == before
    assert_invariants(system)


@pytest.mark.parametrize("trade_size", [MAX_SIZE + 1, -(MAX_SIZE + 1), 2**255 - 1, -(2**255)])
def test_vault_trade__size_beyond_max_size__reverts(system, funded, vault_funded, trader, trade_size):
    before = balances(system, trader), balances(system, system.vault)
    limit = 2**256 - 1 if trade_size > 0 else 0
    with ape.reverts("ch: size too large"):
        system.vault.trade(0, trade_size, limit, sender=trader)
    assert (balances(system, trader), balances(system, system.vault)) == before
    assert_invariants(system)


@pytest.mark.parametrize("who", ["maker", "taker"])
def test_match__order_size_min_int256__reverts(system, funded, maker, taker, chain, who):
    # |-(2**255)| does not fit an int256: refused with a reason, not an arithmetic panic.
    maker_size, taker_size = (-(2**255), size("1")) if who == "maker" else (size("1"), -(2**255))
    maker_order, maker_sig = signed(system, maker, 0, maker_size, price(60_000), chain=chain)
    taker_order, taker_sig = signed(system, taker, 0, taker_size, price(60_000), chain=chain)
    before = balances(system, maker), balances(system, taker)
    with ape.reverts("ob: size too large"):
        system.order_book.match_orders(maker_order, maker_sig, taker_order, taker_sig, size("1"), sender=taker)
    assert (balances(system, maker), balances(system, taker)) == before
    assert_invariants(system)


def test_vault_trade__zero_size__reverts(system, funded, vault_funded, trader):
    before = balances(system, trader)
    with ape.reverts("vault: zero size"):
        system.vault.trade(0, 0, 0, sender=trader)
    assert balances(system, trader) == before
    assert_invariants(system)


def test_fill__unknown_market__reverts(system, funded, maker, taker, chain):
    maker_order, maker_sig = signed(system, maker, 7, -size("0.1"), price(60_000), chain=chain)
    taker_order, taker_sig = signed(system, taker, 7, size("0.1"), price(60_000), chain=chain)
    before = balances(system, maker), balances(system, taker)
    with ape.reverts("ch: unknown market"):
        system.order_book.match_orders(maker_order, maker_sig, taker_order, taker_sig, size("0.1"), sender=taker)
    assert (balances(system, maker), balances(system, taker)) == before
    assert_invariants(system)


@pytest.fixture
def fee_token_system(project, owner):
    """A fund and clearinghouse over a fee-on-transfer token (the collateral must refuse it)."""
    token = project.FeeOnTransferToken.deploy(sender=owner)
    fund = project.InsuranceFund.deploy(token, sender=owner)
    liquidator = project.Liquidator.deploy(token, fund, sender=owner)
    ch = project.Clearinghouse.deploy(token, fund, liquidator, DEFAULT_RISK, 86_400, sender=owner)
    fund.set_clearinghouse(ch, sender=owner)
    return token, fund, ch


def test_deposit__fee_on_transfer_collateral__reverts(system, fee_token_system, trader):
    token, fund, ch = fee_token_system
    token.mint(trader, usdc(1_000), sender=trader)
    token.approve(ch, 2**256 - 1, sender=trader)
    with ape.reverts("ch: token took a fee"):
        ch.deposit(usdc(1_000), sender=trader)
    assert token.balanceOf(trader) == usdc(1_000)
    assert token.balanceOf(ch) == 0
    assert ch.margin(trader) == 0
    assert ch.account_count() == 0
    assert_invariants(system)


def test_donate__fee_on_transfer_collateral__reverts(system, fee_token_system, trader):
    token, fund, ch = fee_token_system
    token.mint(trader, usdc(1_000), sender=trader)
    token.approve(fund, 2**256 - 1, sender=trader)
    with ape.reverts("fund: token took a fee"):
        fund.donate(usdc(1_000), sender=trader)
    assert token.balanceOf(trader) == usdc(1_000)
    assert token.balanceOf(fund) == 0
    assert fund.total_in() == 0
    assert_invariants(system)


# A position's size and open notional are stored as int128 (one slot): a fill the margin
# rule would allow but whose cost basis leaves int128 is refused with its own reason.
HUGE_PRICE = 10**33  # 10**15 USD a unit: 10**36 units are 10**39 atoms of notional


def test_match__cost_basis_beyond_int128__reverts(deploy_system, maker, taker, chain):
    system = deploy_system(markets=(MarketSpec("HUGE-PERP", HUGE_PRICE),))
    for account in (maker, taker):
        fund_account(system, account, MAX_AMOUNT)  # 3.4e38 atoms covers 10% of 1e39
    fill = MAX_SIZE  # notional 1e39 atoms > 2**127
    maker_order, maker_sig = signed(system, maker, 0, -fill, HUGE_PRICE, chain=chain)
    taker_order, taker_sig = signed(system, taker, 0, fill, HUGE_PRICE, chain=chain)
    before = balances(system, maker), balances(system, taker)
    with ape.reverts("ch: position too large"):
        system.order_book.match_orders(maker_order, maker_sig, taker_order, taker_sig, fill, sender=taker)
    assert (balances(system, maker), balances(system, taker)) == before
    # Just inside the bound the same accounts trade, and the basis reads back exactly.
    fill = MAX_SIZE // 10  # notional 1e38 atoms < 2**127
    maker_order, maker_sig = signed(system, maker, 0, -fill, HUGE_PRICE, chain=chain)
    taker_order, taker_sig = signed(system, taker, 0, fill, HUGE_PRICE, chain=chain)
    system.order_book.match_orders(maker_order, maker_sig, taker_order, taker_sig, fill, sender=taker)
    assert tuple(system.clearinghouse.positions(taker, 0))[:2] == (fill, 10**38)
    assert tuple(system.clearinghouse.positions(maker, 0))[:2] == (-fill, -(10**38))
    assert_invariants(system)
