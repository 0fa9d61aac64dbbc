"""Drive the chain and the reference model side by side, diffing them after every step.

`Lockstep(system, chain, model, accounts)` sends each action to the contracts, reads the
timestamp of the block the transaction was mined in, applies the same action to the model at
that time, reads the whole state in one call (perpvault.chain.ape_driver.read_state) and
asserts that `perpvault.chain.compare.diff` finds nothing, that I1/I2/I5 hold on chain and in
the model (and, where asked, that the waterfall's events agree): the same read, diff and
check as the fuzz machine's and the replay's. With `system=None` it runs the model alone (one
second per transaction), which is how a scenario's prices are tuned before it touches a chain.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import astuple, dataclass, field
from typing import Any

from perpvault.chain.ape_driver import chain_events, read_state
from perpvault.chain.compare import diff
from perpvault.chain.invariants import check_invariants
from perpvault.model import Exchange, Order, Revert, addr
from perpvault.model.compare import model_events
from perpvault.model.state import MarketParams

# Every event the model records with the contract's fields (OrderFilled carries a digest the
# model does not compute; ERC-20 Transfer/Approval are not modelled).
COMPARED_EVENTS = (
    "Deposited",
    "Withdrawn",
    "Filled",
    "FundingSettled",
    "InsuranceSwept",
    "Liquidated",
    "BadDebtCovered",
    "ShortfallSocialized",
    "Deleveraged",
    "Donated",
    "RevenueReceived",
    "Covered",
    "PriceUpdated",
    "Deposit",
    "Withdraw",
    "VaultTraded",
    "Paused",
    "Unpaused",
    "MarketParamsSet",
    "RiskParamsSet",
    "SpreadSet",
)


@dataclass
class Lockstep:
    system: Any  # None: model only
    chain: Any
    model: Exchange
    accounts: list[Any]
    steps: int = 0
    compared: int = 0  # steps after which the whole state was diffed
    log: list[str] = field(default_factory=list)
    _nonce: int = 1

    # --- the comparison -----------------------------------------------------------------------

    def disagreements(self) -> list[str]:
        """Everything the chain and the model disagree on, and every invariant broken on either."""
        state = read_state(self.system, extra=[*self.accounts, self.system.vault])
        out = diff(self.model, state) + check_invariants(state)
        m = self.model
        out += [
            f"model I1: sizes in market {k} sum to {m.sum_sizes(k)}"
            for k in range(m.w.ch.market_count)
            if m.sum_sizes(k) != 0
        ]
        if m.conservation_gap() != 0:
            out.append(f"model I2: conservation gap {m.conservation_gap()}")
        out += self._side_disagreements()
        if m.fund_gap() != 0:
            out.append(f"model I5: fund gap {m.fund_gap()}")
        return out

    def _side_disagreements(self) -> list[str]:
        """Each market side's holders, slot by slot (ledger.side_at: the order the ADL queue's
        completeness check reads a large side in), on chain and in the model."""
        ch, out = self.system.clearinghouse, []
        for key in range(2 * self.model.w.ch.market_count):
            on_chain = [str(ch.side_at(key, i)).lower() for i in range(1, ch.side_count(key) + 1)]
            in_model = self.model.w.ch.side_at.get(key, [])
            if on_chain != in_model:
                out.append(f"side {key}: chain {on_chain}, model {in_model}")
        return out

    # --- the step -----------------------------------------------------------------------------

    def step(
        self,
        label: str,
        on_chain: Callable[[], Any] | None,
        on_model: Callable[[Exchange], Any],
        events: Iterable[str] = COMPARED_EVENTS,
        *,
        compare: bool = True,
    ) -> Any:
        receipt = None
        if self.system is not None and on_chain is not None:
            receipt = on_chain()
            self.model.at(int(self.chain.blocks[receipt.block_number].timestamp))
        elif self.system is None:
            self.model.advance(1)
        result = on_model(self.model)
        self.steps += 1
        self.log.append(label)
        if self.system is not None and compare:
            self.compared += 1
            diffs = self.disagreements()
            assert not diffs, (
                f"step {self.steps} ({label}): model and chain disagree:\n" + "\n".join(diffs)
            )
            if receipt is not None and events:
                names = tuple(events)
                assert chain_events(receipt, names) == model_events(self.model, names), (
                    f"step {self.steps} ({label}): events differ\n"
                    f"chain {chain_events(receipt, names)}\nmodel {model_events(self.model, names)}"
                )
        return result

    def expect_revert(
        self,
        label: str,
        on_chain: Callable[[], Any] | None,
        on_model: Callable[[Exchange], Any],
        reason: str,
    ) -> None:
        """Both sides revert with `reason`, and neither changes state."""
        if self.system is not None and on_chain is not None:
            import ape

            with ape.reverts(reason):
                on_chain()
            # A failing transaction may still be mined (as reverted): the model's clock follows.
            self.model.at(int(self.chain.blocks.head.timestamp))
        try:
            on_model(self.model)
        except Revert as exc:
            assert exc.reason == reason, (
                f"{label}: model reverted with {exc.reason!r}, chain with {reason!r}"
            )
        else:
            raise AssertionError(f"{label}: the model did not revert ({reason!r} expected)")
        self.steps += 1
        self.log.append(f"revert: {label}")
        if self.system is not None:
            self.compared += 1
            diffs = self.disagreements()
            assert not diffs, f"step {self.steps} (revert {label}): disagree:\n" + "\n".join(diffs)

    def owner_call(
        self, label: str, on_chain: Callable[[Any], Any], on_model: Callable[[Exchange], Any]
    ) -> None:
        """An owner-only action (pause, parameters): `on_chain` gets the system."""
        s = self.system
        self.step(label, s and (lambda: on_chain(s)), on_model)

    def change_market_params(self, market: int, params: MarketParams) -> None:
        """The owner's only way to change a market: announce, wait out the delay, re-post the
        oracle's prices (stale after the wait), apply; every step compared."""
        owner = self.model.owner
        self.owner_call(
            f"announce m{market} params",
            lambda s: s.clearinghouse.announce_market_params(market, astuple(params), sender=s.owner),
            lambda x: x.announce_market_params(owner, market, params),
        )
        self.advance(self.model.w.ch.timelock.delay)
        for m, r in sorted(self.model.w.feed.rounds.items()):
            self.set_price(m, r.price)
        self.owner_call(
            f"apply m{market} params",
            lambda s: s.clearinghouse.apply_market_params(market, sender=s.owner),
            lambda x: x.apply_market_params(owner, market),
        )

    def sim(self) -> Exchange:
        """A throwaway copy of the model one second ahead, to plan the next step."""
        m = copy.deepcopy(self.model)
        m.advance(1)
        return m

    # --- actions ------------------------------------------------------------------------------

    def fund(self, account: Any, amount: int, *, deposit: bool = True) -> None:
        s = self.system
        self.step(
            f"mint {amount} to {account}",
            s and (lambda: s.usdc.mint(account, amount, sender=s.owner)),
            lambda m: m.mint(account, amount),
            compare=False,
        )
        for spender, model_spender in (
            (s and s.clearinghouse, self.model.ch.address),
            (s and s.vault, self.model.w.vault.address),
            (s and s.fund, self.model.w.fund.address),
        ):
            self.step(
                f"approve {account}",
                s and (lambda sp=spender: s.usdc.approve(sp, 2**256 - 1, sender=account)),
                lambda m, sp=model_spender: m.approve(account, sp),
                compare=False,
            )
        if deposit:
            self.deposit(account, amount)

    def deposit(self, account: Any, amount: int) -> None:
        s = self.system
        self.step(
            f"deposit {account} {amount}",
            s and (lambda: s.clearinghouse.deposit(amount, sender=account)),
            lambda m: m.deposit(account, amount),
        )

    def withdraw(self, account: Any, amount: int, *, revert: str | None = None) -> None:
        s = self.system
        self._do(
            f"withdraw {account} {amount}",
            s and (lambda: s.clearinghouse.withdraw(amount, sender=account)),
            lambda m: m.withdraw(account, amount),
            revert,
        )

    def order(self, account: Any, market: int, size: int, limit_price: int) -> tuple[Any, Order]:
        """A fresh order of `account` (expiring in an hour): (account, Order)."""
        expiry = self.model.now + 3600
        return account, Order(addr(account), market, size, limit_price, self._next_nonce(), expiry)

    def match(
        self,
        maker: tuple[Any, Order],
        taker: tuple[Any, Order],
        fill_size: int,
        *,
        sender: Any = None,
        revert: str | None = None,
    ) -> None:
        """OrderBook.match_orders of two orders from `order` (each signed by its account)."""
        s = self.system
        (maker_account, mo), (taker_account, to) = maker, taker
        sender = sender or taker_account

        def on_chain() -> Any:
            from perpvault.chain.orders import Order as ChainOrder
            from perpvault.chain.orders import sign_order

            def sign(account: Any, o: Order) -> tuple[tuple, bytes]:
                co = ChainOrder(account.address, o.market, o.size, o.limit_price, o.nonce, o.expiry)
                sig = sign_order(
                    account.private_key,
                    co,
                    chain_id=self.chain.chain_id,
                    order_book=s.order_book.address,
                )
                return co.as_tuple(), sig

            (mt, ms), (tt, ts) = sign(maker_account, mo), sign(taker_account, to)
            return s.order_book.match_orders(mt, ms, tt, ts, fill_size, sender=sender)

        self._do(
            f"match {maker_account}/{taker_account} m{mo.market} {fill_size}@{mo.limit_price}",
            s and on_chain,
            lambda m: m.match_orders(sender, mo, to, fill_size),
            revert,
        )

    def cancel(self, order: tuple[Any, Order]) -> None:
        s = self.system
        account, o = order
        self.step(
            f"cancel {account} nonce {o.nonce}",
            s and (lambda: s.order_book.cancel_order(o.nonce, sender=account)),
            lambda m: m.cancel_order(account, o.nonce),
        )

    def trade(
        self,
        maker: Any,
        taker: Any,
        market: int,
        taker_size: int,
        price: int,
        *,
        sender: Any = None,
        revert: str | None = None,
    ) -> None:
        """Signed maker and taker orders at the maker's limit `price`, matched for |taker_size|."""
        self.match(
            self.order(maker, market, -taker_size, price),
            self.order(taker, market, taker_size, price),
            abs(taker_size),
            sender=sender,
            revert=revert,
        )

    def vault_trade(
        self,
        trader: Any,
        market: int,
        size: int,
        limit_price: int | None = None,
        *,
        revert: str | None = None,
    ) -> None:
        s = self.system
        limit = limit_price if limit_price is not None else (2**256 - 1 if size > 0 else 0)
        self._do(
            f"vault trade {trader} m{market} {size}",
            s and (lambda: s.vault.trade(market, size, limit, sender=trader)),
            lambda m: m.vault_trade(trader, market, size, limit),
            revert,
        )

    def vault_deposit(self, lp: Any, assets: int) -> None:
        s = self.system
        self.step(
            f"vault deposit {lp} {assets}",
            s and (lambda: s.vault.deposit(assets, lp, sender=lp)),
            lambda m: m.vault_deposit(lp, assets),
        )

    def vault_mint(self, lp: Any, shares: int) -> None:
        s = self.system
        self.step(
            f"vault mint {lp} {shares}",
            s and (lambda: s.vault.mint(shares, lp, sender=lp)),
            lambda m: m.vault_mint(lp, shares),
        )

    def vault_redeem(self, lp: Any, shares: int) -> None:
        s = self.system
        self.step(
            f"vault redeem {lp} {shares}",
            s and (lambda: s.vault.redeem(shares, lp, lp, sender=lp)),
            lambda m: m.vault_redeem(lp, shares),
        )

    def vault_withdraw(self, lp: Any, assets: int) -> None:
        s = self.system
        self.step(
            f"vault withdraw {lp} {assets}",
            s and (lambda: s.vault.withdraw(assets, lp, lp, sender=lp)),
            lambda m: m.vault_withdraw(lp, assets),
        )

    def set_price(self, market: int, price: int) -> None:
        s = self.system
        self.step(
            f"price m{market} {price}",
            s and (lambda: s.feed.set_price(market, price, sender=s.oracle_updater)),
            lambda m: m.set_price(m.w.feed.updater, market, price),
        )

    def advance(self, seconds: int) -> None:
        """Mine an empty block `seconds` after the latest one."""
        target = self.model.now + seconds
        if self.system is not None:
            self.chain.mine(timestamp=target)
            target = int(self.chain.blocks.head.timestamp)
        self.model.at(target)
        self.steps += 1
        if self.system is not None:
            self.compared += 1
            diffs = self.disagreements()
            assert not diffs, f"step {self.steps} (advance {seconds}s): disagree:\n" + "\n".join(
                diffs
            )

    def settle_funding(self, sender: Any, account: Any) -> None:
        s = self.system
        self.step(
            f"settle funding {account}",
            s and (lambda: s.clearinghouse.settle_funding(account, sender=sender)),
            lambda m: m.settle_funding(sender, account),
        )

    def sweep(self, sender: Any) -> int:
        s = self.system
        return self.step(
            "sweep",
            s and (lambda: s.clearinghouse.sweep_to_insurance(sender=sender)),
            lambda m: m.sweep_to_insurance(sender),
        )

    def donate(self, donor: Any, amount: int) -> None:
        s = self.system
        self.step(
            f"donate {amount}",
            s and (lambda: s.fund.donate(amount, sender=donor)),
            lambda m: m.donate(donor, amount),
        )

    def liquidate(
        self,
        keeper: Any,
        account: Any,
        counterparties: list[Any] = (),
        *,
        revert: str | None = None,
    ) -> None:
        s = self.system
        cps = list(counterparties)
        self._do(
            f"liquidate {account} cps={len(cps)}",
            s and (lambda: s.clearinghouse.liquidate(account, cps, sender=keeper)),
            lambda m: m.liquidate(keeper, account, cps),
            revert,
        )

    def _do(
        self,
        label: str,
        on_chain: Callable[[], Any] | None,
        on_model: Callable[[Exchange], Any],
        revert: str | None,
    ) -> None:
        if revert is None:
            self.step(label, on_chain, on_model)
        else:
            self.expect_revert(label, on_chain, on_model, revert)

    def _next_nonce(self) -> int:
        self._nonce += 1
        return self._nonce
