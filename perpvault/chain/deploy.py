"""The one deployment of perpvault, used by tests, scripts, the demo and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from perpvault.units import PPM, WAD, price

# ---------------------------------------------------------------------------------------------
# Parameters (ppm unless noted). These are the defaults the demo and the tests start from; the
# hard bounds live in the contracts (Clearinghouse._check_params / _set_risk).


@dataclass(frozen=True)
class MarketSpec:
    name: str
    initial_price: int  # 18 decimals
    imr: int = 100_000  # 10% -> 10x max leverage
    mmr: int = 50_000  # 5%
    maker_fee: int = 200  # 2 bp
    taker_fee: int = 500  # 5 bp
    liquidation_penalty: int = 10_000  # 1%
    price_band: int = 50_000  # fills within 5% of the oracle
    vault_max_notional: int = 10**15  # atoms: 1e9 USDC
    max_funding_rate: int = WAD // 3600 // 1000  # 0.1% an hour, WAD per second
    ema_weight: int = 200_000  # each fill moves the traded-price EMA 20% of the way

    def params(self) -> tuple:
        """The MarketParams struct, in declaration order."""
        return (
            self.imr,
            self.mmr,
            self.maker_fee,
            self.taker_fee,
            self.liquidation_penalty,
            self.price_band,
            self.vault_max_notional,
            self.max_funding_rate,
            self.ema_weight,
        )


DEFAULT_MARKETS: tuple[MarketSpec, ...] = (
    MarketSpec("BTC-PERP", price(60_000)),
    MarketSpec("ETH-PERP", price(3_000), imr=125_000, mmr=62_500),
)

# RiskParams: liquidation_buffer, keeper_share, fund_fee_share, vault_max_drawdown, vault_window
DEFAULT_RISK: tuple = (200_000, 200_000, 500_000, 200_000, 86_400)

VAULT_SPREAD = 1_000  # 10 bp
ORACLE_MAX_AGE = 3_600
ORACLE_MAX_JUMP = 300_000  # 30% per update


@dataclass
class System:
    """Handles on every deployed contract, plus the markets they were listed with."""

    usdc: Any
    feed: Any
    fund: Any
    liquidator: Any
    clearinghouse: Any
    vault: Any
    order_book: Any
    lens: Any
    owner: Any
    oracle_updater: Any
    markets: tuple[MarketSpec, ...] = field(default_factory=tuple)

    @property
    def contracts(self) -> dict[str, Any]:
        return {
            "MockUSDC": self.usdc,
            "PriceFeed": self.feed,
            "InsuranceFund": self.fund,
            "Liquidator": self.liquidator,
            "Clearinghouse": self.clearinghouse,
            "LiquidityVault": self.vault,
            "OrderBook": self.order_book,
            "RiskLens": self.lens,
        }


def deploy(
    owner: Any,
    oracle_updater: Any,
    *,
    project: Any = None,
    markets: tuple[MarketSpec, ...] = DEFAULT_MARKETS,
    risk: tuple = DEFAULT_RISK,
    collateral: Any = None,
    oracle_max_age: int = ORACLE_MAX_AGE,
    oracle_max_jump: int = ORACLE_MAX_JUMP,
    vault_spread: int = VAULT_SPREAD,
) -> System:
    """Deploy and wire the whole system.

    Order: collateral (MockUSDC unless an address is given), price feed with the initial
    prices, insurance fund, liquidator (the waterfall engine), clearinghouse, liquidity vault, order book, lens; then the
    one-time bindings (fund -> clearinghouse, clearinghouse -> vault and order book) and the
    markets.
    """
    if project is None:
        from ape import project as ape_project

        project = ape_project
    sender = {"sender": owner}
    usdc = project.MockUSDC.deploy(**sender) if collateral is None else project.MockUSDC.at(collateral)
    feed = project.PriceFeed.deploy(oracle_updater, oracle_max_age, oracle_max_jump, **sender)
    for market_id, spec in enumerate(markets):
        feed.set_price(market_id, spec.initial_price, sender=oracle_updater)
    fund = project.InsuranceFund.deploy(usdc, **sender)
    liquidator = project.Liquidator.deploy(usdc, fund, **sender)
    clearinghouse = project.Clearinghouse.deploy(usdc, fund, liquidator, risk, **sender)
    vault = project.LiquidityVault.deploy(usdc, clearinghouse, vault_spread, **sender)
    order_book = project.OrderBook.deploy(clearinghouse, **sender)
    lens = project.RiskLens.deploy(clearinghouse, **sender)
    fund.set_clearinghouse(clearinghouse, **sender)
    clearinghouse.set_vault(vault, **sender)
    clearinghouse.set_order_book(order_book, **sender)
    for spec in markets:
        clearinghouse.add_market(feed, spec.params(), **sender)
    return System(
        usdc=usdc,
        feed=feed,
        fund=fund,
        liquidator=liquidator,
        clearinghouse=clearinghouse,
        vault=vault,
        order_book=order_book,
        lens=lens,
        owner=owner,
        oracle_updater=oracle_updater,
        markets=tuple(markets),
    )


__all__ = ["DEFAULT_MARKETS", "DEFAULT_RISK", "MarketSpec", "System", "deploy", "PPM"]
