"""The spec's integer formulas, written out independently of the contracts (SPEC sections 2-5).

Tests compute expected numbers with these and compare them with what the chain reports, so
nothing asserted is the contract's own output read back.
"""

from __future__ import annotations

from dataclasses import dataclass

PPM = 10**6
WAD = 10**18
VALUE_UNIT = 10**30  # size (1e18) * price (1e18) / 1e30 = atoms (1e6)
FEE_UNIT = 10**36  # size * price * ppm / 1e36 = atoms
FUNDING_UNIT = 10**36
FUNDING_PRICE_DIV = 10**12


def ceil_div(a: int, b: int) -> int:
    """a / b rounded up (b > 0)."""
    return -((-a) // b)


def trunc_div(a: int, b: int) -> int:
    """a / b rounded toward zero, like Vyper's `//` on signed integers."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def value(size: int, price: int) -> int:
    """Mark value of a signed size, floored: what an account receives rounds down."""
    return (size * price) // VALUE_UNIT


def notional(size: int, price: int) -> int:
    """|size| * price in atoms, rounded up (owed)."""
    return ceil_div(abs(size) * price, VALUE_UNIT)


def fee(size: int, price: int, rate_ppm: int) -> int:
    """fee = ceil(|size| * price * rate / 1e36)."""
    return ceil_div(abs(size) * price * rate_ppm, FEE_UNIT)


requirement = fee


def funding_credit(size: int, index_delta: int) -> int:
    """What a position receives (< 0: pays) when the index moves: floor(-size * delta / 1e36)."""
    return (-(size * index_delta)) // FUNDING_UNIT


@dataclass
class Book:
    """One account's book in one market under the spec's accounting (cost basis, realized PnL)."""

    margin: int = 0
    size: int = 0
    basis: int = 0  # signed open notional: what was paid for the position (< 0 for shorts)

    def change(self, delta: int, cash: int) -> int:
        """Move the position by `delta` paying `cash` (> 0 pays); returns the realized PnL."""
        q, q_new = self.size, self.size + delta
        if q == 0 or (q > 0) == (delta > 0):
            basis_new = self.basis + cash
        elif abs(delta) <= abs(q):
            basis_new = trunc_div(self.basis * q_new, q)  # what remains keeps its entry price
        else:
            basis_new = trunc_div(cash * q_new, delta)  # flipped: the remainder enters at the fill
        realized = basis_new - self.basis - cash
        self.margin += realized
        self.size, self.basis = q_new, basis_new
        return realized

    def buy(self, size: int, price: int, fee_rate: int = 0) -> int:
        self.change(size, notional(size, price))
        f = fee(size, price, fee_rate)
        self.margin -= f
        return f

    def sell(self, size: int, price: int, fee_rate: int = 0) -> int:
        self.change(-size, -value(size, price))
        f = fee(size, price, fee_rate)
        self.margin -= f
        return f

    def equity(self, mark: int) -> int:
        return self.margin + value(self.size, mark) - self.basis


def trade_dust(size: int, price: int) -> int:
    """The atom the buyer pays above what the seller receives."""
    return notional(size, price) - value(size, price)


def vault_quote(oracle: int, buy: bool, spread_ppm: int) -> int:
    """The vault's fill price: a buy pays ceil(oracle x (1 + spread)), a sell gets floor(oracle x (1 - spread))."""
    if buy:
        return ceil_div(oracle * (PPM + spread_ppm), PPM)
    return oracle * (PPM - spread_ppm) // PPM


@dataclass
class FundingMarket:
    """The funding index of one market, accrued the way SPEC section 5 and mechanism.md section 5
    describe it: the rate from the LiquidityVault's position, fixed at the interval's start; each
    second of the interval valued at the oracle price in force during it.

    `vault_size` is the vault's signed size during the interval (the test sets it after each
    trade of the vault, which accrues first); `funding_price` the oracle price at the last accrual.
    """

    index: int
    last: int
    funding_price: int
    vault_size: int
    skew_scale: int  # base units (18 decimals): the vault position at which the rate reaches the cap
    cap: int  # max_funding_rate, WAD per second

    def rate(self) -> int:
        """WAD per second: cap x clamp(-vault size / skew_scale, -1, 1), the division truncated
        toward zero. > 0 (longs pay) when the vault is short."""
        return max(min(trunc_div(-self.vault_size * self.cap, self.skew_scale), self.cap), -self.cap)

    def index_at(self, now: int, oracle: int, updated: int) -> int:
        """The index at `now` when the oracle's latest price is `oracle`, posted at `updated`: the
        seconds before `updated` at the stored funding price, those from it on at `oracle`. A price
        posted before the last accrual (or at `now`) values no second of the interval at it."""
        if now == self.last:
            return self.index
        split = updated if self.last <= updated < now else now
        weighted = (split - self.last) * self.funding_price + (now - split) * oracle
        return self.index + (self.rate() * weighted) // FUNDING_PRICE_DIV

    def accrue(self, now: int, oracle: int, updated: int) -> int:
        """Brings the index to `now` and starts the next interval at `oracle`, the price now.
        Within the same second the index stays (an interval of no length is priced at nothing)
        and only the price is refreshed."""
        self.index = self.index_at(now, oracle, updated)
        self.funding_price = oracle
        self.last = now
        return self.index
