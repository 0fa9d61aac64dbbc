"""The interface both chain drivers implement: :class:`Driver`, one chain with perpvault
deployed on it, one method per protocol action, the one-call state read and chain control.

Two backends (titanoboa's shape: a transport, an environment, two networks):

- :class:`perpvault.chain.raw.RawDriver`: raw JSON-RPC to its own Anvil, one round trip per
  transaction (the fuzzer, the replay, the gas bench);
- :class:`perpvault.chain.ape_driver.ApeDriver`: the same transactions through ape's contract
  objects (the bench's baseline).

A transaction is (sender, contract address, calldata): :attr:`DeployedSystem.calls` builds
the calldata, so a caller (the fuzz machine) drives either backend with the same bytes.
Every action raises :class:`~perpvault.chain.rpc.TxReverted` with the decoded reason when
the transaction reverts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from perpvault.chain.abi import Artifact, Calls, ContractAbi
from perpvault.chain.deploy import System
from perpvault.chain.invariants import check_invariants
from perpvault.chain.orders import Order
from perpvault.chain.rpc import DEFAULT_MNEMONIC
from perpvault.chain.signing import OrderSigner
from perpvault.chain.state import ChainState

MAX_UINT = 2**256 - 1
FAR_EXPIRY = 2**40  # order expiry far beyond any fuzz clock


@dataclass(frozen=True)
class DevAccount:
    address: str  # checksummed
    private_key: bytes


@lru_cache(maxsize=4)
def dev_accounts(n: int = 10, mnemonic: str = DEFAULT_MNEMONIC) -> tuple[DevAccount, ...]:
    """Anvil's dev accounts (BIP-44 m/44'/60'/0'/0/i of the mnemonic), with their keys for
    signing orders. They are ape's test accounts too."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    out = []
    for i in range(n):
        acct = Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}")
        out.append(DevAccount(acct.address, bytes(acct.key)))
    return tuple(out)


@dataclass(kw_only=True)
class DeployedSystem(System[str]):
    """The deployed system as a driver's caller sees it: each contract's address
    (``system.clearinghouse``), the roles' addresses, the markets, and the ABIs, calldata
    builders and order signer."""

    abis: dict[str, ContractAbi]
    calls: Calls
    signer: OrderSigner
    artifacts: dict[str, Artifact] = field(repr=False, default_factory=dict)

    @property
    def addresses(self) -> dict[str, str]:
        """Every contract's address by contract name, in deployment order."""
        return self.contracts


class Pending(Protocol):
    """A transaction sent; :meth:`receipt` waits for it (raising TxReverted if it reverted)."""

    def receipt(self) -> dict: ...


class Driver(ABC):
    """One chain with the system deployed, driven by one backend."""

    system: DeployedSystem
    accounts: tuple[DevAccount, ...]  # accounts[0] owns, [1] updates the oracle

    # -- what a backend provides

    @abstractmethod
    def start_tx(self, sender: str, to: str, data: bytes, label: str = "") -> Pending:
        """Send a transaction now; its ``receipt()`` later (the caller may work meanwhile)."""

    def send(self, sender: str, to: str, data: bytes, label: str = "") -> dict:
        """Send a transaction and wait for its receipt."""
        return self.start_tx(sender, to, data, label).receipt()

    @abstractmethod
    def eth_call(self, to: str, data: bytes) -> bytes:
        """Run a call at the latest block; its return data."""

    @abstractmethod
    def start_read(self) -> None:
        """Start the one-call state read (:meth:`finish_read` returns it)."""

    @abstractmethod
    def finish_read(self) -> ChainState: ...

    @abstractmethod
    def snapshot(self) -> Any: ...

    @abstractmethod
    def revert(self, snapshot_id: Any) -> None: ...

    @abstractmethod
    def set_next_block_timestamp(self, timestamp: int) -> None: ...

    @abstractmethod
    def set_block_interval(self, seconds: int) -> None:
        """Every new block is stamped `seconds` after the previous one (also after a revert)."""

    @abstractmethod
    def advance_time(self, seconds: int) -> None:
        """The next block is stamped `seconds` later (no block is mined)."""

    @abstractmethod
    def close(self) -> None: ...

    # -- reading

    def read(self) -> ChainState:
        self.start_read()
        return self.finish_read()

    def check(self) -> tuple[ChainState, list[str]]:
        """One read and the I1/I2/I5 violations found in it."""
        state = self.read()
        return state, check_invariants(state)

    def view(self, contract: str, fn: str, *args: Any) -> Any:
        """A view of one of the system's contracts (by contract name), decoded."""
        f = self.system.abis[contract].fn(fn)
        return f.decode(self.eth_call(self.system.contracts[contract], f.encode(*args)))

    # -- protocol actions (each one transaction)

    def mint(self, account: str, amount: int) -> None:
        s = self.system
        self.send(s.owner, s.usdc, s.calls.mint(account, amount), "MockUSDC.mint")

    def approve(self, account: str, spender: str, amount: int = MAX_UINT) -> None:
        s = self.system
        self.send(account, s.usdc, s.calls.approve(spender, amount), "MockUSDC.approve")

    def deposit(self, account: str, amount: int) -> None:
        s = self.system
        self.send(account, s.clearinghouse, s.calls.deposit(amount), "Clearinghouse.deposit")

    def withdraw(self, account: str, amount: int) -> None:
        s = self.system
        self.send(account, s.clearinghouse, s.calls.withdraw(amount), "Clearinghouse.withdraw")

    def settle_funding(self, sender: str, account: str) -> None:
        s = self.system
        self.send(
            sender, s.clearinghouse, s.calls.settle_funding(account), "Clearinghouse.settle_funding"
        )

    def liquidate(
        self, keeper: str, account: str, counterparties: list[str] | tuple[str, ...] = ()
    ) -> None:
        s = self.system
        self.send(
            keeper,
            s.clearinghouse,
            s.calls.liquidate(account, list(counterparties)),
            "Clearinghouse.liquidate",
        )

    def sweep_to_insurance(self, sender: str) -> None:
        s = self.system
        self.send(
            sender, s.clearinghouse, s.calls.sweep_to_insurance, "Clearinghouse.sweep_to_insurance"
        )

    def fill(
        self,
        maker: str,
        taker: str,
        market: int,
        taker_size: int,
        price: int,
        *,
        nonces: tuple[int, int],
        sender: str | None = None,
        expiry: int = FAR_EXPIRY,
    ) -> None:
        """Sign a maker order at `price` for -taker_size and a taker order for taker_size, and
        match them."""
        s = self.system
        maker_order = Order(maker, market, -taker_size, price, nonces[0], expiry)
        taker_order = Order(taker, market, taker_size, price, nonces[1], expiry)
        data = s.calls.match_orders(
            maker_order.as_tuple(),
            s.signer.sign(maker_order),
            taker_order.as_tuple(),
            s.signer.sign(taker_order),
            abs(taker_size),
        )
        self.send(sender or taker, s.order_book, data, "OrderBook.match_orders")

    def vault_trade(self, account: str, market: int, size: int, limit_price: int) -> None:
        s = self.system
        self.send(
            account, s.vault, s.calls.vault_trade(market, size, limit_price), "LiquidityVault.trade"
        )

    def vault_deposit(self, account: str, assets: int, receiver: str | None = None) -> None:
        s = self.system
        self.send(
            account,
            s.vault,
            s.calls.vault_deposit(assets, receiver or account),
            "LiquidityVault.deposit",
        )

    def vault_redeem(self, account: str, shares: int) -> None:
        s = self.system
        self.send(
            account,
            s.vault,
            s.calls.vault_redeem(shares, account, account),
            "LiquidityVault.redeem",
        )

    def donate(self, account: str, amount: int) -> None:
        s = self.system
        self.send(account, s.fund, s.calls.donate(amount), "InsuranceFund.donate")

    def set_price(self, market: int, price: int) -> None:
        s = self.system
        self.send(s.oracle_updater, s.feed, s.calls.set_price(market, price), "PriceFeed.set_price")


__all__ = [
    "FAR_EXPIRY",
    "MAX_UINT",
    "DeployedSystem",
    "DevAccount",
    "Driver",
    "Pending",
    "dev_accounts",
]
