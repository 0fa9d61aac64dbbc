"""The whole system as one transactional model: `Exchange` wraps the contract twins.

Every public method is one transaction: it runs at `now` (the block timestamp) and either
completes or raises `Revert` with every contract's state exactly as before (the world is
snapshotted and restored). Events of the last transaction are in `last_events`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from perpvault.model import maths as pm
from perpvault.model.clearinghouse import Clearinghouse
from perpvault.model.maths import Revert
from perpvault.model.periphery import InsuranceFund, LiquidityVault, OrderBook, PriceFeed, Token
from perpvault.model.state import Event, Health, MarketParams, Order, RiskParams, addr

T = TypeVar("T")


@dataclass
class Addresses:
    """Where each contract lives (the chain's addresses in a differential run)."""

    token: str = "0x" + "10" * 20
    feed: str = "0x" + "20" * 20
    fund: str = "0x" + "30" * 20
    clearinghouse: str = "0x" + "40" * 20
    vault: str = "0x" + "50" * 20
    order_book: str = "0x" + "60" * 20


@dataclass
class World:
    """Every contract of the system plus the block timestamp and the current tx's events."""

    now: int
    token: Token = field(init=False)
    feed: PriceFeed = field(init=False)
    fund: InsuranceFund = field(init=False)
    ch: Clearinghouse = field(init=False)
    vault: LiquidityVault = field(init=False)
    book: OrderBook = field(init=False)
    events: list[Event] = field(default_factory=list)

    def log(self, name: str, *fields: Any) -> None:
        self.events.append((name, *fields))


class Exchange:
    """The reference model of perpvault (see module docstring)."""

    def __init__(
        self,
        owner: Any,
        oracle_updater: Any,
        *,
        markets: list[tuple[MarketParams, int]],
        risk: RiskParams,
        now: int = 1_700_000_000,
        addresses: Addresses | None = None,
        oracle_max_age: int = 3_600,
        oracle_max_jump: int = 300_000,
        delay: int = 86_400,
        vault_spread: int = 1_000,
    ) -> None:
        """Mirrors `perpvault.chain.deploy`: feed with initial prices, fund, clearinghouse,
        vault, order book, bindings, markets ((params, initial price) in id order)."""
        a = addresses or Addresses()
        self.owner = addr(owner)
        self.addresses = a
        w = World(now=now)
        w.token = Token(w, a.token, self.owner)
        w.feed = PriceFeed(
            w, a.feed, self.owner, addr(oracle_updater), oracle_max_age, oracle_max_jump, delay
        )
        for market_id, (_, initial_price) in enumerate(markets):
            w.feed.set_price(addr(oracle_updater), market_id, initial_price)
        w.fund = InsuranceFund(w, a.fund, a.clearinghouse)
        w.ch = Clearinghouse(w, a.clearinghouse, self.owner, risk, delay)
        w.token.approve(a.clearinghouse, a.fund, pm.UINT256_MAX)
        w.vault = LiquidityVault(w, a.vault, self.owner, vault_spread)
        w.token.approve(a.vault, a.clearinghouse, pm.UINT256_MAX)
        w.book = OrderBook(w, a.order_book)
        w.ch.set_vault(self.owner, a.vault)
        w.ch.set_order_book(self.owner, a.order_book)
        for params, _ in markets:
            w.ch.add_market(self.owner, params)
        w.events = []
        self.w = w
        self.last_events: list[Event] = []
        self.tx_count = 0

    @classmethod
    def with_defaults(cls, owner: Any, oracle_updater: Any, **kwargs: Any) -> Exchange:
        """The model of `perpvault.chain.deploy(owner, oracle_updater)` with its defaults
        (perpvault.params)."""
        from perpvault.params import DEFAULT_MARKETS, DEFAULT_RISK

        markets = [(MarketParams.of(m.params()), m.initial_price) for m in DEFAULT_MARKETS]
        kwargs.setdefault("markets", markets)
        kwargs.setdefault("risk", RiskParams.of(DEFAULT_RISK))
        return cls(owner, oracle_updater, **kwargs)

    # --- shortcuts ----------------------------------------------------------------------------

    @property
    def ch(self) -> Clearinghouse:
        return self.w.ch

    @property
    def now(self) -> int:
        return self.w.now

    def at(self, timestamp: int) -> Exchange:
        """Sets the block timestamp of the next transactions and views (never backwards)."""
        if timestamp < self.w.now:
            raise ValueError(f"time goes forward: {timestamp} < {self.w.now}")
        self.w.now = timestamp
        return self

    def advance(self, seconds: int) -> Exchange:
        return self.at(self.w.now + seconds)

    def _tx(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        saved = copy.deepcopy(self.w)
        self.w.events = []
        try:
            result = fn(*args, **kwargs)
        except Revert:
            self.w = saved
            self.last_events = []
            raise
        self.last_events = self.w.events
        self.w.events = []
        self.tx_count += 1
        return result

    def _view(self, fn: Callable[..., T], *args: Any) -> T:
        """Views never change state, but the twins touch storage lazily: run them on a copy."""
        saved = copy.deepcopy(self.w)
        try:
            return fn(*args)
        finally:
            self.w = saved

    # --- token ----------------------------------------------------------------------------------

    def mint(self, to: Any, amount: int) -> None:
        self._tx(lambda: self.w.token.mint(self.owner, addr(to), amount))

    def approve(self, owner: Any, spender: Any, amount: int = pm.UINT256_MAX) -> None:
        self._tx(lambda: self.w.token.approve(addr(owner), addr(spender), amount))

    def balance_of(self, account: Any) -> int:
        return self.w.token.balance_of(addr(account))

    # --- oracle ---------------------------------------------------------------------------------

    def set_price(self, sender: Any, market: int, price: int) -> None:
        self._tx(lambda: self.w.feed.set_price(addr(sender), market, price))

    def announce_updater(self, sender: Any, updater: Any) -> None:
        self._tx(lambda: self.w.feed.announce_updater(addr(sender), addr(updater)))

    def apply_updater(self, sender: Any) -> None:
        self._tx(lambda: self.w.feed.apply_updater(addr(sender)))

    def announce_bounds(self, sender: Any, max_age: int, max_jump: int) -> None:
        self._tx(lambda: self.w.feed.announce_bounds(addr(sender), max_age, max_jump))

    def apply_bounds(self, sender: Any) -> None:
        self._tx(lambda: self.w.feed.apply_bounds(addr(sender)))

    # --- clearinghouse --------------------------------------------------------------------------

    def deposit(self, sender: Any, amount: int) -> None:
        self._tx(lambda: self.w.ch.deposit(addr(sender), amount))

    def withdraw(self, sender: Any, amount: int) -> None:
        self._tx(lambda: self.w.ch.withdraw(addr(sender), amount))

    def fill(
        self, maker: Any, taker: Any, market: int, taker_size: int, price: int
    ) -> tuple[int, int]:
        """`fill` as the OrderBook calls it (orders already verified)."""
        return self._tx(
            lambda: self.w.ch.fill(
                self.w.book.address, addr(maker), addr(taker), market, taker_size, price
            )
        )

    def match_orders(
        self, sender: Any, maker: Order | tuple, taker: Order | tuple, fill_size: int, **sig: bool
    ) -> None:
        m = maker if isinstance(maker, Order) else Order.of(maker)
        t = taker if isinstance(taker, Order) else Order.of(taker)
        self._tx(lambda: self.w.book.match_orders(addr(sender), m, t, fill_size, **sig))

    def cancel_order(self, sender: Any, nonce: int) -> None:
        self._tx(lambda: self.w.book.cancel_order(addr(sender), nonce))

    def vault_trade(self, sender: Any, market: int, size: int, limit_price: int) -> int:
        return self._tx(lambda: self.w.vault.trade(addr(sender), market, size, limit_price))

    def settle_funding(self, sender: Any, account: Any) -> None:
        self._tx(lambda: self.w.ch.settle_funding(addr(sender), addr(account)))

    def sweep_to_insurance(self, sender: Any) -> int:
        return self._tx(lambda: self.w.ch.sweep_to_insurance(addr(sender)))

    def liquidate(self, keeper: Any, account: Any, counterparties: list[Any] = ()) -> None:
        cps = [addr(c) for c in counterparties]
        self._tx(lambda: self.w.ch.liquidate(addr(keeper), addr(account), cps))

    def pause(self, sender: Any) -> None:
        self._tx(lambda: self.w.ch.pause(addr(sender)))

    def unpause(self, sender: Any) -> None:
        self._tx(lambda: self.w.ch.unpause(addr(sender)))

    def announce_market_params(self, sender: Any, market: int, params: MarketParams) -> None:
        self._tx(lambda: self.w.ch.announce_market_params(addr(sender), market, params))

    def apply_market_params(self, sender: Any, market: int) -> None:
        self._tx(lambda: self.w.ch.apply_market_params(addr(sender), market))

    def cancel_market_params(self, sender: Any, market: int) -> None:
        self._tx(lambda: self.w.ch.cancel_market_params(addr(sender), market))

    def announce_risk_params(self, sender: Any, risk: RiskParams) -> None:
        self._tx(lambda: self.w.ch.announce_risk_params(addr(sender), risk))

    def apply_risk_params(self, sender: Any) -> None:
        self._tx(lambda: self.w.ch.apply_risk_params(addr(sender)))

    def cancel_risk_params(self, sender: Any) -> None:
        self._tx(lambda: self.w.ch.cancel_risk_params(addr(sender)))

    def announce_delay(self, sender: Any, delay: int) -> None:
        self._tx(lambda: self.w.ch.announce_delay(addr(sender), delay))

    def apply_delay(self, sender: Any) -> None:
        self._tx(lambda: self.w.ch.apply_delay(addr(sender)))

    def cancel_delay(self, sender: Any) -> None:
        self._tx(lambda: self.w.ch.cancel_delay(addr(sender)))

    # --- insurance fund -------------------------------------------------------------------------

    def donate(self, sender: Any, amount: int) -> None:
        self._tx(lambda: self.w.fund.donate(addr(sender), amount))

    # --- liquidity vault ------------------------------------------------------------------------

    def vault_deposit(self, sender: Any, assets: int, receiver: Any | None = None) -> int:
        return self._tx(
            lambda: self.w.vault.deposit(addr(sender), assets, addr(receiver or sender))
        )

    def vault_mint(self, sender: Any, shares: int, receiver: Any | None = None) -> int:
        return self._tx(lambda: self.w.vault.mint(addr(sender), shares, addr(receiver or sender)))

    def vault_withdraw(
        self, sender: Any, assets: int, receiver: Any | None = None, owner: Any | None = None
    ) -> int:
        return self._tx(
            lambda: self.w.vault.withdraw(
                addr(sender), assets, addr(receiver or sender), addr(owner or sender)
            )
        )

    def vault_redeem(
        self, sender: Any, shares: int, receiver: Any | None = None, owner: Any | None = None
    ) -> int:
        return self._tx(
            lambda: self.w.vault.redeem(
                addr(sender), shares, addr(receiver or sender), addr(owner or sender)
            )
        )

    def set_spread(self, sender: Any, spread: int) -> None:
        self._tx(lambda: self.w.vault.set_spread(addr(sender), spread))

    # --- views ----------------------------------------------------------------------------------

    def equity(self, account: Any) -> int:
        return self._view(self.w.ch.equity, addr(account))

    def health(self, account: Any) -> Health:
        return self._view(self.w.ch.health, addr(account))

    def free_collateral(self, account: Any) -> int:
        return self._view(self.w.ch.free_collateral, addr(account))

    def is_liquidatable(self, account: Any) -> bool:
        return self._view(self.w.ch.is_liquidatable, addr(account))

    def position(self, account: Any, market: int) -> tuple[int, int, int]:
        return self._view(self.w.ch.position, addr(account), market)

    def adl_score(self, account: Any, market: int) -> int:
        return self._view(self.w.ch.adl_score, addr(account), market)

    def funding_index(self, market: int) -> int:
        return self._view(self.w.ch.funding_index, market)

    def total_assets(self) -> int:
        return self._view(self.w.vault.total_assets)

    def margin(self, account: Any) -> int:
        return self.w.ch.margin(addr(account)) if addr(account) in self.w.ch.accounts else 0

    # --- invariants -----------------------------------------------------------------------------

    def sum_sizes(self, market: int) -> int:
        """I1: zero in every market."""
        return sum(
            a.positions[market].size for a in self.w.ch.accounts.values() if market in a.positions
        )

    def conservation_gap(self) -> int:
        """I2, 0 when exact: token balance minus
        (sum margin - sum open_notional + insurance_due + sum funding_pool)."""
        ch = self.w.ch
        margins = sum(a.margin for a in ch.accounts.values())
        basis = sum(p.open_notional for a in ch.accounts.values() for p in a.positions.values())
        pools = sum(s.funding_pool for s in ch.markets.values())
        return self.w.token.balance_of(ch.address) - (margins - basis + ch.insurance_due + pools)

    def fund_gap(self) -> int:
        """I5: fund balance - (total_in - total_out); 0 unless tokens were sent around donate.
        The fund's money is this balance plus `ch.insurance_due` (bad debt draws on that first)."""
        f = self.w.fund
        return self.w.token.balance_of(f.address) - (f.total_in - f.total_out)


__all__ = ["Addresses", "Exchange", "Revert", "World"]
