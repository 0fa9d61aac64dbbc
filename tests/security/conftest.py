"""Fixtures of the security tests: a calm system (no funding drift) with a funded book, and
a raw-transaction sender that proves a refused call changed nothing.

Funding is off (max_funding_rate = 0, the waterfall tests' markets) so that every view is
a function of storage alone: a state read before a refused call and one after it must be
equal, whatever the block timestamps.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from perpvault.chain import DEFAULT_MARKETS, deploy
from perpvault.units import size, usdc

# Shared, not copied: ape's slow source tracebacks off (tests/unit), the funded-vault capital.
from tests.unit.conftest import _no_source_tracebacks  # noqa: F401
from tests.utils.trading import fund_account, trade

TRADER_MARGIN = usdc(100_000)
VAULT_CAPITAL = usdc(1_000_000)
OPEN_SIZE = size(1)  # the maker's short / the taker's long in BTC-PERP


@pytest.fixture(scope="session")
def calm_markets():
    return tuple(replace(spec, max_funding_rate=0) for spec in DEFAULT_MARKETS)


@pytest.fixture(scope="session")
def calm_system(owner, oracle_updater, calm_markets):
    """A fresh deployment with funding off (nothing else funded: see `book`)."""
    return deploy(owner, oracle_updater, markets=calm_markets)


@pytest.fixture(scope="module")
def book(calm_system, owner, oracle_updater, maker, taker, trader, lp, stranger, chain):
    """calm_system with a book: maker, taker and trader hold 100k USDC of margin, the LP has
    1M in the vault, maker is short and taker long 1 BTC at the oracle price, and the
    stranger holds 100 USDC in its wallet with no allowance and no account."""
    return open_book(calm_system, owner, maker, taker, trader, lp, stranger, chain)


def open_book(s, owner, maker, taker, trader, lp, stranger, chain):
    """`book`'s accounts and positions on the deployment `s`."""
    for account in (maker, taker, trader):
        fund_account(s, account, TRADER_MARGIN)
    s.usdc.mint(lp, VAULT_CAPITAL, sender=owner)
    s.usdc.approve(s.vault, 2**256 - 1, sender=lp)
    s.vault.deposit(VAULT_CAPITAL, lp, sender=lp)
    s.usdc.mint(stranger, usdc(100), sender=owner)
    trade(s, maker, taker, 0, OPEN_SIZE, s.markets[0].initial_price, chain=chain)
    return s


@pytest.fixture(scope="session")
def roles(owner, oracle_updater, keeper, lp, maker, taker, trader, stranger) -> dict:
    """Role name -> ape test account."""
    return {
        "owner": owner,
        "oracle_updater": oracle_updater,
        "keeper": keeper,
        "lp": lp,
        "maker": maker,
        "taker": taker,
        "trader": trader,
        "stranger": stranger,
    }
