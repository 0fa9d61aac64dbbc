"""InsuranceFund: donations, revenue and cover only from its clearinghouse, one-time binding, events."""

import ape
import pytest

from perpvault.units import usdc
from tests.utils.checks import assert_fund_accounting, assert_invariants

ZERO = "0x0000000000000000000000000000000000000000"


@pytest.fixture
def bound_fund(system, project, owner, keeper):
    """A fresh fund bound to `keeper` standing in for a clearinghouse, so in and out flows can be driven."""
    fund = project.InsuranceFund.deploy(system.usdc, sender=owner)
    fund.set_clearinghouse(keeper, sender=owner)
    system.usdc.mint(keeper, usdc(1_000), sender=owner)
    system.usdc.approve(fund, 2**256 - 1, sender=keeper)
    return fund


def test_donate__anyone__adds_to_fund_and_logs(system, trader):
    system.usdc.mint(trader, usdc(77), sender=system.owner)
    system.usdc.approve(system.fund, 2**256 - 1, sender=trader)
    tx = system.fund.donate(usdc(77), sender=trader)
    assert system.fund.total_in() == usdc(77) == system.fund.available()
    assert system.usdc.balanceOf(system.fund) == usdc(77)
    assert system.usdc.balanceOf(trader) == 0
    ev = tx.events.filter(system.fund.Donated)[0]
    assert (ev.donor, ev.amount) == (trader.address, usdc(77))
    assert_invariants(system)


def test_donate__zero__reverts(system, trader):
    with ape.reverts("fund: zero amount"):
        system.fund.donate(0, sender=trader)
    assert_invariants(system)


def test_donate__without_allowance__reverts(system, trader):
    system.usdc.mint(trader, usdc(1), sender=system.owner)
    with ape.reverts("erc20: insufficient allowance"):
        system.fund.donate(usdc(1), sender=trader)
    assert system.fund.total_in() == 0
    assert_invariants(system)


def test_receive_revenue__not_clearinghouse__reverts(system, stranger, owner):
    for who in (stranger, owner):
        with ape.reverts("fund: only clearinghouse"):
            system.fund.receive_revenue(1, sender=who)
    assert_invariants(system)


def test_cover__not_clearinghouse__reverts(system, trader, stranger, owner):
    system.usdc.mint(trader, usdc(10), sender=system.owner)
    system.usdc.approve(system.fund, 2**256 - 1, sender=trader)
    system.fund.donate(usdc(10), sender=trader)
    for who in (stranger, owner):
        with ape.reverts("fund: only clearinghouse"):
            system.fund.cover(usdc(1), sender=who)
    assert system.fund.total_out() == 0
    assert system.usdc.balanceOf(system.fund) == usdc(10)
    assert_invariants(system)


def test_receive_revenue__from_clearinghouse__pulls_and_logs(system, bound_fund, keeper):
    tx = bound_fund.receive_revenue(usdc(3) + 1, sender=keeper)
    assert bound_fund.total_in() == usdc(3) + 1
    assert system.usdc.balanceOf(bound_fund) == usdc(3) + 1
    assert system.usdc.balanceOf(keeper) == usdc(1_000) - usdc(3) - 1
    assert tx.events.filter(bound_fund.RevenueReceived)[0].amount == usdc(3) + 1
    with ape.reverts("fund: zero amount"):
        bound_fund.receive_revenue(0, sender=keeper)
    assert_invariants(system)



def test_cover__within_balance__pays_requested(system, bound_fund, keeper):
    bound_fund.receive_revenue(usdc(100), sender=keeper)
    tx = bound_fund.cover(usdc(40) + 3, sender=keeper)
    assert tx.return_value == usdc(40) + 3
    assert bound_fund.total_out() == usdc(40) + 3
    assert bound_fund.available() == usdc(60) - 3 == system.usdc.balanceOf(bound_fund)
    assert system.usdc.balanceOf(keeper) == usdc(900) + usdc(40) + 3
    ev = tx.events.filter(bound_fund.Covered)[0]
    assert (ev.requested, ev.paid) == (usdc(40) + 3, usdc(40) + 3)
    assert_invariants(system)



def test_cover__beyond_balance__pays_what_it_holds(system, bound_fund, keeper):
    bound_fund.receive_revenue(usdc(100), sender=keeper)
    tx = bound_fund.cover(usdc(250), sender=keeper)
    assert tx.return_value == usdc(100)
    assert bound_fund.available() == 0 == system.usdc.balanceOf(bound_fund)
    assert (bound_fund.total_in(), bound_fund.total_out()) == (usdc(100), usdc(100))
    ev = tx.events.filter(bound_fund.Covered)[0]
    assert (ev.requested, ev.paid) == (usdc(250), usdc(100))
    # Empty: a further cover pays nothing and moves no tokens.
    tx = bound_fund.cover(usdc(1), sender=keeper)
    assert tx.return_value == 0
    assert system.usdc.balanceOf(keeper) == usdc(1_000)
    assert_invariants(system)



def test_set_clearinghouse__twice__reverts(system, owner):
    with ape.reverts("fund: clearinghouse already set"):
        system.fund.set_clearinghouse(owner, sender=owner)
    assert system.fund.clearinghouse() == system.clearinghouse.address
    assert_invariants(system)



def test_set_clearinghouse__not_owner__reverts(system, project, owner, stranger):
    fund = project.InsuranceFund.deploy(system.usdc, sender=owner)
    with ape.reverts("ownable: caller is not the owner"):
        fund.set_clearinghouse(stranger, sender=stranger)
    with ape.reverts("fund: zero address"):
        fund.set_clearinghouse(ZERO, sender=owner)
    tx = fund.set_clearinghouse(stranger, sender=owner)
    assert fund.clearinghouse() == stranger.address
    assert tx.events.filter(fund.ClearinghouseSet)[0].clearinghouse == stranger.address
    assert_invariants(system)



def test_receive_revenue__via_sweep__matches_fund_accounting(system, funded, maker, taker, keeper, chain):
    from perpvault.units import price, size
    from tests.utils import spec
    from tests.utils.trading import trade

    trade(system, maker, taker, 0, size("0.3"), price(60_000), chain=chain)
    fees = spec.fee(size("0.3"), price(60_000), 200) + spec.fee(size("0.3"), price(60_000), 500)
    expected = fees * 500_000 // 10**6 + spec.trade_dust(size("0.3"), price(60_000))
    system.usdc.mint(keeper, usdc(5), sender=system.owner)
    system.usdc.approve(system.fund, 2**256 - 1, sender=keeper)
    system.fund.donate(usdc(5), sender=keeper)
    tx = system.clearinghouse.sweep_to_insurance(sender=keeper)
    ev = tx.events.filter(system.fund.RevenueReceived)
    assert len(ev) == 1 and ev[0].amount == expected
    assert system.fund.total_in() == usdc(5) + expected
    assert_fund_accounting(system)
    # Nothing left to sweep: a second sweep pays nothing and logs a zero sweep.
    tx = system.clearinghouse.sweep_to_insurance(sender=keeper)
    assert len(tx.events.filter(system.fund.RevenueReceived)) == 0
    assert system.fund.total_in() == usdc(5) + expected
    assert_invariants(system)
