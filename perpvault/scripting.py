"""Scripting perpvault from Python, in the mechanism's words (docs/scripting.md).

A thin facade over the ape handles (:class:`perpvault.chain.deploy.System`): markets by name
("BTC-PERP", or "BTC"), human units in and out (``Decimal`` USDC, base units and prices; ints
and strings are read as decimals, never as atoms), and the waterfall's verbs::

    from ape import accounts
    from perpvault.scripting import Venue

    venue = Venue.deploy()                      # on the network ape is connected to (local: ape's Anvil)
    alice, bob, lp = accounts.test_accounts[4:7]
    venue.lp_deposit(lp, 100_000)
    venue.deposit(alice, 1_000); venue.deposit(bob, 10_000)
    venue.open(long=alice, short=bob, market="BTC-PERP", size="0.1")   # at the oracle's price
    venue.set_price("BTC-PERP", 52_000)
    venue.health(alice)                          # Health(equity=..., maintenance=..., liquidatable=True)
    venue.liquidate(alice)                       # the keeper's plan inside: the ADL list it needs

Every call sends ape transactions from the accounts given (ape signs: test accounts, keyfiles,
hardware wallets); the facade holds no state of its own but the handles, so mixing it with
``venue.system.clearinghouse.<anything>`` is fine.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

from perpvault.units import BASE, USDC, WAD

Amount = Decimal | int | str

MAX_UINT = 2**256 - 1
SHARE = 10**12  # one LP share: the vault's shares have 6 + 6 decimals (an offset against inflation)


def _scaled(amount: Amount, unit: int) -> Decimal:
    """`amount` times `unit`, exactly (a context wide enough for any uint256)."""
    with localcontext() as ctx:
        ctx.prec = 100
        return Decimal(str(amount)) * unit


def _atoms(amount: Amount) -> int:
    """Whole USDC to atoms; refuses a fraction of an atom (nothing is rounded silently)."""
    value = _scaled(amount, USDC)
    if value != value.to_integral_value():
        raise ValueError(f"{amount} USDC is not a whole number of atoms (6 decimals)")
    return int(value)


def _base(amount: Amount) -> int:
    value = _scaled(amount, BASE)
    if value != value.to_integral_value():
        raise ValueError(f"{amount} is not a whole number of 18-decimal units")
    return int(value)


def _shares(amount: Amount) -> int:
    value = _scaled(amount, SHARE)
    if value != value.to_integral_value() or value <= 0:
        raise ValueError(f"{amount} shares: positive, with at most 12 decimals")
    return int(value)


def _price(amount: Amount) -> int:
    value = _scaled(amount, WAD)
    if value != value.to_integral_value() or value <= 0:
        raise ValueError(f"price {amount} must be positive, with at most 18 decimals")
    return int(value)


def _usd(atoms: int) -> Decimal:
    return Decimal(int(atoms)) / USDC


def _addr(account: Any) -> str:
    return str(getattr(account, "address", account))


@dataclass(frozen=True)
class Health:
    """An account's health at mark, funding included (Clearinghouse.health), in USDC."""

    equity: Decimal
    initial: Decimal  # initial margin requirement
    maintenance: Decimal  # maintenance margin requirement
    notional: Decimal
    liquidatable: bool  # equity < maintenance (with a position)

    @property
    def margin_ratio(self) -> Decimal | None:
        """Equity over notional (None when flat)."""
        return self.equity / self.notional if self.notional else None


@dataclass(frozen=True)
class Position:
    market: str
    size: Decimal  # base units, > 0 long
    entry_price: Decimal
    cost_basis: Decimal  # USDC, signed like size


@dataclass(frozen=True)
class AdlRank:
    """Where a position stands in its side's ADL queue (RiskLens.adl_rank)."""

    place: int  # 1 = first to be deleveraged (0 when flat)
    count: int  # positions on that side
    quantile: int  # 1..5, 5 = first in line (0 when flat)


@dataclass(frozen=True)
class LiquidationResult:
    """What one liquidation did: the ADL list the keeper sent and the waterfall's events."""

    account: str
    counterparties: list[str]
    events: list[Any]  # perpvault.keeper.tally.WaterfallEvent, in order
    receipt: Any

    @property
    def deleveraged(self) -> list[str]:
        return [e.args["counterparty"] for e in self.events if e.name == "Deleveraged"]

    def absorbed(self) -> dict[str, Decimal]:
        """USDC each layer took: the insurance fund (bad debt covered) and ADL (socialized)."""
        fund = sum(e.args["amount"] for e in self.events if e.name == "BadDebtCovered")
        adl = sum(e.args["amount"] for e in self.events if e.name == "ShortfallSocialized")
        return {"insurance_fund": _usd(fund), "adl": _usd(adl)}


class Venue:
    """perpvault as a script sees it. Build it with :meth:`deploy` or :meth:`attach`, or wrap
    a :class:`~perpvault.chain.deploy.System` you have."""

    def __init__(self, system: Any, *, keeper: Any = None):
        self.system = system
        self.keeper = keeper if keeper is not None else system.owner
        self._ids = {}
        for i, spec in enumerate(system.markets):
            self._ids[spec.name] = i
            self._ids[spec.name.removesuffix("-PERP")] = i

    # -- building

    @classmethod
    def deploy(cls, *, owner: Any = None, oracle_updater: Any = None, keeper: Any = None,
               **deploy_kwargs: Any) -> Venue:
        """Deploy a fresh system on the connected network; roles default to ape's test
        accounts 0 (owner), 1 (oracle updater) and 2 (keeper). `deploy_kwargs` go to
        :func:`perpvault.chain.deploy.deploy` (markets, risk, ...)."""
        from ape import accounts

        from perpvault.chain.deploy import deploy

        test = accounts.test_accounts
        owner = owner or test[0]
        system = deploy(owner, oracle_updater or test[1], **deploy_kwargs)
        return cls(system, keeper=keeper or test[2])

    @classmethod
    def attach(cls, network: str, *, keeper: Any = None) -> Venue:
        """The deployment ``ape run deploy`` recorded for `network` (see System.attach)."""
        from perpvault.chain.deploy import System

        return cls(System.attach(network), keeper=keeper)

    # -- names and units

    def market(self, market: str | int) -> int:
        """A market's id from its name ("BTC-PERP" or "BTC") or id."""
        if isinstance(market, int) and 0 <= market < len(self.system.markets):
            return market
        try:
            return self._ids[str(market)]
        except KeyError:
            names = ", ".join(m.name for m in self.system.markets)
            raise ValueError(f"unknown market {market!r}; one of: {names}") from None

    @property
    def markets(self) -> list[str]:
        return [m.name for m in self.system.markets]

    # -- collateral and the LP vault

    def faucet(self, account: Any, amount: Amount) -> None:
        """Mint `amount` mock USDC to `account` (the MockUSDC only: its owner mints)."""
        self.system.usdc.mint(account, _atoms(amount), sender=self.system.owner)

    def deposit(self, trader: Any, amount: Amount) -> Decimal:
        """Deposit `amount` USDC as `trader`'s margin (minting what its wallet lacks, when the
        collateral is the MockUSDC); returns the margin after."""
        atoms = _atoms(amount)
        self._ensure_wallet(trader, atoms, self.system.clearinghouse)
        self.system.clearinghouse.deposit(atoms, sender=trader)
        return self.margin(trader)

    def withdraw(self, trader: Any, amount: Amount) -> Decimal:
        self.system.clearinghouse.withdraw(_atoms(amount), sender=trader)
        return self.margin(trader)

    def lp_deposit(self, lp: Any, amount: Amount) -> Decimal:
        """Deposit `amount` USDC into the LP vault; returns the LP's shares (whole shares: 1 per
        USDC at the first deposit)."""
        atoms = _atoms(amount)
        self._ensure_wallet(lp, atoms, self.system.vault)
        self.system.vault.deposit(atoms, lp, sender=lp)
        return Decimal(int(self.system.vault.balanceOf(lp))) / SHARE

    def lp_redeem(self, lp: Any, shares: Amount | None = None) -> Decimal:
        """Redeem `shares` (all of them by default); returns the USDC received."""
        raw = self.system.vault.balanceOf(lp) if shares is None else _shares(shares)
        before = self.system.usdc.balanceOf(lp)
        self.system.vault.redeem(raw, lp, lp, sender=lp)
        return _usd(self.system.usdc.balanceOf(lp) - before)

    def _ensure_wallet(self, account: Any, atoms: int, spender: Any) -> None:
        usdc = self.system.usdc
        short = atoms - usdc.balanceOf(account)
        if short > 0 and self._mintable():
            usdc.mint(account, short, sender=self.system.owner)
        if usdc.allowance(account, spender) < atoms:
            usdc.approve(spender, MAX_UINT, sender=account)

    def _mintable(self) -> bool:
        try:
            return bool(self.system.usdc.is_minter(self.system.owner))
        except Exception:  # noqa: BLE001 - a real USDC has no is_minter
            return False

    # -- trading

    def price(self, market: str | int) -> Decimal:
        """The market's mark: its oracle's price as the Clearinghouse reads it (reverts when
        stale)."""
        return Decimal(int(self.system.clearinghouse.mark_price(self.market(market)))) / WAD

    def set_price(self, market: str | int, price: Amount) -> None:
        """The oracle updater posts `price` (within the feed's jump bound)."""
        from perpvault.chain.actions import set_price

        set_price(self.system, self.market(market), _price(price))

    def open(self, *, long: Any, short: Any, market: str | int, size: Amount, price: Amount | None = None) -> Any:
        """`long` buys `size` from `short` at `price` (default: the oracle's), both orders
        signed (the short's is the maker order). Returns the receipt."""
        from ape import chain

        from perpvault.chain.actions import trade

        q = _base(size)
        if q <= 0:
            raise ValueError(f"size must be positive (who is long says the side), got {size}")
        m = self.market(market)
        p = _price(price) if price is not None else int(self.system.clearinghouse.mark_price(m))
        return trade(self.system, short, long, m, q, p, chain=chain, sender=self.keeper)

    def vault_trade(self, trader: Any, market: str | int, size: Amount, *, limit_price: Amount | None = None) -> Any:
        """`trader` trades `size` (> 0 buys, < 0 sells) with the LP vault at the oracle price
        plus or minus its spread; `limit_price` defaults to 5 % through the oracle."""
        m = self.market(market)
        q = _base(size)
        if q == 0:
            raise ValueError("size must not be zero")
        oracle = int(self.system.clearinghouse.mark_price(m))
        through = oracle * 105 // 100 if q > 0 else oracle * 95 // 100
        limit = _price(limit_price) if limit_price is not None else through
        return self.system.vault.trade(m, q, limit, sender=trader)

    def advance(self, seconds: int) -> None:
        """Move the chain's clock (a local network only) and mine a block."""
        from ape import chain

        chain.pending_timestamp += int(seconds)
        chain.mine()

    # -- the waterfall

    def liquidate(self, account: Any) -> LiquidationResult:
        """Liquidate `account` as the keeper: the model plans the ADL list the contract
        accepts, a dry run checks it, the keeper sends it."""
        from perpvault.keeper import Keeper

        done = Keeper(self.system, self.keeper).liquidate(_addr(account))
        return LiquidationResult(done.account, list(done.counterparties), list(done.events), done.receipt)

    # -- reading

    def margin(self, trader: Any) -> Decimal:
        return _usd(self.system.clearinghouse.margin(trader))

    def health(self, account: Any) -> Health:
        h = self.system.clearinghouse.health(account)
        equity, initial, maintenance, notional = (int(x) for x in h)
        return Health(_usd(equity), _usd(initial), _usd(maintenance), _usd(notional),
                      maintenance != 0 and equity < maintenance)

    def position(self, account: Any, market: str | int) -> Position:
        m = self.market(market)
        q, basis, entry = (int(x) for x in self.system.clearinghouse.position(account, m))
        return Position(self.system.markets[m].name, Decimal(q) / BASE, Decimal(entry) / WAD, _usd(basis))

    def adl_rank(self, account: Any, market: str | int) -> AdlRank:
        place, count, quantile = (int(x) for x in self.system.lens.adl_rank(account, self.market(market)))
        return AdlRank(place, count, quantile)

    def insurance_fund(self) -> Decimal:
        """What the insurance fund can cover now (its balance plus the dues not yet swept)."""
        return _usd(self.system.fund.available()) + _usd(self.system.clearinghouse.insurance_due())

    def vault_share_price(self) -> Decimal:
        """USDC per LP share (ERC-4626 convertToAssets of one share)."""
        return _usd(self.system.vault.convertToAssets(SHARE))


__all__ = ["AdlRank", "Health", "LiquidationResult", "Position", "Venue"]
