"""The timelock on the owner's parameters: announce changes nothing in force, apply only
between the delay and the end of the grace period, cancel, the delay's own timelock, and the
stricter initial margin while a change is pending (SPEC section 1, E4)."""

from __future__ import annotations

from dataclasses import replace

import ape
import pytest

from perpvault.chain import DEFAULT_RISK
from perpvault.chain.actions import fund_account, refresh_prices, trade
from perpvault.model.constants import GRACE_PERIOD, MAX_DELAY, MIN_DELAY
from perpvault.units import price, size, usdc
from tests.utils.checks import assert_invariants

BTC = 0
P = price(60_000)


def btc(system, **changes) -> tuple:
    return replace(system.markets[BTC], **changes).params()


def test_deploy__delay_is_the_one_given(system):
    assert system.clearinghouse.delay() == MIN_DELAY
    assert (system.clearinghouse.pending_delay(), system.clearinghouse.pending_delay_eta()) == (0, 0)


def test_announce__changes_nothing_in_force_and_says_when(system, chain, owner):
    ch = system.clearinghouse
    new = btc(system, taker_fee=900, mmr=60_000)
    tx = ch.announce_market_params(BTC, new, sender=owner)
    eta = chain.blocks[tx.block_number].timestamp + MIN_DELAY
    assert tuple(ch.params(BTC)) == system.markets[BTC].params()
    assert tuple(ch.pending_params(BTC)) == new and ch.pending_params_eta(BTC) == eta
    ev = tx.events.filter(ch.MarketParamsAnnounced)[0]
    assert (ev.market, ev.eta) == (BTC, eta)
    assert_invariants(system)


def test_apply__before_delay_refused__at_eta_in_force(system, chain, owner):
    ch = system.clearinghouse
    new = btc(system, taker_fee=900)
    ch.announce_market_params(BTC, new, sender=owner)
    eta = ch.pending_params_eta(BTC)
    chain.mine(timestamp=eta - 2)
    with ape.reverts("timelock: too early"):
        ch.apply_market_params(BTC, sender=owner)
    assert tuple(ch.params(BTC)) == system.markets[BTC].params()
    chain.pending_timestamp = eta
    refresh_prices(system)
    tx = ch.apply_market_params(BTC, sender=owner)
    assert tuple(ch.params(BTC)) == new
    assert tx.events.filter(ch.MarketParamsSet)[0].market == BTC
    assert ch.pending_params_eta(BTC) == 0 and tuple(ch.pending_params(BTC)) == (0,) * len(new)
    with ape.reverts("timelock: nothing announced"):
        ch.apply_market_params(BTC, sender=owner)
    assert_invariants(system)


def test_apply__after_grace_period__expired(system, chain, owner):
    ch = system.clearinghouse
    ch.announce_market_params(BTC, btc(system, taker_fee=900), sender=owner)
    chain.mine(timestamp=ch.pending_params_eta(BTC) + GRACE_PERIOD + 1)
    refresh_prices(system)
    with ape.reverts("timelock: expired"):
        ch.apply_market_params(BTC, sender=owner)
    assert tuple(ch.params(BTC)) == system.markets[BTC].params()
    ch.cancel_market_params(BTC, sender=owner)  # an expired change can still be withdrawn
    assert ch.pending_params_eta(BTC) == 0


def test_cancel__withdraws_the_change(system, chain, owner):
    ch = system.clearinghouse
    ch.announce_market_params(BTC, btc(system, taker_fee=900), sender=owner)
    tx = ch.cancel_market_params(BTC, sender=owner)
    assert tx.events.filter(ch.MarketParamsCancelled)[0].market == BTC
    chain.pending_timestamp += MIN_DELAY
    refresh_prices(system)
    with ape.reverts("timelock: nothing announced"):
        ch.apply_market_params(BTC, sender=owner)
    assert tuple(ch.params(BTC)) == system.markets[BTC].params()
    with ape.reverts("timelock: nothing announced"):
        ch.cancel_market_params(BTC, sender=owner)


def test_risk_params__announce_wait_apply_and_cancel(system, chain, owner):
    ch = system.clearinghouse
    new = (DEFAULT_RISK[0], 300_000, *DEFAULT_RISK[2:])
    tx = ch.announce_risk_params(new, sender=owner)
    assert tx.events.filter(ch.RiskParamsAnnounced)[0].keeper_share == 300_000
    assert tuple(ch.risk()) == DEFAULT_RISK and tuple(ch.pending_risk()) == new
    with ape.reverts("timelock: too early"):
        ch.apply_risk_params(sender=owner)
    chain.pending_timestamp += MIN_DELAY
    tx = ch.apply_risk_params(sender=owner)
    assert tuple(ch.risk()) == new and ch.pending_risk_eta() == 0
    assert tx.events.filter(ch.RiskParamsSet)[0].keeper_share == 300_000
    ch.announce_risk_params(DEFAULT_RISK, sender=owner)
    ch.cancel_risk_params(sender=owner)
    assert ch.pending_risk_eta() == 0 and tuple(ch.risk()) == new


def test_delay__changes_only_through_the_delay_in_force(system, chain, owner):
    ch = system.clearinghouse
    tx = ch.announce_delay(3 * 86_400, sender=owner)
    assert tx.events.filter(ch.DelayAnnounced)[0].delay == 3 * 86_400
    assert ch.delay() == MIN_DELAY
    with ape.reverts("timelock: too early"):
        ch.apply_delay(sender=owner)
    chain.pending_timestamp += MIN_DELAY
    ch.apply_delay(sender=owner)
    assert ch.delay() == 3 * 86_400
    # The next change waits the new delay.
    tx = ch.announce_market_params(BTC, btc(system, taker_fee=900), sender=owner)
    assert ch.pending_params_eta(BTC) == chain.blocks[tx.block_number].timestamp + 3 * 86_400


@pytest.mark.parametrize("delay", [0, MIN_DELAY - 1, MAX_DELAY + 1, 2**256 - 1])
def test_delay__out_of_bounds__refused(system, owner, delay):
    with ape.reverts("timelock: delay out of bounds"):
        system.clearinghouse.announce_delay(delay, sender=owner)
    assert system.clearinghouse.pending_delay_eta() == 0


def test_deploy__delay_out_of_bounds__reverts(system, project, owner):
    for delay in (MIN_DELAY - 1, MAX_DELAY + 1):
        with ape.reverts("timelock: delay out of bounds"):
            project.Clearinghouse.deploy(system.usdc, system.fund, system.liquidator, DEFAULT_RISK, delay,
                                         sender=owner)


def test_pending_stricter_imr__binds_new_risk_now__and_lifts_on_cancel(system, chain, owner, maker, taker):
    """E4: risk opened while a change is pending meets the stricter setting. With 20% IMR
    announced, a 1 BTC long needs 12,000 of equity, not 6,000: 7,000 opens nothing more now."""
    ch = system.clearinghouse
    fund_account(system, maker, usdc(100_000))
    fund_account(system, taker, usdc(7_000))
    ch.announce_market_params(BTC, btc(system, imr=200_000), sender=owner)
    assert ch.margin_requirements(taker)[0] == 0
    with ape.reverts("ch: insufficient margin"):
        trade(system, maker, taker, BTC, size(1), P, chain=chain)
    assert ch.positions(taker, BTC).size == 0
    ch.cancel_market_params(BTC, sender=owner)
    trade(system, maker, taker, BTC, size(1), P, chain=chain)
    assert ch.margin_requirements(taker)[0] == usdc(6_000)
    assert_invariants(system)


def test_pending_change__never_makes_an_account_liquidatable_before_it_applies(system, chain, owner, maker,
                                                                                taker):
    """E4: a pending mmr of 50% leaves a 5x account's maintenance where it is until apply."""
    ch = system.clearinghouse
    fund_account(system, maker, usdc(100_000))
    fund_account(system, taker, usdc(12_000))
    trade(system, maker, taker, BTC, size(1), P, chain=chain)
    ch.announce_market_params(BTC, btc(system, imr=500_001, mmr=500_000), sender=owner)
    assert ch.margin_requirements(taker)[1] == usdc(3_000)
    assert not ch.is_liquidatable(taker)
    chain.mine(timestamp=ch.pending_params_eta(BTC) - 1)
    refresh_prices(system)
    assert not ch.is_liquidatable(taker)
    assert_invariants(system)
