"""perpvault.scripting: markets by name, human units in and out, named results; bad input is
refused before anything is sent."""

from __future__ import annotations

from decimal import Decimal

import pytest

from perpvault.scripting import AdlRank, Health, Venue


@pytest.fixture
def venue(system, keeper):
    return Venue(system, keeper=keeper)


def test_markets__by_name_short_name_or_id(venue):
    assert venue.markets == ["BTC-PERP", "ETH-PERP"]
    assert [venue.market("BTC-PERP"), venue.market("BTC"), venue.market(0)] == [0, 0, 0]
    assert venue.market("ETH") == 1


@pytest.mark.parametrize("name", ["SOL-PERP", "btc", 2, -1])
def test_unknown_market__refused_naming_the_markets(venue, name):
    with pytest.raises(ValueError, match="unknown market .*; one of: BTC-PERP, ETH-PERP"):
        venue.market(name)


def test_deposit__whole_usdc_in__margin_out_as_decimal(venue, trader, system):
    assert venue.deposit(trader, "1234.5") == Decimal("1234.5")
    assert system.clearinghouse.margin(trader) == 1_234_500_000
    assert venue.withdraw(trader, 234.5) == Decimal(1000)


@pytest.mark.parametrize("amount", ["0.0000001", Decimal("1e-7")])
def test_a_fraction_of_an_atom__refused_before_sending(venue, trader, system, amount):
    with pytest.raises(ValueError, match="not a whole number of atoms"):
        venue.deposit(trader, amount)
    assert system.clearinghouse.margin(trader) == 0


def test_open__both_orders_signed__sizes_prices_health_in_human_units(venue, maker, taker, lp):
    venue.lp_deposit(lp, 100_000)
    venue.deposit(maker, 10_000)
    venue.deposit(taker, 10_000)
    venue.open(long=taker, short=maker, market="BTC-PERP", size="0.5")
    pos = venue.position(taker, "BTC")
    assert (pos.market, pos.size, pos.entry_price, pos.cost_basis) == ("BTC-PERP", Decimal("0.5"), 60_000, 30_000)
    assert venue.position(maker, "BTC").size == Decimal("-0.5")
    h = venue.health(taker)
    assert isinstance(h, Health) and h.notional == 30_000 and h.maintenance == 1_500 and not h.liquidatable
    assert h.equity == 10_000 - Decimal("15")  # the 5 bp taker fee
    assert venue.adl_rank(maker, "BTC") == AdlRank(place=1, count=1, quantile=5)
    assert venue.adl_rank(lp, "BTC") == AdlRank(0, 0, 0)  # flat


def test_open__a_non_positive_size__refused(venue, maker, taker):
    with pytest.raises(ValueError, match="size must be positive"):
        venue.open(long=taker, short=maker, market="BTC", size=0)


def test_vault_trade_and_lp_shares(venue, trader, lp, system):
    shares = venue.lp_deposit(lp, 100_000)
    assert shares == 100_000 and venue.vault_share_price() == 1
    venue.deposit(trader, 5_000)
    venue.vault_trade(trader, "ETH-PERP", 2)  # buys 2 ETH from the vault, at the mark plus its spread
    pos = venue.position(trader, "ETH")
    spread = system.vault.spread()
    assert pos.size == 2 and pos.entry_price == Decimal(3_000 * (10**6 + spread)) / 10**6
    venue.vault_trade(trader, "ETH", "-0.5")  # sells half back
    assert venue.position(trader, "ETH").size == Decimal("1.5")
    got = venue.lp_redeem(lp, 1_000)
    assert abs(got - 1_000) < 5  # a share is worth about a USDC: the vault earned spread and fees
    with pytest.raises(ValueError, match="at most 12 decimals"):
        venue.lp_redeem(lp, "0.0000000000001")


def test_vault_trade__the_default_limit_refuses_a_fill_beyond_it(venue, trader, lp, system):
    import ape

    venue.lp_deposit(lp, 100_000)
    venue.deposit(trader, 5_000)
    with ape.reverts():
        venue.vault_trade(trader, "ETH", 1, limit_price=2_999)  # below the mark: no vault sells there
    assert venue.position(trader, "ETH").size == 0


@pytest.mark.parametrize("amount", ["1234567890.1234567890123456789", "0.0000000000000000001"])
def test_a_size_finer_than_18_decimals__refused_not_rounded(venue, maker, taker, amount):
    with pytest.raises(ValueError, match="not a whole number of 18-decimal units"):
        venue.open(long=taker, short=maker, market="BTC", size=amount)


def test_set_price__a_non_positive_price__refused(venue):
    with pytest.raises(ValueError, match="must be positive"):
        venue.set_price("BTC", 0)
    venue.set_price("BTC", "61000.5")
    assert venue.price("BTC-PERP") == Decimal("61000.5")
