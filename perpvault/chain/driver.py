"""The fuzzer's hands on the chain: one method per protocol action, one RPC per transaction.

:class:`RawDriver` wraps a :class:`~perpvault.chain.raw.RawSystem`: every action sends
one ``eth_sendTransactionSync`` from an unlocked dev account (raising
:class:`~perpvault.chain.rpc.TxReverted` with the decoded reason when it reverts), and
:meth:`RawDriver.read` returns the whole book from one ``eth_call``.
"""

from __future__ import annotations

from dataclasses import dataclass

from perpvault.chain.orders import Order
from perpvault.chain.rpc import AnvilProcess, PendingTx, Rpc, start_anvil
from perpvault.chain.state import ChainState, StateReader, check_invariants
from perpvault.chain.raw import DevAccount, RawSystem, deploy_raw, dev_accounts

MAX_UINT = 2**256 - 1
FAR_EXPIRY = 2**40  # order expiry far beyond any fuzz clock


@dataclass
class RawDriver:
    system: RawSystem
    reader: StateReader
    accounts: tuple[DevAccount, ...]

    @property
    def rpc(self) -> Rpc:
        return self.system.rpc

    # -- protocol actions (each one transaction)

    def mint(self, account: str, amount: int) -> None:
        s = self.system
        s.tx(s.owner, s.usdc, s.calls.mint(account, amount), "MockUSDC.mint")

    def approve(self, account: str, spender: str, amount: int = MAX_UINT) -> None:
        s = self.system
        s.tx(account, s.usdc, s.calls.approve(spender, amount), "MockUSDC.approve")

    def deposit(self, account: str, amount: int) -> None:
        s = self.system
        s.tx(account, s.clearinghouse, s.calls.deposit(amount), "Clearinghouse.deposit")

    def withdraw(self, account: str, amount: int) -> None:
        s = self.system
        s.tx(account, s.clearinghouse, s.calls.withdraw(amount), "Clearinghouse.withdraw")

    def settle_funding(self, sender: str, account: str) -> None:
        s = self.system
        s.tx(sender, s.clearinghouse, s.calls.settle_funding(account), "Clearinghouse.settle_funding")

    def liquidate(self, keeper: str, account: str, counterparties: list[str] | tuple[str, ...] = ()) -> None:
        s = self.system
        s.tx(keeper, s.clearinghouse, s.calls.liquidate(account, list(counterparties)), "Clearinghouse.liquidate")

    def sweep_to_insurance(self, sender: str) -> None:
        s = self.system
        s.tx(sender, s.clearinghouse, s.calls.sweep_to_insurance, "Clearinghouse.sweep_to_insurance")

    def fill(self, maker: str, taker: str, market: int, taker_size: int, price: int, *, nonces: tuple[int, int],
             sender: str | None = None, expiry: int = FAR_EXPIRY) -> None:
        """Sign a maker order at `price` for -taker_size and a taker order for taker_size, and match them."""
        s = self.system
        maker_order = Order(maker, market, -taker_size, price, nonces[0], expiry)
        taker_order = Order(taker, market, taker_size, price, nonces[1], expiry)
        data = s.calls.match_orders(
            maker_order.as_tuple(), s.signer.sign(maker_order), taker_order.as_tuple(), s.signer.sign(taker_order),
            abs(taker_size),
        )
        s.tx(sender or taker, s.order_book, data, "OrderBook.match_orders")

    def vault_trade(self, account: str, market: int, size: int, limit_price: int) -> None:
        s = self.system
        s.tx(account, s.vault, s.calls.vault_trade(market, size, limit_price), "LiquidityVault.trade")

    def vault_deposit(self, account: str, assets: int, receiver: str | None = None) -> None:
        s = self.system
        s.tx(account, s.vault, s.calls.vault_deposit(assets, receiver or account), "LiquidityVault.deposit")

    def vault_redeem(self, account: str, shares: int) -> None:
        s = self.system
        s.tx(account, s.vault, s.calls.vault_redeem(shares, account, account), "LiquidityVault.redeem")

    def donate(self, account: str, amount: int) -> None:
        s = self.system
        s.tx(account, s.fund, s.calls.donate(amount), "InsuranceFund.donate")

    def set_price(self, market: int, price: int) -> None:
        s = self.system
        s.tx(s.oracle_updater, s.feed, s.calls.set_price(market, price), "PriceFeed.set_price")

    # -- the fuzz machine's interface to a chain (the ape twin, perpvault.chain.ape_driver, has the same)

    def start_tx(self, sender: str, to: str, data: bytes, label: str = "") -> PendingTx:
        """Send a transaction now; its ``receipt()`` (raising TxReverted) later."""
        return self.rpc.start_transaction(sender, to, data, label=label)

    def start_read(self) -> None:
        self.reader.start()

    def finish_read(self) -> ChainState:
        return self.reader.finish()

    def set_next_block_timestamp(self, timestamp: int) -> None:
        self.rpc.set_next_block_timestamp(timestamp)

    def set_block_interval(self, seconds: int) -> None:
        """Every new block is stamped `seconds` after the previous one (also after evm_revert)."""
        self.rpc.call("anvil_setBlockTimestampInterval", [seconds])

    def eth_call(self, to: str, data: bytes) -> bytes:
        return self.rpc.eth_call(to, data)

    def close(self) -> None:
        self.rpc.close()

    # -- time and state

    def advance_time(self, seconds: int) -> None:
        """The next block is stamped `seconds` later (no block is mined)."""
        self.rpc.increase_time(seconds)

    def snapshot(self) -> str:
        return self.rpc.snapshot()

    def revert(self, snapshot_id: str) -> None:
        self.rpc.revert(snapshot_id)

    def read(self) -> ChainState:
        return self.reader.read()

    def check(self) -> tuple[ChainState, list[str]]:
        """One read and the I1/I2/I5 violations found in it."""
        state = self.reader.read()
        return state, check_invariants(state)


ANVIL_FLAGS: tuple[str, ...] = ("--prune-history",)


def open_raw(anvil: AnvilProcess | None = None, *, n_accounts: int = 10, extra_args: tuple[str, ...] = ANVIL_FLAGS,
             tx_mode: str = "sync", strict: bool = False, **deploy_kwargs) -> tuple[RawDriver, AnvilProcess]:
    """Start Anvil (unless given one), deploy, install the reader; accounts[0] owns, [1] updates the oracle.

    ``--prune-history`` (no per-block historical states) measured ~1.4x faster here; reads
    are always at "latest", snapshots and reverts still work. Other flags measured on the
    full fuzz machine made no difference or cost time (``--threads 1``,
    ``--transaction-block-keeper``, ``--disable-console-log``; docs/fuzzing.md). `strict`:
    see :class:`~perpvault.chain.rpc.Rpc` (a dead node raises NodeUnreachable).
    """
    ours = anvil is None
    anvil = anvil or start_anvil(accounts=n_accounts, extra_args=extra_args)
    try:
        rpc = anvil.rpc(tx_mode=tx_mode, strict=strict)
        accounts = dev_accounts(n_accounts)
        system = deploy_raw(rpc, accounts[0].address, accounts[1].address, keys=accounts, **deploy_kwargs)
        reader = StateReader(system, extra=[a.address for a in accounts])
    except BaseException:
        if ours:  # do not leave the node we started running
            anvil.stop()
        raise
    return RawDriver(system, reader, accounts), anvil
