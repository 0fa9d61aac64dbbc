"""R4: the owner cannot change a parameter and use it in the same breath.

The attack (review, before the timelock): the owner raises BTC's maintenance ratio, the
liquidation penalty and the keeper share in one transaction each, liquidates a healthy 5x
account from a second address (keeping the keeper reward), and puts everything back. With
the timelock the change is only announced: nothing in force moves, the account stays healthy
and not liquidatable, and it has the whole delay to reduce or leave before anything applies
(SPEC section 1, E4).

On the code before the timelock (tests/security/old_code/R4-instant-params.patch puts the
instant setters back) the first test fails: the healthy 5x account (12,000 USDC on 1 BTC at
60,000) loses 4,834.864867 USDC and the owner's accomplice collects 2,405.405405 USDC.
"""

from __future__ import annotations

from dataclasses import replace

import ape

from perpvault.chain.actions import fund_account, refresh_prices, trade
from perpvault.chain.deploy import DEFAULT_RISK
from perpvault.units import price, size, usdc
from tests.utils.checks import assert_invariants

BTC = 0
P = price(60_000)
MARGIN = usdc(12_000)  # 1 BTC long at 60,000: 5x


def _owner_changes_now(system, owner, params: tuple, risk: tuple) -> bool:
    """The owner's fastest route to new parameters: the instant setters where they exist (the
    code before the timelock), else announce and try to apply at once. True if they applied."""
    ch = system.clearinghouse
    if hasattr(ch, "set_market_params"):
        ch.set_market_params(BTC, params, sender=owner)
        ch.set_risk_params(risk, sender=owner)
        return True
    ch.announce_market_params(BTC, params, sender=owner)
    ch.announce_risk_params(risk, sender=owner)
    with ape.reverts("timelock: too early"):
        ch.apply_market_params(BTC, sender=owner)
    with ape.reverts("timelock: too early"):
        ch.apply_risk_params(sender=owner)
    return False


def _lp_backs_the_vault(system, lp) -> None:
    system.usdc.mint(lp, usdc(1_000_000), sender=system.owner)
    system.usdc.approve(system.vault, usdc(1_000_000), sender=lp)
    system.vault.deposit(usdc(1_000_000), lp, sender=lp)


def test_owner__raises_mmr_and_liquidates_a_healthy_account_at_once__cannot(system, chain, owner, maker, taker,
                                                                           stranger, lp):
    ch = system.clearinghouse
    _lp_backs_the_vault(system, lp)  # the vault takes the liquidated position over
    fund_account(system, maker, usdc(100_000))
    fund_account(system, taker, MARGIN)
    trade(system, maker, taker, BTC, size(1), P, chain=chain)
    assert not ch.is_liquidatable(taker)
    margin_before = ch.margin(taker)
    accomplice_before = system.usdc.balanceOf(stranger)
    harsh = replace(system.markets[BTC], imr=500_001, mmr=500_000, liquidation_penalty=100_000).params()
    greedy = (DEFAULT_RISK[0], 500_000, *DEFAULT_RISK[2:])
    _owner_changes_now(system, owner, harsh, greedy)
    if ch.is_liquidatable(taker):  # the attack's second half: only reachable when the change applied
        ch.liquidate(taker, [], sender=stranger)
    lost = margin_before - ch.margin(taker)
    farmed = system.usdc.balanceOf(stranger) + ch.margin(stranger) - accomplice_before
    assert (lost, farmed) == (0, 0), f"the healthy 5x account lost {lost} atoms; the owner's accomplice got {farmed}"
    assert tuple(ch.params(BTC)) == system.markets[BTC].params()
    assert not ch.is_liquidatable(taker)
    assert_invariants(system)


def test_announced_change__trader_reduces_within_the_delay__the_change_costs_nothing(system, chain, owner, maker,
                                                                                     taker):
    """What the delay is for: the trader sees the announce and closes; when the harsh
    parameters apply, it holds no position and keeps its margin."""
    ch = system.clearinghouse
    fund_account(system, maker, usdc(100_000))
    fund_account(system, taker, MARGIN)
    trade(system, maker, taker, BTC, size(1), P, chain=chain)
    harsh = replace(system.markets[BTC], imr=500_001, mmr=500_000, liquidation_penalty=100_000).params()
    ch.announce_market_params(BTC, harsh, sender=owner)
    trade(system, maker, taker, BTC, -size(1), P, chain=chain)  # the trader leaves during the delay
    chain.pending_timestamp += ch.delay()
    refresh_prices(system)
    ch.apply_market_params(BTC, sender=owner)
    assert tuple(ch.params(BTC)) == harsh
    assert ch.positions(taker, BTC).size == 0 and not ch.is_liquidatable(taker)
    fees = 2 * (60_000 * system.markets[BTC].taker_fee)  # two taker fills of 60,000 notional, ppm
    assert ch.margin(taker) == MARGIN - fees
    assert_invariants(system)
