"""Fixtures shared by the unit tests: funded role accounts and a factory for custom deployments."""

from __future__ import annotations

import pytest

from perpvault.chain import DEFAULT_MARKETS, DEFAULT_RISK, deploy
from perpvault.units import usdc
from tests.utils.trading import fund_account

TRADER_DEPOSIT = usdc(100_000)
LP_DEPOSIT = usdc(1_000_000)


@pytest.fixture
def funded(system, maker, taker, trader):
    """maker, taker and trader each hold TRADER_DEPOSIT of margin in the clearinghouse."""
    for account in (maker, taker, trader):
        fund_account(system, account, TRADER_DEPOSIT)
    return maker, taker, trader


@pytest.fixture
def vault_funded(system, lp):
    """The lp has put LP_DEPOSIT into the LiquidityVault (so the vault has margin to trade)."""
    system.usdc.mint(lp, LP_DEPOSIT, sender=system.owner)
    system.usdc.approve(system.vault, 2**256 - 1, sender=lp)
    system.vault.deposit(LP_DEPOSIT, lp, sender=lp)
    return lp


@pytest.fixture
def deploy_system(owner, oracle_updater):
    """Factory: a fresh system with custom markets / risk / oracle bounds (reverted after the test)."""

    def _deploy(*, markets=DEFAULT_MARKETS, risk=DEFAULT_RISK, **kwargs):
        return deploy(owner, oracle_updater, markets=markets, risk=risk, **kwargs)

    return _deploy


@pytest.fixture
def block_time(chain):
    """The timestamp of the block a receipt was mined in."""

    def _time(receipt) -> int:
        return chain.blocks[receipt.block_number].timestamp

    return _time


@pytest.fixture
def no_funding(system, chain):
    """Sets every market's funding cap to 0 (through the timelock, before anyone trades), so
    equities are exact without a funding model."""
    from dataclasses import replace

    from perpvault.chain.actions import change_params

    change_params(system, chain=chain, markets={
        market: replace(spec, max_funding_rate=0).params() for market, spec in enumerate(system.markets)})
    return system


@pytest.fixture(scope="session", autouse=True)
def _no_source_tracebacks():
    """Skip ape's Vyper source traceback of reverted transactions.

    ape rebuilds a source-level traceback (ape-vyper `trace_source`) for every revert that
    reaches a mined transaction, ~9 s each for nested calls (vault -> clearinghouse). The revert
    reason that `ape.reverts` checks is unaffected; only the pretty traceback is skipped.
    """
    import ape.exceptions

    original = ape.exceptions._get_ape_traceback_from_tx
    ape.exceptions._get_ape_traceback_from_tx = lambda txn: None
    yield
    ape.exceptions._get_ape_traceback_from_tx = original
