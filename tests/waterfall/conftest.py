"""Fixtures of the waterfall tests: a system without funding drift, a funded vault, a keeper.

Funding is switched off (max_funding_rate = 0) so that equities move only with the oracle
price and every expected number is exact to the atom whatever the block timestamps are.
"""

from dataclasses import replace

import pytest

from perpvault.chain import DEFAULT_MARKETS, deploy
from perpvault.keeper import Keeper
from perpvault.units import usdc

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
