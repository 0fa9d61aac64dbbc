"""The data a scenario is made of."""

from __future__ import annotations

from dataclasses import dataclass, field

from perpvault.chain.deploy import MarketSpec


@dataclass(frozen=True)
class TraderSpec:
    """One trader: a position in one market, opened at the initial price with `leverage`."""

    name: str
    market: int
    long: bool
    margin: int  # collateral atoms deposited
    leverage: float  # notional / margin at entry

    def size(self, entry_price: int) -> int:
        """Signed 18-decimal size of the position at `entry_price` (18 decimals)."""
        notional_atoms = int(self.margin * self.leverage)
        magnitude = notional_atoms * 10**30 // entry_price
        return magnitude if self.long else -magnitude


@dataclass(frozen=True)
class Scenario:
    name: str
    seed: int
    description: str
    markets: tuple[MarketSpec, ...]
    # prices[t][m]: the oracle price of market m at step t; step 0 is the opening price.
    prices: tuple[tuple[int, ...], ...]
    traders: tuple[TraderSpec, ...]
    vault_deposit: int  # atoms the LP puts in the LiquidityVault
    fund_donation: int  # atoms the insurance fund starts with
    seconds_per_step: int = 60  # time that passes between price steps (funding accrues)
    # The opening fills' price over the oracle per market, +0.001 = 10 bp.
    entry_premium: tuple[float, ...] = field(default_factory=tuple)

    @property
    def steps(self) -> int:
        return len(self.prices) - 1

    def open_interest(self) -> dict[int, tuple[int, int]]:
        """(long notional, short notional) in atoms per market at the opening prices."""
        out: dict[int, tuple[int, int]] = {m: (0, 0) for m in range(len(self.markets))}
        for t in self.traders:
            n = int(t.margin * t.leverage)
            lo, sh = out[t.market]
            out[t.market] = (lo + n, sh) if t.long else (lo, sh + n)
        return out
