"""The state of the reference model: the contracts' structs and storage, as dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field

ZERO_ADDRESS = "0x" + "0" * 40


def addr(account: object) -> str:
    """An address as the model keys it: lower-case hex (accepts ape accounts and contracts)."""
    return str(getattr(account, "address", account)).lower()


@dataclass
class MarketParams:
    """`Clearinghouse.MarketParams` (ppm unless noted)."""

    imr: int
    mmr: int
    maker_fee: int
    taker_fee: int
    liquidation_penalty: int
    price_band: int
    vault_max_notional: int  # atoms
    max_funding_rate: int  # WAD per second
    skew_scale: int  # base units (18 decimals): the vault position at which funding reaches max_funding_rate
    min_notional: int  # atoms: a voluntary trade leaves a position flat or at least this

    @classmethod
    def of(cls, values: tuple | list) -> MarketParams:
        return cls(*[int(v) for v in values])


@dataclass
class RiskParams:
    """`Clearinghouse.RiskParams` as the model stores it (mutable, like storage: the fuzzer
    edits copies field by field). perpvault.params.RiskParams is the same struct as an
    immutable named tuple, for deploying."""

    liquidation_buffer: int
    keeper_share: int
    fund_fee_share: int
    vault_max_drawdown: int
    vault_window: int  # seconds

    @classmethod
    def of(cls, values: tuple | list) -> RiskParams:
        return cls(*[int(v) for v in values])


@dataclass
class MarketState:
    """`Clearinghouse.MarketState` (the oracle is the model's one PriceFeed)."""

    funding_index: int = 0
    last_funding_time: int = 0
    funding_price: int = 0  # the oracle price at the last accrual
    funding_pool: int = 0
    funding_weight: int = 0
    open_interest: int = 0


@dataclass
class Position:
    """`Clearinghouse.Position`: signed size, signed cost basis, funding index last settled."""

    size: int = 0
    open_notional: int = 0
    funding_index: int = 0


@dataclass
class Account:
    """One clearinghouse account: `margin`, `positions[account]`, `market_mask`."""

    margin: int = 0
    positions: dict[int, Position] = field(default_factory=dict)
    market_mask: int = 0

    def position(self, market: int) -> Position:
        """`positions[account][market]`, created empty on first touch (storage reads as zero)."""
        pos = self.positions.get(market)
        if pos is None:
            pos = Position()
            self.positions[market] = pos
        return pos


@dataclass
class Health:
    """`Clearinghouse.Health`."""

    equity: int = 0
    initial: int = 0
    maintenance: int = 0
    notional: int = 0


@dataclass
class Round:
    """`PriceFeed.Round`."""

    price: int = 0
    updated_at: int = 0


@dataclass(frozen=True)
class Order:
    """`OrderBook.Order`; the model keys fills by the order itself instead of its EIP-712 digest."""

    account: str
    market: int
    size: int
    limit_price: int
    nonce: int
    expiry: int

    @classmethod
    def of(cls, values: tuple | list) -> Order:
        account, market, size, limit_price, nonce, expiry = values
        return cls(addr(account), int(market), int(size), int(limit_price), int(nonce), int(expiry))


Event = tuple  # (name, *fields in the contract's declaration order)
