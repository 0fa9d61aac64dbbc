"""Deploy perpvault over raw JSON-RPC, with exactly the wiring of perpvault.chain.deploy.

Route chosen: deploy the vyper CLI's init code ourselves (``eth_sendTransactionSync`` from
Anvil's unlocked dev accounts) rather than deploy with ape and attach. It needs no ape
import (seconds saved per worker), works on any Anvil the fuzzer starts, and takes the
parameters from the same constants (DEFAULT_MARKETS, DEFAULT_RISK, VAULT_SPREAD,
ORACLE_MAX_AGE, ORACLE_MAX_JUMP). The order of transactions is the same as
:func:`perpvault.chain.deploy.deploy`, so on a fresh chain with the same owner every
contract lands at the same address ape would give it (the test checks this).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from perpvault.chain.deploy import (
    DEFAULT_MARKETS,
    DEFAULT_RISK,
    ORACLE_MAX_AGE,
    ORACLE_MAX_JUMP,
    VAULT_SPREAD,
    MarketSpec,
)
from perpvault.chain.abi import Artifact, Calls, ContractAbi, load_artifacts
from perpvault.chain.rpc import DEFAULT_MNEMONIC, Rpc
from perpvault.chain.signing import OrderSigner


@dataclass(frozen=True)
class DevAccount:
    address: str  # checksummed
    private_key: bytes


@lru_cache(maxsize=4)
def dev_accounts(n: int = 10, mnemonic: str = DEFAULT_MNEMONIC) -> tuple[DevAccount, ...]:
    """Anvil's dev accounts (BIP-44 m/44'/60'/0'/0/i of the mnemonic), with their keys for signing orders."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    out = []
    for i in range(n):
        acct = Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}")
        out.append(DevAccount(acct.address, bytes(acct.key)))
    return tuple(out)


@dataclass(kw_only=True)
class DeployedSystem:
    """The deployed system as the fuzz machine sees it: addresses, roles, markets, ABIs,
    calldata builders and the order signer. Subclasses say how a transaction is sent."""

    usdc: str
    feed: str
    fund: str
    clearinghouse: str
    vault: str
    order_book: str
    lens: str
    owner: str
    oracle_updater: str
    markets: tuple[MarketSpec, ...]
    abis: dict[str, ContractAbi]
    calls: Calls
    signer: OrderSigner
    artifacts: dict[str, Artifact] = field(repr=False, default_factory=dict)

    @property
    def addresses(self) -> dict[str, str]:
        return {
            "MockUSDC": self.usdc,
            "PriceFeed": self.feed,
            "InsuranceFund": self.fund,
            "Clearinghouse": self.clearinghouse,
            "LiquidityVault": self.vault,
            "OrderBook": self.order_book,
            "RiskLens": self.lens,
        }


@dataclass(kw_only=True)
class RawSystem(DeployedSystem):
    """The deployed system driven over raw RPC."""

    rpc: Rpc

    def tx(self, sender: str, to: str, data: bytes, label: str = "") -> dict:
        """Send `data` to `to` from the unlocked `sender`; raises TxReverted with the reason."""
        return self.rpc.send_transaction(sender, to, data, label=label)


def _deploy(rpc: Rpc, sender: str, artifact: Artifact, *args: object) -> str:
    init = artifact.bytecode + artifact.functions.encode_constructor(*args)
    receipt = rpc.send_transaction(sender, None, init, gas=15_000_000, label=f"deploy {artifact.name}")
    return _checksum(receipt["contractAddress"])


def _checksum(address: str) -> str:
    from eth_utils import to_checksum_address

    return to_checksum_address(address)


def deploy_raw(
    rpc: Rpc,
    owner: str,
    oracle_updater: str,
    *,
    markets: tuple[MarketSpec, ...] = DEFAULT_MARKETS,
    risk: tuple = DEFAULT_RISK,
    oracle_max_age: int = ORACLE_MAX_AGE,
    oracle_max_jump: int = ORACLE_MAX_JUMP,
    vault_spread: int = VAULT_SPREAD,
    contracts_dir: Path | None = None,
    keys: tuple[DevAccount, ...] | None = None,
    artifacts: dict[str, Artifact] | None = None,
) -> RawSystem:
    """Deploy and wire the whole system, in :func:`perpvault.chain.deploy.deploy`'s order.

    Collateral (MockUSDC), price feed with the initial prices, insurance fund,
    clearinghouse, liquidity vault, order book, lens; then fund -> clearinghouse,
    clearinghouse -> vault and order book, and the markets. `owner` and `oracle_updater`
    must be unlocked on the node. `contracts_dir` compiles another source tree (mutants);
    `artifacts` deploys given compiled contracts instead.
    """
    artifacts = artifacts or load_artifacts(contracts_dir)
    abis = {name: art.functions for name, art in artifacts.items()}
    calls = Calls(abis)

    def send(sender: str, to: str, data: bytes, label: str) -> None:
        rpc.send_transaction(sender, to, data, label=label)

    usdc = _deploy(rpc, owner, artifacts["MockUSDC"])
    feed = _deploy(rpc, owner, artifacts["PriceFeed"], oracle_updater, oracle_max_age, oracle_max_jump)
    for market_id, spec in enumerate(markets):
        send(oracle_updater, feed, calls.set_price(market_id, spec.initial_price), "set_price")
    fund = _deploy(rpc, owner, artifacts["InsuranceFund"], usdc)
    clearinghouse = _deploy(rpc, owner, artifacts["Clearinghouse"], usdc, fund, tuple(risk))
    vault = _deploy(rpc, owner, artifacts["LiquidityVault"], usdc, clearinghouse, vault_spread)
    order_book = _deploy(rpc, owner, artifacts["OrderBook"], clearinghouse)
    lens = _deploy(rpc, owner, artifacts["RiskLens"], clearinghouse)
    send(owner, fund, abis["InsuranceFund"].fn("set_clearinghouse").encode(clearinghouse), "set_clearinghouse")
    send(owner, clearinghouse, abis["Clearinghouse"].fn("set_vault").encode(vault), "set_vault")
    send(owner, clearinghouse, abis["Clearinghouse"].fn("set_order_book").encode(order_book), "set_order_book")
    add_market = abis["Clearinghouse"].fn("add_market")
    for spec in markets:
        send(owner, clearinghouse, add_market.encode(feed, spec.params()), "add_market")

    signer = OrderSigner(rpc.chain_id, order_book)
    for acct in keys or dev_accounts():
        signer.add_key(acct.address, acct.private_key)
    return RawSystem(
        rpc=rpc,
        usdc=usdc,
        feed=feed,
        fund=fund,
        clearinghouse=clearinghouse,
        vault=vault,
        order_book=order_book,
        lens=lens,
        owner=_checksum(owner),
        oracle_updater=_checksum(oracle_updater),
        markets=tuple(markets),
        abis=abis,
        calls=calls,
        signer=signer,
        artifacts=artifacts,
    )
