"""LiquidityVault: ERC-4626 flows, share price from clearinghouse equity, inflation attack, vault trades."""

from dataclasses import replace

import ape
import pytest

from perpvault.chain.actions import change_params
from perpvault.units import price, size, usdc
from tests.unit.conftest import LP_DEPOSIT, TRADER_DEPOSIT
from tests.utils import spec
from tests.utils.checks import assert_invariants
from tests.utils.trading import fund_account, set_price

BTC = 0
TAKER_FEE, FUND_FEE_SHARE, SPREAD = 500, 500_000, 1_000
OFFSET = 10**6  # virtual shares: 10 ** DECIMALS_OFFSET


def shares_for(assets, supply, total, up=False):
    return spec.ceil_div(assets * (supply + OFFSET), total + 1) if up else assets * (supply + OFFSET) // (total + 1)


def assets_for(shares, supply, total, up=False):
    return spec.ceil_div(shares * (total + 1), supply + OFFSET) if up else shares * (total + 1) // (supply + OFFSET)


def give(system, account, amount):
    system.usdc.mint(account, amount, sender=system.owner)
    system.usdc.approve(system.vault, 2**256 - 1, sender=account)


@pytest.fixture
def no_funding_btc(system, chain):
    change_params(system, chain=chain, markets={BTC: replace(system.markets[BTC], max_funding_rate=0).params()})


def test_deposit__first_lp__mints_with_virtual_offset(system, lp):
    give(system, lp, usdc(1_000))
    tx = system.vault.deposit(usdc(1_000), lp, sender=lp)
    shares = usdc(1_000) * OFFSET  # (0 + 1e6) / (0 + 1)
    assert system.vault.balanceOf(lp) == shares == system.vault.totalSupply()
    assert system.clearinghouse.margin(system.vault) == usdc(1_000)
    assert system.vault.totalAssets() == usdc(1_000)
    ev = tx.events.filter(system.vault.Deposit)[0]
    assert (ev.sender, ev.owner, ev.assets, ev.shares) == (lp.address, lp.address, usdc(1_000), shares)
    assert_invariants(system)


def test_deposit__second_lp__gets_shares_at_current_price(system, vault_funded, trader):
    give(system, trader, usdc(333))
    supply, total = system.vault.totalSupply(), LP_DEPOSIT
    system.vault.deposit(usdc(333), trader, sender=trader)
    assert system.vault.balanceOf(trader) == shares_for(usdc(333), supply, total)
    assert_invariants(system)


def test_mint__pulls_assets_rounded_up(system, vault_funded, trader):
    give(system, trader, usdc(1_000))
    supply, total = system.vault.totalSupply(), LP_DEPOSIT
    want = 123_456_789_012_345
    system.vault.mint(want, trader, sender=trader)
    cost = assets_for(want, supply, total, up=True)
    assert system.vault.balanceOf(trader) == want
    assert system.usdc.balanceOf(trader) == usdc(1_000) - cost
    assert system.clearinghouse.margin(system.vault) == LP_DEPOSIT + cost
    assert_invariants(system)


def test_withdraw__burns_shares_rounded_up(system, vault_funded, lp):
    supply = system.vault.totalSupply()
    tx = system.vault.withdraw(usdc(10) + 7, lp, lp, sender=lp)
    burned = shares_for(usdc(10) + 7, supply, LP_DEPOSIT, up=True)
    assert system.vault.balanceOf(lp) == supply - burned
    assert system.usdc.balanceOf(lp) == usdc(10) + 7
    ev = tx.events.filter(system.vault.Withdraw)[0]
    assert (ev.assets, ev.shares) == (usdc(10) + 7, burned)
    assert_invariants(system)


def test_redeem__pays_assets_rounded_down(system, vault_funded, lp):
    supply = system.vault.totalSupply()
    shares = supply // 3 + 1
    system.vault.redeem(shares, lp, lp, sender=lp)
    assert system.usdc.balanceOf(lp) == assets_for(shares, supply, LP_DEPOSIT)
    assert system.vault.balanceOf(lp) == supply - shares
    assert_invariants(system)


def test_redeem__all__returns_every_atom(system, vault_funded, lp):
    system.vault.redeem(system.vault.balanceOf(lp), lp, lp, sender=lp)
    assert system.usdc.balanceOf(lp) == LP_DEPOSIT
    assert system.vault.totalSupply() == 0
    assert_invariants(system)


def test_redeem__by_approved_spender__spends_allowance(system, vault_funded, lp, keeper):
    shares = system.vault.balanceOf(lp) // 4
    system.vault.approve(keeper, shares, sender=lp)
    system.vault.redeem(shares, keeper, lp, sender=keeper)
    assert system.vault.allowance(lp, keeper) == 0
    assert system.usdc.balanceOf(keeper) == LP_DEPOSIT // 4
    with ape.reverts("erc20: insufficient allowance"):
        system.vault.redeem(5 * OFFSET, keeper, lp, sender=keeper)
    assert_invariants(system)


def test_deposit__zero__reverts(system, vault_funded, lp):
    with ape.reverts("vault: zero assets"):
        system.vault.deposit(0, lp, sender=lp)
    assert_invariants(system)


def test_redeem__dust_worth_zero_assets__reverts(system, vault_funded, lp):
    # One share is worth 1e-6 atoms: it rounds to zero assets, which the vault refuses to pay.
    with ape.reverts("vault: zero assets"):
        system.vault.redeem(1, lp, lp, sender=lp)
    assert_invariants(system)


def test_mint__zero__reverts(system, vault_funded, lp):
    with ape.reverts("vault: zero assets"):
        system.vault.mint(0, lp, sender=lp)
    assert_invariants(system)


def test_set_spread__owner_within_bound(system, stranger):
    system.vault.set_spread(50_000, sender=system.owner)
    assert system.vault.spread() == 50_000
    with ape.reverts("vault: spread out of bounds"):
        system.vault.set_spread(50_001, sender=system.owner)
    with ape.reverts("ownable: caller is not the owner"):
        system.vault.set_spread(0, sender=stranger)
    assert_invariants(system)


def test_transfer_ownership__new_owner_sets_the_spread__shares_still_only_from_deposits(system, stranger, lp):
    system.vault.transfer_ownership(stranger, sender=system.owner)
    assert system.vault.owner() == stranger.address
    system.vault.set_spread(2_000, sender=stranger)
    assert system.vault.spread() == 2_000
    with ape.reverts("ownable: caller is not the owner"):
        system.vault.set_spread(0, sender=system.owner)
    # The minter role snekmate hands over has no entry point: shares come only from deposits.
    assert not {"set_minter", "is_minter"} & {f.name for f in system.vault.contract_type.abi if f.type == "function"}
    with ape.reverts("erc20: new owner is the zero address"):
        system.vault.transfer_ownership("0x" + "00" * 20, sender=stranger)
    assert_invariants(system)


@pytest.mark.parametrize("trade_size", [size("0.5") + 3, -(size("0.5") + 3)])
def test_trade__at_oracle_plus_spread__vault_takes_other_side(system, no_funding_btc, funded, vault_funded, trader,
                                                              trade_size):
    oracle = price(60_000) + 29
    set_price(system, BTC, oracle)
    if trade_size > 0:
        expected_price = spec.ceil_div(oracle * (10**6 + SPREAD), 10**6)
        limit = expected_price
    else:
        expected_price = oracle * (10**6 - SPREAD) // 10**6
        limit = expected_price
    tx = system.vault.trade(BTC, trade_size, limit, sender=trader)
    assert tx.return_value == expected_price
    q = abs(trade_size)
    trader_book, vault_book = spec.Book(margin=TRADER_DEPOSIT), spec.Book(margin=LP_DEPOSIT)
    if trade_size > 0:
        fee = trader_book.buy(q, expected_price, TAKER_FEE)
        vault_book.sell(q, expected_price)
    else:
        fee = trader_book.sell(q, expected_price, TAKER_FEE)
        vault_book.buy(q, expected_price)
    vault_book.margin += fee - fee * FUND_FEE_SHARE // 10**6  # the vault's share of the fee; it pays none
    assert system.clearinghouse.position(trader, BTC)[:2] == (trade_size, trader_book.basis)
    assert system.clearinghouse.position(system.vault, BTC)[:2] == (-trade_size, vault_book.basis)
    assert system.clearinghouse.margin(trader) == trader_book.margin
    assert system.clearinghouse.margin(system.vault) == vault_book.margin
    ev = tx.events.filter(system.vault.VaultTraded)[0]
    assert (ev.trader, ev.size, ev.price) == (trader.address, trade_size, expected_price)
    assert_invariants(system)


@pytest.mark.parametrize("trade_size", [size("1"), -size("1")])
def test_trade__limit_violated__reverts(system, funded, vault_funded, trader, trade_size):
    quote = spec.ceil_div(price(60_000) * (10**6 + SPREAD),
                          10**6) if trade_size > 0 else price(60_000) * (10**6 - SPREAD) // 10**6
    limit = quote - 1 if trade_size > 0 else quote + 1
    with ape.reverts("vault: limit violated"):
        system.vault.trade(BTC, trade_size, limit, sender=trader)
    assert_invariants(system)


def test_share_price__follows_equity_including_unrealized_pnl(system, no_funding_btc, funded, vault_funded, lp, trader):
    q = size("3.1")
    quote = spec.ceil_div(price(60_000) * (10**6 + SPREAD), 10**6)
    system.vault.trade(BTC, q, quote, sender=trader)  # the vault is short 3.1 BTC
    vault_book = spec.Book(margin=LP_DEPOSIT)
    vault_book.sell(q, quote)
    fee = spec.fee(q, quote, TAKER_FEE)
    vault_book.margin += fee - fee * FUND_FEE_SHARE // 10**6
    shares = system.vault.balanceOf(lp)
    for mark in (price(61_117), price(58_901)):
        set_price(system, BTC, mark)
        equity = vault_book.equity(mark)
        assert system.vault.totalAssets() == equity
        assert system.vault.convertToAssets(shares) == assets_for(shares, shares, equity)
        assert system.vault.previewRedeem(shares // 2) == assets_for(shares // 2, shares, equity)
    # The price rose: the vault's short lost and so did a share.
    set_price(system, BTC, price(61_117))
    assert system.vault.convertToAssets(shares) < LP_DEPOSIT
    assert_invariants(system)


def test_inflation_attack__donation__does_not_steal_from_second_depositor(system, trader, lp):
    attacker, victim = trader, lp
    give(system, attacker, usdc(1_000) + 1)
    give(system, victim, usdc(1_000))
    system.vault.deposit(1, attacker, sender=attacker)  # 1 atom for 1e6 shares
    system.usdc.transfer(system.vault, usdc(1_000), sender=attacker)  # the donation
    system.vault.deposit(usdc(1_000), victim, sender=victim)
    victim_shares = system.vault.balanceOf(victim)
    assert victim_shares == usdc(1_000) * (OFFSET + OFFSET) // (usdc(1_000) + 1 + 1)
    victim_assets = system.vault.convertToAssets(victim_shares)
    # The victim loses at most rounding (a millionth of the deposit); the attacker loses ~half.
    assert usdc(1_000) - victim_assets <= usdc(1_000) // 10**6
    assert system.vault.convertToAssets(system.vault.balanceOf(attacker)) < usdc(1_000) * 6 // 10
    system.vault.redeem(victim_shares, victim, victim, sender=victim)
    assert usdc(1_000) - system.usdc.balanceOf(victim) <= usdc(1_000) // 10**6
    assert_invariants(system)


def test_inflation_attack__after_donation__every_lp_can_exit(system, trader, lp):
    attacker, victim = trader, lp
    give(system, attacker, usdc(1_000) + 1)
    give(system, victim, usdc(1_000))
    system.vault.deposit(1, attacker, sender=attacker)
    system.usdc.transfer(system.vault, usdc(1_000), sender=attacker)
    system.vault.deposit(usdc(1_000), victim, sender=victim)
    system.vault.redeem(system.vault.balanceOf(victim), victim, victim, sender=victim)
    attacker_shares = system.vault.balanceOf(attacker)
    owed = system.vault.convertToAssets(attacker_shares)
    assert system.vault.maxRedeem(attacker) == attacker_shares
    system.vault.redeem(attacker_shares, attacker, attacker, sender=attacker)
    assert system.usdc.balanceOf(attacker) == owed
    assert system.vault.totalSupply() == 0
    assert_invariants(system)


def test_trade__beyond_vault_limit__reverts(system, chain, funded, vault_funded, trader, maker):
    limit = usdc(100_000)
    change_params(system, chain=chain, markets={BTC: replace(system.markets[BTC], vault_max_notional=limit).params()})
    quote = spec.ceil_div(price(60_000) * (10**6 + SPREAD), 10**6)
    # |vault size| * oracle must stay <= limit: 1.666... BTC at 60,000.
    at_limit = limit * 10**30 // price(60_000)
    assert spec.notional(at_limit, price(60_000)) <= limit < spec.notional(at_limit + 1, price(60_000))
    with ape.reverts("ch: vault limit"):
        system.vault.trade(BTC, at_limit + 1, quote, sender=trader)
    system.vault.trade(BTC, at_limit, quote, sender=trader)
    assert system.clearinghouse.position(system.vault, BTC)[0] == -at_limit
    with ape.reverts("ch: vault limit"):
        system.vault.trade(BTC, 1, quote, sender=maker)
    # Trades that shrink the vault's position pass at the limit.
    system.vault.trade(BTC, -size("0.5"), 0, sender=trader)
    assert system.clearinghouse.position(system.vault, BTC)[0] == -at_limit + size("0.5")
    assert_invariants(system)


def test_trade__vault_without_margin__reverts(system, funded, trader):
    quote = spec.ceil_div(price(60_000) * (10**6 + SPREAD), 10**6)
    with ape.reverts("ch: insufficient margin"):
        system.vault.trade(BTC, size("0.1"), quote, sender=trader)
    assert_invariants(system)


def test_redeem__beyond_vault_free_collateral__reverts(system, no_funding_btc, funded, vault_funded, lp, trader):
    fund_account(system, trader, usdc(1_000_000))
    q = size("80")  # 4.8M notional: the vault's initial requirement is 480k of its 1M
    quote = spec.ceil_div(price(60_000) * (10**6 + SPREAD), 10**6)
    system.vault.trade(BTC, q, quote, sender=trader)
    vault_book = spec.Book(margin=LP_DEPOSIT)
    vault_book.sell(q, quote)
    fee = spec.fee(q, quote, TAKER_FEE)
    vault_book.margin += fee - fee * FUND_FEE_SHARE // 10**6
    free = vault_book.equity(price(60_000)) - spec.requirement(q, price(60_000), 100_000)
    assert system.clearinghouse.free_collateral(system.vault) == free
    assert system.vault.maxWithdraw(lp) == free
    shares = system.vault.balanceOf(lp)
    before = (system.usdc.balanceOf(lp), shares)
    with ape.reverts("ch: insufficient margin"):
        system.vault.redeem(shares, lp, lp, sender=lp)
    with ape.reverts("ch: insufficient margin"):
        system.vault.withdraw(free + 1, lp, lp, sender=lp)
    assert (system.usdc.balanceOf(lp), system.vault.balanceOf(lp)) == before
    system.vault.withdraw(free, lp, lp, sender=lp)
    assert system.usdc.balanceOf(lp) == free
    assert_invariants(system)


def test_deposit__vault_under_water__reverts_until_equity_is_restored(
    system, no_funding_btc, funded, vault_funded, lp, trader
):
    fund_account(system, trader, usdc(2_000_000))
    q = size("80")  # the vault goes short 4.8M notional on its 1M
    quote = spec.ceil_div(price(60_000) * (10**6 + SPREAD), 10**6)
    system.vault.trade(BTC, q, quote, sender=trader)
    set_price(system, BTC, price(75_000))  # +25%: the short loses 1.2M, more than its margin
    assert system.clearinghouse.equity(system.vault) < 0
    # totalAssets counts the hole as 0: a deposit now would fill it and be diluted (I9).
    assert system.vault.totalAssets() == 0
    assert system.vault.maxDeposit(lp) == system.vault.maxMint(lp) == 0
    give(system, lp, usdc(10_000))
    before = (system.usdc.balanceOf(lp), system.vault.balanceOf(lp), system.vault.totalSupply(),
              system.clearinghouse.margin(system.vault))
    with ape.reverts("vault: under water"):
        system.vault.deposit(usdc(10_000), lp, sender=lp)
    with ape.reverts("vault: under water"):
        system.vault.mint(10**12, lp, sender=lp)
    assert (system.usdc.balanceOf(lp), system.vault.balanceOf(lp), system.vault.totalSupply(),
            system.clearinghouse.margin(system.vault)) == before
    # Back above water, deposits are taken again, at the price the equity gives.
    set_price(system, BTC, price(60_000))
    assert system.clearinghouse.equity(system.vault) >= 0
    assert system.vault.maxDeposit(lp) == 2**128
    supply, total = system.vault.totalSupply(), system.vault.totalAssets()
    system.vault.deposit(usdc(10_000), lp, sender=lp)
    assert system.vault.balanceOf(lp) == before[1] + shares_for(usdc(10_000), supply, total)
    assert_invariants(system)
