"""Owner parameters: access control, every hard bound at its edge, markets, and the pause."""

from dataclasses import replace

import ape
import pytest

from perpvault.chain import DEFAULT_RISK
from perpvault.chain.actions import change_params
from perpvault.params import TIMELOCK_DELAY
from perpvault.units import price, size, usdc
from tests.utils.checks import assert_invariants
from tests.utils.trading import fund_account, set_price, trade

BTC = 0
ZERO = "0x0000000000000000000000000000000000000000"
MAX_FUNDING_RATE = 10**18 // 3600 // 100  # 1% an hour in WAD per second: 2_777_777_777_777
MAX_WINDOW = 30 * 86_400


def btc_params(system, **changes):
    return replace(system.markets[BTC], **changes).params()


# One row per hard bound: (inside the bound: passes, one beyond it: reverts, its reason).
MARKET_EDGES = [
    (dict(mmr=5_000), dict(mmr=4_999), "ch: mmr out of bounds"),
    (dict(mmr=500_000, imr=500_001), dict(mmr=500_001, imr=600_000), "ch: mmr out of bounds"),
    (dict(imr=50_001), dict(imr=50_000), "ch: imr out of bounds"),  # mmr is 50_000: imr must exceed it
    (dict(imr=1_000_000), dict(imr=1_000_001), "ch: imr out of bounds"),
    (dict(maker_fee=10_000), dict(maker_fee=10_001), "ch: fee out of bounds"),
    (dict(taker_fee=10_000), dict(taker_fee=10_001), "ch: fee out of bounds"),
    (dict(liquidation_penalty=100_000), dict(liquidation_penalty=100_001), "ch: penalty out of bounds"),
    (dict(price_band=1), dict(price_band=0), "ch: band out of bounds"),
    (dict(price_band=200_000), dict(price_band=200_001), "ch: band out of bounds"),
    (dict(vault_max_notional=2**128), dict(vault_max_notional=2**128 + 1), "ch: vault limit out of bounds"),
    (dict(max_funding_rate=MAX_FUNDING_RATE), dict(max_funding_rate=MAX_FUNDING_RATE + 1),
     "ch: funding cap out of bounds"),
    (dict(skew_scale=10**18), dict(skew_scale=10**18 - 1), "ch: skew scale out of bounds"),
    (dict(skew_scale=10**36), dict(skew_scale=10**36 + 1), "ch: skew scale out of bounds"),
    (dict(min_notional=10**12), dict(min_notional=10**12 + 1), "ch: min notional out of bounds"),
]

RISK_FIELDS = ("liquidation_buffer", "keeper_share", "fund_fee_share", "vault_max_drawdown", "vault_window")
RISK_EDGES = [
    (dict(liquidation_buffer=10_000), dict(liquidation_buffer=9_999), "ch: buffer out of bounds"),
    (dict(liquidation_buffer=1_000_000), dict(liquidation_buffer=1_000_001), "ch: buffer out of bounds"),
    (dict(keeper_share=500_000), dict(keeper_share=500_001), "ch: keeper share out of bounds"),
    (dict(fund_fee_share=1_000_000), dict(fund_fee_share=1_000_001), "ch: fee share out of bounds"),
    (dict(vault_max_drawdown=1), dict(vault_max_drawdown=0), "ch: drawdown out of bounds"),
    (dict(vault_max_drawdown=999_999), dict(vault_max_drawdown=1_000_000), "ch: drawdown out of bounds"),
    (dict(vault_window=1), dict(vault_window=0), "ch: window out of bounds"),
    (dict(vault_window=MAX_WINDOW), dict(vault_window=MAX_WINDOW + 1), "ch: window out of bounds"),
]


def risk_with(**changes):
    values = dict(zip(RISK_FIELDS, DEFAULT_RISK))
    values.update(changes)
    return tuple(values[f] for f in RISK_FIELDS)


def _id(case):
    return ",".join(f"{k}={v}" for k, v in case[1].items())


@pytest.mark.parametrize("inside, beyond, reason", MARKET_EDGES, ids=[_id(c) for c in MARKET_EDGES])
def test_market_params__hard_bound__inside_passes_beyond_reverts_at_announce(
        system, chain, owner, inside, beyond, reason):
    with ape.reverts(reason):
        system.clearinghouse.announce_market_params(BTC, btc_params(system, **beyond), sender=owner)
    assert system.clearinghouse.pending_params_eta(BTC) == 0
    assert tuple(system.clearinghouse.params(BTC)) == system.markets[BTC].params()
    new = btc_params(system, **inside)
    change_params(system, chain=chain, markets={BTC: new})
    assert tuple(system.clearinghouse.params(BTC)) == new
    assert_invariants(system)


@pytest.mark.parametrize("inside, beyond, reason", RISK_EDGES, ids=[_id(c) for c in RISK_EDGES])
def test_risk_params__hard_bound__inside_passes_beyond_reverts_at_announce(
        system, chain, owner, inside, beyond, reason):
    with ape.reverts(reason):
        system.clearinghouse.announce_risk_params(risk_with(**beyond), sender=owner)
    assert system.clearinghouse.pending_risk_eta() == 0
    assert tuple(system.clearinghouse.risk()) == DEFAULT_RISK
    new = risk_with(**inside)
    change_params(system, chain=chain, risk=new)
    assert tuple(system.clearinghouse.risk()) == new
    assert_invariants(system)


def test_set_params__zero_fee_share_and_vault_limit__pass(system, chain, owner):
    change_params(system, chain=chain, risk=risk_with(fund_fee_share=0),
                  markets={BTC: btc_params(system, vault_max_notional=0, max_funding_rate=0)})
    assert system.clearinghouse.risk().fund_fee_share == 0
    assert system.clearinghouse.params(BTC).vault_max_notional == 0
    assert_invariants(system)


def test_owner_functions__not_owner__revert(system, stranger):
    ch = system.clearinghouse
    calls = [
        lambda: ch.announce_market_params(BTC, system.markets[BTC].params(), sender=stranger),
        lambda: ch.apply_market_params(BTC, sender=stranger),
        lambda: ch.cancel_market_params(BTC, sender=stranger),
        lambda: ch.announce_risk_params(DEFAULT_RISK, sender=stranger),
        lambda: ch.apply_risk_params(sender=stranger),
        lambda: ch.cancel_risk_params(sender=stranger),
        lambda: ch.announce_delay(2 * 86_400, sender=stranger),
        lambda: ch.apply_delay(sender=stranger),
        lambda: ch.cancel_delay(sender=stranger),
        lambda: ch.add_market(system.feed, system.markets[BTC].params(), sender=stranger),
        lambda: ch.pause(sender=stranger),
        lambda: ch.unpause(sender=stranger),
        lambda: ch.set_vault(stranger, sender=stranger),
        lambda: ch.set_order_book(stranger, sender=stranger),
        lambda: ch.transfer_ownership(stranger, sender=stranger),
    ]
    for call in calls:
        with ape.reverts("ownable: caller is not the owner"):
            call()
    assert ch.owner() == system.owner.address
    assert_invariants(system)


def test_set_vault_and_order_book__once__then_revert(system, owner, stranger):
    with ape.reverts("ch: vault already set"):
        system.clearinghouse.set_vault(stranger, sender=owner)
    with ape.reverts("ch: order book already set"):
        system.clearinghouse.set_order_book(stranger, sender=owner)
    assert system.clearinghouse.vault() == system.vault.address
    assert system.clearinghouse.order_book() == system.order_book.address
    assert_invariants(system)


def test_deploy__liquidator_for_another_token_or_fund__reverts(system, project, owner):
    """The Clearinghouse runs its Liquidator's code on its own books: one built over another
    collateral or insurance fund would pay cover from, and book dust to, the wrong contract."""
    other_token = project.MockUSDC.deploy(sender=owner)
    other_fund = project.InsuranceFund.deploy(system.usdc, sender=owner)
    wrong_token = project.Liquidator.deploy(other_token, system.fund, sender=owner)
    wrong_fund = project.Liquidator.deploy(system.usdc, other_fund, sender=owner)
    with ape.reverts("ch: liquidator for another token"):
        project.Clearinghouse.deploy(system.usdc, system.fund, wrong_token, DEFAULT_RISK, TIMELOCK_DELAY, sender=owner)
    with ape.reverts("ch: liquidator for another fund"):
        project.Clearinghouse.deploy(system.usdc, system.fund, wrong_fund, DEFAULT_RISK, TIMELOCK_DELAY, sender=owner)
    assert_invariants(system)


def test_set_vault_and_order_book__zero_address__reverts(system, project, owner):
    ch = project.Clearinghouse.deploy(system.usdc, system.fund, system.liquidator, DEFAULT_RISK, TIMELOCK_DELAY,
                                      sender=owner)
    with ape.reverts("ch: zero address"):
        ch.set_vault(ZERO, sender=owner)
    with ape.reverts("ch: zero address"):
        ch.set_order_book(ZERO, sender=owner)
    assert_invariants(system)


def test_add_market__lists_market_with_its_oracle_price(system, owner, oracle_updater):
    system.feed.set_price(2, price(151), sender=oracle_updater)
    params = btc_params(system, imr=200_000, mmr=100_000)
    tx = system.clearinghouse.add_market(system.feed, params, sender=owner)
    assert tx.return_value == 2
    assert system.clearinghouse.market_count() == 3
    assert tuple(system.clearinghouse.params(2)) == params
    state = system.clearinghouse.markets(2)
    assert (state.oracle, state.funding_price, state.funding_index) == (system.feed.address, price(151), 0)
    ev = tx.events.filter(system.clearinghouse.MarketAdded)[0]
    assert (ev.market, ev.oracle) == (2, system.feed.address)
    assert_invariants(system)


def test_add_market__guards(system, owner, oracle_updater):
    ch = system.clearinghouse
    with ape.reverts("ch: zero address"):
        ch.add_market(ZERO, system.markets[BTC].params(), sender=owner)
    with ape.reverts("ch: mmr out of bounds"):
        ch.add_market(system.feed, btc_params(system, mmr=4_999), sender=owner)
    with ape.reverts("oracle: no price"):  # the oracle must price the new id
        ch.add_market(system.feed, system.markets[BTC].params(), sender=owner)
    for market in range(2, 9):
        system.feed.set_price(market, price(100 + market), sender=oracle_updater)
    for _ in range(2, 8):
        ch.add_market(system.feed, system.markets[BTC].params(), sender=owner)
    assert ch.market_count() == 8
    with ape.reverts("ch: too many markets"):
        ch.add_market(system.feed, system.markets[BTC].params(), sender=owner)
    assert_invariants(system)


@pytest.mark.parametrize("reported, ahead", [(price(101), 0), (price(100), 3_600)], ids=["other price", "future"])
def test_add_market__oracle_whose_latest_disagrees_with_its_price__refused(system, owner, project, chain, reported,
                                                                           ahead):
    """Funding values each second at the oracle's `latest()` (mechanism.md section 5): an oracle
    whose latest answer is not the price it serves, or is dated in the future, is not listed."""
    count = system.clearinghouse.market_count()
    at = chain.pending_timestamp + ahead
    oracle = project.MisreportingOracle.deploy(count, price(100), reported, at, sender=owner)
    with ape.reverts("ch: oracle latest() disagrees"):
        system.clearinghouse.add_market(oracle, system.markets[BTC].params(), sender=owner)
    assert system.clearinghouse.market_count() == count


def test_unknown_market__reverts(system, owner):
    ch = system.clearinghouse
    with ape.reverts("ch: unknown market"):
        ch.announce_market_params(2, system.markets[BTC].params(), sender=owner)
    with ape.reverts("ch: unknown market"):
        ch.mark_price(2)
    with ape.reverts("ch: unknown market"):
        ch.funding_index(2)
    assert_invariants(system)


# --- pause -------------------------------------------------------------------------------------


@pytest.fixture
def paused_with_positions(system, funded, vault_funded, maker, taker, owner, chain):
    trade(system, maker, taker, BTC, size("1"), price(60_000), chain=chain)
    tx = system.clearinghouse.pause(sender=owner)
    assert system.clearinghouse.paused()
    assert len(tx.events) == 1  # snekmate's Paused event
    return system


def test_pause__fill_growing_risk__reverts(paused_with_positions, maker, taker, trader, chain):
    system = paused_with_positions
    with ape.reverts("ch: paused"):
        trade(system, maker, taker, BTC, size("0.1"), price(60_000), chain=chain)  # both grow
    with ape.reverts("ch: paused"):
        trade(system, trader, taker, BTC, -size("0.1"), price(60_000), chain=chain)  # the new side grows
    with ape.reverts("ch: paused"):
        trade(system, maker, taker, BTC, -size("1.5"), price(60_000), chain=chain)  # a flip is new risk
    assert system.clearinghouse.position(taker, BTC)[0] == size("1")
    assert_invariants(system)


def test_pause__vault_trade_growing_risk__reverts(paused_with_positions, trader):
    system = paused_with_positions
    with ape.reverts("ch: paused"):
        system.vault.trade(BTC, size("0.1"), 2**256 - 1, sender=trader)
    assert_invariants(system)


def test_pause__reductions_deposits_withdrawals_go_on(paused_with_positions, maker, taker, trader, chain):
    system = paused_with_positions
    trade(system, maker, taker, BTC, -size("0.4"), price(60_000), chain=chain)  # both reduce
    assert system.clearinghouse.position(taker, BTC)[0] == size("0.6")
    fund_account(system, trader, usdc(10))
    system.clearinghouse.withdraw(usdc(100_010), sender=trader)  # a flat account takes all out
    assert system.usdc.balanceOf(trader) == usdc(100_010)
    system.clearinghouse.withdraw(usdc(1_000), sender=taker)  # a healthy account with a position too
    assert system.usdc.balanceOf(taker) == usdc(1_000)
    assert_invariants(system)


def test_pause__liquidation_goes_on(system, vault_funded, maker, taker, keeper, owner, chain):
    fund_account(system, maker, usdc(100_000))
    fund_account(system, taker, usdc(1_000))
    trade(system, maker, taker, BTC, size("0.15"), price(60_000), chain=chain)
    set_price(system, BTC, price(55_000))
    assert system.clearinghouse.is_liquidatable(taker)
    system.clearinghouse.pause(sender=owner)
    system.clearinghouse.liquidate(taker, [], sender=keeper)
    assert abs(system.clearinghouse.position(taker, BTC)[0]) < size("0.15")
    assert not system.clearinghouse.is_liquidatable(taker)
    assert_invariants(system)


def test_unpause__restores_fills(paused_with_positions, maker, taker, owner, chain):
    system = paused_with_positions
    system.clearinghouse.unpause(sender=owner)
    assert not system.clearinghouse.paused()
    trade(system, maker, taker, BTC, size("0.1"), price(60_000), chain=chain)
    assert system.clearinghouse.position(taker, BTC)[0] == size("1.1")
    assert_invariants(system)


def test_pause__twice_or_unpause_when_running__reverts(system, owner):
    with ape.reverts("pausable: contract is not paused"):
        system.clearinghouse.unpause(sender=owner)
    system.clearinghouse.pause(sender=owner)
    with ape.reverts("pausable: contract is paused"):
        system.clearinghouse.pause(sender=owner)
    assert_invariants(system)
