"""The parameters perpvault is deployed with: the markets, the waterfall's risk parameters,
the vault's spread, the oracle's bounds and the timelock's delay (ppm unless noted).

These are the defaults the demo, the tests, the fuzzer and the reference model start from;
the hard bounds live in the contracts (Clearinghouse._check_params / _set_risk). Plain data,
importing nothing of the chain, so the model (perpvault.model) and the deployment
(perpvault.chain.deploy) read the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from perpvault.units import WAD, price


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
    skew_scale: int = 100 * WAD  # base units: funding is at its cap once the vault holds this much, either side
    min_notional: int = 10_000_000  # atoms: 10 USDC, the smallest position a voluntary trade may leave

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
            self.skew_scale,
            self.min_notional,
        )


DEFAULT_MARKETS: tuple[MarketSpec, ...] = (
    MarketSpec("BTC-PERP", price(60_000)),  # skew scale 100 BTC: 6M USDC
    MarketSpec("ETH-PERP", price(3_000), imr=125_000, mmr=62_500, skew_scale=2_000 * WAD),  # 6M USDC
)

class RiskParams(NamedTuple):
    """The Clearinghouse's RiskParams struct, named (ppm rates and seconds). A tuple, so it goes
    to the contract as it is and reads back from ``Clearinghouse.risk()`` as ``RiskParams.of(t)``."""

    liquidation_buffer: int = 200_000  # 20%: a partial liquidation restores margin to mm x 1.2
    keeper_share: int = 200_000  # 20% of the liquidation penalty goes to the keeper
    fund_fee_share: int = 500_000  # 50% of trading fees go to the insurance fund
    vault_max_drawdown: int = 200_000  # the LP vault's loss cap: 20% of its peak share value
    vault_window: int = 86_400  # seconds the peak is remembered

    @classmethod
    def of(cls, values: tuple | list) -> RiskParams:
        """From the contract's struct as read back (any int-like values)."""
        return cls(*[int(v) for v in values])


DEFAULT_RISK: RiskParams = RiskParams()

VAULT_SPREAD = 1_000  # 10 bp
ORACLE_MAX_AGE = 3_600
ORACLE_MAX_JUMP = 300_000  # 30% per update
TIMELOCK_DELAY = 86_400  # seconds an owner change waits between announce and apply (MIN_DELAY)

__all__ = [
    "RiskParams",
    "DEFAULT_MARKETS",
    "DEFAULT_RISK",
    "ORACLE_MAX_AGE",
    "ORACLE_MAX_JUMP",
    "TIMELOCK_DELAY",
    "VAULT_SPREAD",
    "MarketSpec",
]
