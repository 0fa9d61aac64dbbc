"""Invariant checks on the deployed system (SPEC section 7), shared by tests, the demo and scenarios."""

from __future__ import annotations

from typing import Iterable


def known_accounts(system) -> list[str]:
    ch = system.clearinghouse
    return [ch.account_at(i) for i in range(ch.account_count())]


def assert_zero_sum_positions(system) -> None:
    """I1: in every market the sizes of all accounts sum to zero."""
    ch = system.clearinghouse
    accounts = known_accounts(system)
    for market in range(ch.market_count()):
        total = sum(ch.positions(a, market).size for a in accounts)
        assert total == 0, f"I1 broken in market {market}: sum of sizes {total}"


def assert_conservation(system) -> None:
    """I2, exact: token balance == sum(margin) - sum(open_notional) + insurance_due + sum(funding_pool).

    sum(-open_notional) is the PnL already realized by closers and still owed by open positions
    (it equals the sum of unrealized PnL at any mark, because sizes sum to zero).
    """
    ch = system.clearinghouse
    accounts = known_accounts(system)
    margins = sum(ch.margin(a) for a in accounts)
    basis = sum(ch.positions(a, m).open_notional for a in accounts for m in range(ch.market_count()))
    pools = sum(ch.markets(m).funding_pool for m in range(ch.market_count()))
    balance = system.usdc.balanceOf(ch)
    expected = margins - basis + ch.insurance_due() + pools
    assert balance == expected, f"I2 broken: balance {balance} != books {expected} (diff {balance - expected})"


def assert_fund_accounting(system) -> None:
    """I5: the fund's balance is exactly what came in minus what it paid."""
    fund = system.fund
    assert fund.available() == fund.total_in() - fund.total_out()
    assert system.usdc.balanceOf(fund) == fund.total_in() - fund.total_out()


def assert_invariants(system) -> None:
    assert_zero_sum_positions(system)
    assert_conservation(system)
    assert_fund_accounting(system)


def equities(system, accounts: Iterable) -> dict[str, int]:
    return {str(a): system.clearinghouse.equity(a) for a in accounts}
