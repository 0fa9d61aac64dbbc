"""Twins of the contracts around the clearinghouse: the collateral token (MockUSDC, snekmate
erc20), `PriceFeed`, `InsuranceFund`, `LiquidityVault` (ERC-4626 share maths) and `OrderBook`.

Same conventions as `clearinghouse.py`: `sender` is `msg.sender`, `self.w.now` is
`block.timestamp`, every `assert` is a `require` with the contract's reason string.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from perpvault.model.constants import (
    MAX_AGE_BOUND,
    MAX_PRICE,
    MAX_SIZE,
    MAX_SPREAD,
    PPM,
    VAULT_DECIMALS_OFFSET,
)
from perpvault.model.maths import INT256_MIN, mul_div, require, to_int, u256
from perpvault.model.state import ZERO_ADDRESS, Order, Round
from perpvault.model.timelock import Timelock

if TYPE_CHECKING:
    from perpvault.model.exchange import World

MAX_UINT = 2**256 - 1


class Token:
    """The collateral token: balances and allowances of snekmate's erc20 (6 decimals)."""

    def __init__(self, w: World, address: str, owner: str) -> None:
        self.w = w
        self.address = address
        self.owner = owner
        self.total_supply = 0
        self.balances: dict[str, int] = {}
        self.allowances: dict[tuple[str, str], int] = {}

    def balance_of(self, account: str) -> int:
        return self.balances.get(account, 0)

    def mint(self, sender: str, to: str, amount: int) -> None:
        require(sender == self.owner, "erc20: access is denied")
        require(to != ZERO_ADDRESS, "erc20: mint to the zero address")
        self.total_supply = u256(self.total_supply + amount)
        self.balances[to] = self.balance_of(to) + amount

    def approve(self, owner: str, spender: str, amount: int) -> None:
        self.allowances[(owner, spender)] = amount

    def transfer(self, sender: str, to: str, amount: int) -> None:
        require(to != ZERO_ADDRESS, "erc20: transfer to the zero address")
        balance = self.balance_of(sender)
        require(balance >= amount, "erc20: transfer amount exceeds balance")
        self.balances[sender] = balance - amount
        self.balances[to] = self.balance_of(to) + amount

    def transfer_from(self, spender: str, owner: str, to: str, amount: int) -> None:
        current = self.allowances.get((owner, spender), 0)
        if current != MAX_UINT:
            require(current >= amount, "erc20: insufficient allowance")
            self.allowances[(owner, spender)] = current - amount
        self.transfer(owner, to, amount)


class PriceFeed:
    """`contracts/oracle/PriceFeed.vy`: one price per market, failing closed; the updater and
    the bounds change only through the timelock (announce, wait `delay`, apply)."""

    def __init__(
        self, w: World, address: str, owner: str, updater: str, max_age: int, max_jump: int, delay: int
    ) -> None:
        self.w = w
        self.address = address
        self.owner = owner
        self.timelock = Timelock(w, delay)
        self.updater = updater
        self.max_age = 0
        self.max_jump = 0
        self.rounds: dict[int, Round] = {}
        self.pending_updater = ZERO_ADDRESS
        self.pending_updater_eta = 0
        self.pending_max_age = 0
        self.pending_max_jump = 0
        self.pending_bounds_eta = 0
        self._check_bounds(max_age, max_jump)
        self._set_bounds(max_age, max_jump)

    def announce_updater(self, sender: str, updater: str) -> None:
        require(sender == self.owner, "ownable: caller is not the owner")
        require(updater != ZERO_ADDRESS, "feed: zero address")
        eta = self.timelock._eta()
        self.pending_updater, self.pending_updater_eta = updater, eta
        self.w.log("UpdaterAnnounced", updater, eta)

    def apply_updater(self, sender: str) -> None:
        require(sender == self.owner, "ownable: caller is not the owner")
        self.timelock._check_due(self.pending_updater_eta)
        u = self.pending_updater
        self.updater = u
        self.pending_updater, self.pending_updater_eta = ZERO_ADDRESS, 0
        self.w.log("UpdaterChanged", u)

    def cancel_updater(self, sender: str) -> None:
        require(sender == self.owner, "ownable: caller is not the owner")
        require(self.pending_updater_eta != 0, "timelock: nothing announced")
        u = self.pending_updater
        self.pending_updater, self.pending_updater_eta = ZERO_ADDRESS, 0
        self.w.log("UpdaterCancelled", u)

    def announce_bounds(self, sender: str, max_age: int, max_jump: int) -> None:
        require(sender == self.owner, "ownable: caller is not the owner")
        self._check_bounds(max_age, max_jump)
        eta = self.timelock._eta()
        self.pending_max_age, self.pending_max_jump, self.pending_bounds_eta = max_age, max_jump, eta
        self.w.log("BoundsAnnounced", max_age, max_jump, eta)

    def apply_bounds(self, sender: str) -> None:
        require(sender == self.owner, "ownable: caller is not the owner")
        self.timelock._check_due(self.pending_bounds_eta)
        self._set_bounds(self.pending_max_age, self.pending_max_jump)
        self._clear_bounds()

    def cancel_bounds(self, sender: str) -> None:
        require(sender == self.owner, "ownable: caller is not the owner")
        require(self.pending_bounds_eta != 0, "timelock: nothing announced")
        self.w.log("BoundsCancelled", self.pending_max_age, self.pending_max_jump)
        self._clear_bounds()

    def announce_delay(self, sender: str, delay: int) -> None:
        require(sender == self.owner, "ownable: caller is not the owner")
        self.timelock._announce_delay(delay)

    def apply_delay(self, sender: str) -> None:
        require(sender == self.owner, "ownable: caller is not the owner")
        self.timelock._apply_delay()

    def cancel_delay(self, sender: str) -> None:
        require(sender == self.owner, "ownable: caller is not the owner")
        self.timelock._cancel_delay()

    def set_price(self, sender: str, market: int, price: int) -> None:
        require(sender == self.updater, "feed: not updater")
        require(price != 0, "feed: zero price")
        require(price <= MAX_PRICE, "feed: price too large")
        previous = self.rounds.get(market, Round()).price
        if previous != 0:
            move = price - previous if price > previous else previous - price
            require(
                u256(move * PPM) <= u256(self.max_jump * previous), "feed: price jump too large"
            )
        self.rounds[market] = Round(price=price, updated_at=self.w.now)
        self.w.log("PriceUpdated", market, price, self.w.now)

    def price(self, market: int) -> int:
        r = self.rounds.get(market, Round())
        require(r.price != 0, "oracle: no price")
        require(self.w.now <= u256(r.updated_at + self.max_age), "oracle: stale price")
        return r.price

    def latest(self, market: int) -> tuple[int, int]:
        """The last written price and its time, without freshness checks (0, 0 if never set)."""
        r = self.rounds.get(market, Round())
        return r.price, r.updated_at

    @staticmethod
    def _check_bounds(max_age: int, max_jump: int) -> None:
        require(max_age != 0 and max_age <= MAX_AGE_BOUND, "feed: max_age out of bounds")
        require(max_jump != 0 and max_jump < PPM, "feed: max_jump out of bounds")

    def _set_bounds(self, max_age: int, max_jump: int) -> None:
        self.max_age = max_age
        self.max_jump = max_jump
        self.w.log("BoundsChanged", max_age, max_jump)

    def _clear_bounds(self) -> None:
        self.pending_max_age = self.pending_max_jump = self.pending_bounds_eta = 0


class InsuranceFund:
    """`contracts/InsuranceFund.vy`: I5, available() == total_in - total_out. With what the
    clearinghouse owes it (`insurance_due`, spent first on bad debt) it is the fund's money."""

    def __init__(self, w: World, address: str, clearinghouse: str) -> None:
        self.w = w
        self.address = address
        self.clearinghouse = clearinghouse
        self.total_in = 0
        self.total_out = 0

    def donate(self, sender: str, amount: int) -> None:
        require(amount != 0, "fund: zero amount")
        self._pull(sender, amount)
        self.w.log("Donated", sender, amount)

    def receive_revenue(self, sender: str, amount: int) -> None:
        require(sender == self.clearinghouse, "fund: only clearinghouse")
        require(amount != 0, "fund: zero amount")
        self._pull(sender, amount)
        self.w.log("RevenueReceived", amount)

    def cover(self, sender: str, amount: int) -> int:
        require(sender == self.clearinghouse, "fund: only clearinghouse")
        paid = min(amount, u256(self.total_in - self.total_out))
        if paid != 0:
            self.total_out = u256(self.total_out + paid)
            self.w.token.transfer(self.address, sender, paid)
        self.w.log("Covered", amount, paid)
        return paid

    def available(self) -> int:
        return u256(self.total_in - self.total_out)

    def _pull(self, source: str, amount: int) -> None:
        self.w.token.transfer_from(self.address, source, self.address, amount)
        self.total_in = u256(self.total_in + amount)


class LiquidityVault:
    """`contracts/LiquidityVault.vy`: ERC-4626 shares over the vault's clearinghouse equity."""

    DECIMALS_OFFSET = VAULT_DECIMALS_OFFSET

    def __init__(self, w: World, address: str, owner: str, spread: int) -> None:
        self.w = w
        self.address = address
        self.owner = owner
        require(spread <= MAX_SPREAD, "vault: spread out of bounds")
        self.spread = spread
        self.total_supply = 0
        self.balances: dict[str, int] = {}
        self.allowances: dict[tuple[str, str], int] = {}

    def balance_of(self, account: str) -> int:
        return self.balances.get(account, 0)

    def set_spread(self, sender: str, spread: int) -> None:
        require(sender == self.owner, "ownable: caller is not the owner")
        require(spread <= MAX_SPREAD, "vault: spread out of bounds")
        self.spread = spread
        self.w.log("SpreadSet", spread)

    def trade(self, sender: str, market: int, size: int, limit_price: int) -> int:
        require(size != 0, "vault: zero size")
        oracle_price = self.w.ch.mark_price(market)
        if size > 0:
            price = mul_div(oracle_price, PPM + self.spread, PPM, True)
            require(price <= limit_price, "vault: limit violated")
        else:
            price = mul_div(oracle_price, PPM - self.spread, PPM, False)
            require(price >= limit_price, "vault: limit violated")
        self.w.ch.fill(self.address, self.address, sender, market, size, price)
        self.w.log("VaultTraded", sender, market, size, price)
        return price

    # views
    def total_assets(self) -> int:
        return self._total_assets()

    def _total_assets(self) -> int:
        equity = self.w.ch.equity(self.address)
        return max(equity, 0) + self.w.token.balance_of(self.address)

    def _under_water(self) -> bool:
        """Equity below zero: total_assets counts it as 0, so deposits wait (I9)."""
        return self.w.ch.equity(self.address) < 0

    def convert_to_shares(self, assets: int) -> int:
        return self._to_shares(assets, False)

    def convert_to_assets(self, shares: int) -> int:
        return self._to_assets(shares, False)

    def max_withdraw(self, owner: str) -> int:
        return min(self._to_assets(self.balance_of(owner), False), self._free())

    def max_redeem(self, owner: str) -> int:
        free = self._to_shares(self._free(), False)
        return min(self.balance_of(owner), free)

    def preview_deposit(self, assets: int) -> int:
        return self._to_shares(assets, False)

    def preview_mint(self, shares: int) -> int:
        return self._to_assets(shares, True)

    def preview_withdraw(self, assets: int) -> int:
        return self._to_shares(assets, True)

    def preview_redeem(self, shares: int) -> int:
        return self._to_assets(shares, False)

    # ERC-4626 entry points
    def deposit(self, sender: str, assets: int, receiver: str) -> int:
        shares = self._to_shares(assets, False)
        self._deposit(sender, assets, shares, receiver)
        return shares

    def mint(self, sender: str, shares: int, receiver: str) -> int:
        assets = self._to_assets(shares, True)
        self._deposit(sender, assets, shares, receiver)
        return assets

    def withdraw(self, sender: str, assets: int, receiver: str, owner: str) -> int:
        shares = self._to_shares(assets, True)
        self._withdraw(sender, assets, shares, receiver, owner)
        return shares

    def redeem(self, sender: str, shares: int, receiver: str, owner: str) -> int:
        assets = self._to_assets(shares, False)
        self._withdraw(sender, assets, shares, receiver, owner)
        return assets

    # shares as an ERC-20
    def approve(self, owner: str, spender: str, amount: int) -> None:
        self.allowances[(owner, spender)] = amount

    def transfer(self, sender: str, to: str, amount: int) -> None:
        require(to != ZERO_ADDRESS, "erc20: transfer to the zero address")
        balance = self.balance_of(sender)
        require(balance >= amount, "erc20: transfer amount exceeds balance")
        self.balances[sender] = balance - amount
        self.balances[to] = self.balance_of(to) + amount

    def _free(self) -> int:
        return u256(self.w.ch.free_collateral(self.address) + self.w.token.balance_of(self.address))

    def _to_shares(self, assets: int, roundup: bool) -> int:
        return mul_div(
            assets,
            u256(self.total_supply + 10**self.DECIMALS_OFFSET),
            u256(self._total_assets() + 1),
            roundup,
        )

    def _to_assets(self, shares: int, roundup: bool) -> int:
        return mul_div(
            shares,
            u256(self._total_assets() + 1),
            u256(self.total_supply + 10**self.DECIMALS_OFFSET),
            roundup,
        )

    def _deposit(self, sender: str, assets: int, shares: int, receiver: str) -> None:
        require(assets != 0, "vault: zero assets")
        require(shares != 0, "vault: zero shares")
        require(not self._under_water(), "vault: under water")
        self.w.token.transfer_from(self.address, sender, self.address, assets)
        self.w.ch.deposit(self.address, assets)
        require(receiver != ZERO_ADDRESS, "erc20: mint to the zero address")
        self.total_supply = u256(self.total_supply + shares)
        self.balances[receiver] = self.balance_of(receiver) + shares
        self.w.log("Deposit", sender, receiver, assets, shares)

    def _withdraw(self, sender: str, assets: int, shares: int, receiver: str, owner: str) -> None:
        require(assets != 0, "vault: zero assets")
        require(shares != 0, "vault: zero shares")
        if sender != owner:
            current = self.allowances.get((owner, sender), 0)
            if current != MAX_UINT:
                require(current >= shares, "erc20: insufficient allowance")
                self.allowances[(owner, sender)] = current - shares
        balance = self.balance_of(owner)
        require(balance >= shares, "erc20: burn amount exceeds balance")
        self.balances[owner] = balance - shares
        self.total_supply -= shares
        # Idle tokens (donations) count in totalAssets, so they pay out first.
        idle = self.w.token.balance_of(self.address)
        if assets > idle:
            self.w.ch.withdraw(self.address, assets - idle)
        self.w.token.transfer(self.address, receiver, assets)
        self.w.log("Withdraw", sender, receiver, owner, assets, shares)


class OrderBook:
    """`contracts/OrderBook.vy`, minimally: partial fills per order, cancellations, expiry.
    Signatures are modelled as a flag: `signature_ok` says the bytes are a canonical 65-byte
    (r, s, v; low s) signature of the order's account (otherwise "ob: invalid signature"); it
    cannot vouch for address(0), refused first ("ob: zero account")."""


    def __init__(self, w: World, address: str) -> None:
        self.w = w
        self.address = address
        self.filled: dict[Order, int] = {}
        self.cancelled: set[tuple[str, int]] = set()

    def match_orders(
        self,
        sender: str,
        maker: Order,
        taker: Order,
        fill_size: int,
        *,
        maker_signature_ok: bool = True,
        taker_signature_ok: bool = True,
    ) -> None:
        require(fill_size != 0, "ob: zero fill")
        require(fill_size <= MAX_SIZE, "ob: size too large")
        require(maker.account != taker.account, "ob: self-match")
        require(maker.market == taker.market, "ob: market mismatch")
        require(maker.size != 0 and taker.size != 0, "ob: zero order size")
        # abs(min_value(int256)) would revert without a reason.
        require(maker.size != INT256_MIN and taker.size != INT256_MIN, "ob: size too large")
        require((maker.size > 0) != (taker.size > 0), "ob: same side")
        price = maker.limit_price
        if taker.size > 0:
            require(price <= taker.limit_price, "ob: taker limit violated")
        else:
            require(price >= taker.limit_price, "ob: taker limit violated")
        self._consume(maker, maker_signature_ok, fill_size)
        self._consume(taker, taker_signature_ok, fill_size)
        taker_size = to_int(fill_size)
        if taker.size < 0:
            taker_size = -taker_size
        self.w.ch.fill(self.address, maker.account, taker.account, maker.market, taker_size, price)

    def cancel_order(self, sender: str, nonce: int) -> None:
        require((sender, nonce) not in self.cancelled, "ob: already cancelled")
        self.cancelled.add((sender, nonce))
        self.w.log("OrderCancelled", sender, nonce)

    def remaining(self, order: Order) -> int:
        if (order.account, order.nonce) in self.cancelled or self.w.now > order.expiry:
            return 0
        return abs(order.size) - min(self.filled.get(order, 0), abs(order.size))

    def _consume(self, order: Order, signature_ok: bool, fill_size: int) -> None:
        require(self.w.now <= order.expiry, "ob: order expired")
        require((order.account, order.nonce) not in self.cancelled, "ob: order cancelled")
        # ecrecover answers address(0) for garbage: it must never be an order's account.
        require(order.account != ZERO_ADDRESS, "ob: zero account")
        require(signature_ok, "ob: invalid signature")
        done = u256(self.filled.get(order, 0) + fill_size)
        require(done <= abs(order.size), "ob: order overfilled")
        self.filled[order] = done
        self.w.log("OrderFilled", order.account, fill_size, done)
