"""Fixtures of the waterfall tests: a system without funding drift, a funded vault, a keeper.

Funding is switched off (max_funding_rate = 0) so that equities move only with the oracle
price and every expected number is exact to the atom whatever the block timestamps are.
"""

from dataclasses import replace

import pytest

from perpvault.chain import DEFAULT_MARKETS, deploy
from perpvault.keeper import Keeper
from perpvault.units import usdc
from tests.waterfall.books import BTC, CRASH, adl_book
from tests.waterfall.spec import walk_price

VAULT_CAPITAL = usdc(1_000_000)


@pytest.fixture(scope="session")
def markets():
    return tuple(replace(spec, max_funding_rate=0) for spec in DEFAULT_MARKETS)


@pytest.fixture(scope="session")
def system(owner, oracle_updater, markets, lp):
    """Overrides the shared `system`: no funding, and an LP has put 1M USDC in the vault."""
    s = deploy(owner, oracle_updater, markets=markets)
    s.usdc.mint(lp, VAULT_CAPITAL, sender=owner)
    s.usdc.approve(s.vault, VAULT_CAPITAL, sender=lp)
    s.vault.deposit(VAULT_CAPITAL, lp, sender=lp)
    return s


@pytest.fixture
def liquidator(system, keeper):
    return Keeper(system, keeper)


@pytest.fixture(scope="session")
def others(accounts):
    """Two more traders (accounts[8], accounts[9]) for counterparties."""
    return accounts[8], accounts[9]


@pytest.fixture
def crashed_book(system, chain, taker, maker, trader, others):
    """The adl_book at 53,000: taker bankrupt by 933.0015, nothing donated or swept (the fund
    is owed 25.20525 of fee shares, which pay first). Returns the margins,
    the cost bases and the role names the ADL tests compute their expectations from.

    (Not named `book`: ape isolates chain state by fixture name, and tests/security has a
    module-scoped `book`; a function-scoped fixture of the same name then went unreverted.)"""
    margins, basis, _ = adl_book(system, chain, taker, maker, trader, others)
    walk_price(system, BTC, CRASH)
    a8, a9 = others
    names = {"taker": taker, "maker": maker, "trader": trader, "a8": a8, "a9": a9, "vault": system.vault}
    return margins, basis, names
