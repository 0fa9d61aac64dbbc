"""Reentrancy through a collateral token with transfer hooks (ERC-777-style).

The token calls back after every transfer. Each probe is a call that succeeds when the
target contract is not in the middle of a call (the controls show it), made by the token
contract itself, which holds tokens and allowances. Inside deposit, withdraw, vault redeem
and fund cover the same probe hits the @nonreentrant lock: the whole call reverts and
nothing moves.
"""

from __future__ import annotations

import ape
import pytest

from perpvault.chain import deploy
from perpvault.units import usdc


@pytest.fixture(scope="module")
def hooked(project, owner, oracle_updater, lp, taker):
    """The whole system over HookToken collateral, with a funded trader, LP and fund; the
    token contract itself holds tokens and has approved the clearinghouse, vault and fund."""
    token = project.HookToken.deploy(sender=owner)
    system = deploy(owner, oracle_updater, project=project, collateral=token.address)
    for account in (taker, lp, owner, token):
        token.mint(account, usdc(10_000), sender=owner)
    for spender in (system.clearinghouse, system.vault, system.fund):
        # The hook makes the token approve as itself.
        token.set_hook(token, token.approve.encode_input(spender, 2**256 - 1), sender=owner)
        token.transfer(owner, 0, sender=owner)
    token.set_hook(ape.utils.ZERO_ADDRESS, b"", sender=owner)
    token.approve(system.clearinghouse, 2**256 - 1, sender=taker)
    system.clearinghouse.deposit(usdc(5_000), sender=taker)
    token.approve(system.vault, 2**256 - 1, sender=lp)
    system.vault.deposit(usdc(5_000), lp, sender=lp)
    token.approve(system.fund, 2**256 - 1, sender=owner)
    system.fund.donate(usdc(1_000), sender=owner)
    return token, system


PROBES = {
    "clearinghouse": lambda s, t: (s.clearinghouse, s.clearinghouse.deposit.encode_input(1)),
    "vault": lambda s, t: (s.vault, s.vault.deposit.encode_input(1, t.address)),
    "fund": lambda s, t: (s.fund, s.fund.donate.encode_input(1)),
}


def _books(token, system, *accounts) -> tuple:
    ch = system.clearinghouse
    return (
        tuple(token.balanceOf(a) for a in (*accounts, token, ch, system.vault, system.fund)),
        tuple(ch.margin(a) for a in (*accounts, token)),
        system.vault.totalSupply(),
        system.fund.available(),
    )


def _arm(token, system, target: str, owner) -> None:
    contract, data = PROBES[target](system, token)
    token.set_hook(contract, data, sender=owner)


@pytest.mark.parametrize("target", PROBES)
def test_probe__outside_a_locked_call__succeeds(hooked, owner, target):
    """Control: a plain transfer fires the hook, and the probe goes through."""
    token, system = hooked
    _arm(token, system, target, owner)
    before = token.balanceOf(token)
    token.transfer(owner, 1, sender=owner)
    assert token.balanceOf(token) == before - 1  # the token paid 1 atom into `target`


def test_deposit__hook_reenters_the_clearinghouse__reverts_and_nothing_moves(hooked, owner, taker):
    token, system = hooked
    _arm(token, system, "clearinghouse", owner)
    before = _books(token, system, taker)
    with ape.reverts():
        system.clearinghouse.deposit(usdc(1_000), sender=taker)
    assert _books(token, system, taker) == before


def test_withdraw__hook_reenters_the_clearinghouse__reverts_and_nothing_moves(hooked, owner, taker):
    token, system = hooked
    _arm(token, system, "clearinghouse", owner)
    before = _books(token, system, taker)
    with ape.reverts():
        system.clearinghouse.withdraw(usdc(1_000), sender=taker)
    assert _books(token, system, taker) == before


def test_vault_redeem__hook_reenters_the_vault__reverts_and_nothing_moves(hooked, owner, lp):
    token, system = hooked
    _arm(token, system, "vault", owner)
    before = _books(token, system, lp)
    with ape.reverts():
        system.vault.redeem(system.vault.balanceOf(lp) // 4, lp, lp, sender=lp)
    assert _books(token, system, lp) == before


def test_fund_cover__hook_reenters_the_fund__reverts_and_nothing_moves(hooked, owner, accounts, chain):
    """cover is the clearinghouse's to call: impersonate it, as a liquidation with bad debt would."""
    token, system = hooked
    chain.provider.set_balance(system.clearinghouse.address, 10**18)  # gas for the impersonation
    clearinghouse = accounts[system.clearinghouse.address]  # impersonated on Anvil
    _arm(token, system, "fund", owner)
    before = _books(token, system, owner)
    with ape.reverts():
        system.fund.cover(usdc(100), sender=clearinghouse)
    assert _books(token, system, owner) == before
    token.set_hook(ape.utils.ZERO_ADDRESS, b"", sender=owner)
    system.fund.cover(usdc(100), sender=clearinghouse)  # control: without the re-entry it pays
    assert system.fund.total_out() == usdc(100)
