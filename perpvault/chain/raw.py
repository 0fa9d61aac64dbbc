"""The raw JSON-RPC driver: perpvault deployed and driven over :mod:`perpvault.chain.rpc`.

Why not ape: ape sends about a dozen RPCs per transaction. Here every transaction is one
``eth_sendTransactionSync`` from one of Anvil's unlocked dev accounts, with pre-encoded
calldata, and the whole state is one ``eth_call`` (:class:`~perpvault.chain.state.StateReader`).

Deployment: :class:`RawDeployer` sends the vyper CLI's init code (no ape import: seconds
saved per worker; it works on any Anvil and deploys edited copies of the contracts, the
mutants) through :func:`perpvault.chain.deploy.deploy`, the same table ape's deployment
runs: on a fresh chain with the same owner every contract lands at the address ape gives it
(the test checks this).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address

from perpvault.chain.abi import Artifact, Calls, load_artifacts
from perpvault.chain.deploy import Contract, deploy
from perpvault.chain.driver import DeployedSystem, DevAccount, Driver, dev_accounts
from perpvault.chain.rpc import ANVIL_FLAGS, AnvilProcess, PendingTx, Rpc, start_anvil
from perpvault.chain.signing import OrderSigner
from perpvault.chain.state import ChainState, StateReader
from perpvault.params import MarketSpec

DEPLOY_GAS = 15_000_000


@dataclass(kw_only=True)
class RawSystem(DeployedSystem):
    """The deployed system driven over raw RPC."""

    rpc: Rpc

    def tx(self, sender: str, to: str, data: bytes, label: str = "") -> dict:
        """Send `data` to `to` from the unlocked `sender`; raises TxReverted with the reason."""
        return self.rpc.send_transaction(sender, to, data, label=label)


@dataclass
class RawDeployer:
    """Runs perpvault.chain.deploy's table over `rpc` (the senders must be unlocked on the
    node). `keys`: the accounts whose orders the system's signer signs."""

    rpc: Rpc
    artifacts: dict[str, Artifact]
    keys: tuple[DevAccount, ...] = ()

    def create(self, step: Contract, sender: str, args: list[Any]) -> str:
        art = self.artifacts[step.contract]
        init = art.bytecode + art.functions.encode_constructor(*args)
        receipt = self.rpc.send_transaction(
            sender, None, init, gas=DEPLOY_GAS, label=f"deploy {art.name}"
        )
        return to_checksum_address(receipt["contractAddress"])

    def at(self, step: Contract, address: str) -> str:
        return to_checksum_address(address)

    def call(self, sender: str, contract: Contract, target: str, fn: str, args: list[Any]) -> None:
        data = self.artifacts[contract.contract].functions.fn(fn).encode(*args)
        self.rpc.send_transaction(sender, target, data, label=f"{contract.contract}.{fn}")

    def system(
        self,
        handles: dict[str, str],
        owner: str,
        oracle_updater: str,
        markets: tuple[MarketSpec, ...],
    ) -> RawSystem:
        abis = {name: art.functions for name, art in self.artifacts.items()}
        system = RawSystem(
            handles,
            to_checksum_address(owner),
            to_checksum_address(oracle_updater),
            markets,
            rpc=self.rpc,
            abis=abis,
            calls=Calls(abis),
            signer=OrderSigner(self.rpc.chain_id, handles["order_book"]),
            artifacts=self.artifacts,
        )
        for acct in self.keys:
            system.signer.add_key(acct.address, acct.private_key)
        return system


def raw_deployer(
    rpc: Rpc,
    *,
    keys: tuple[DevAccount, ...] | None = None,
    contracts_dir: Path | None = None,
    artifacts: dict[str, Artifact] | None = None,
) -> RawDeployer:
    """A RawDeployer of the repository's contracts (or `contracts_dir`'s, or the given
    compiled `artifacts`: mutants), signing for `keys` (Anvil's dev accounts by default)."""
    return RawDeployer(
        rpc,
        artifacts or load_artifacts(contracts_dir),
        keys if keys is not None else dev_accounts(),
    )


class RawDriver(Driver):
    """A :class:`~perpvault.chain.driver.Driver` over raw JSON-RPC: every transaction one
    round trip, the state one eth_call."""

    def __init__(self, system: RawSystem, reader: StateReader, accounts: tuple[DevAccount, ...]):
        self.system = system
        self.reader = reader
        self.accounts = accounts

    @property
    def rpc(self) -> Rpc:
        return self.system.rpc

    def send(self, sender: str, to: str, data: bytes, label: str = "") -> dict:
        return self.rpc.send_transaction(sender, to, data, label=label)

    def start_tx(self, sender: str, to: str, data: bytes, label: str = "") -> PendingTx:
        return self.rpc.start_transaction(sender, to, data, label=label)

    def eth_call(self, to: str, data: bytes) -> bytes:
        return self.rpc.eth_call(to, data)

    def read(self) -> ChainState:
        return self.reader.read()

    def start_read(self) -> None:
        self.reader.start()

    def finish_read(self) -> ChainState:
        return self.reader.finish()

    def snapshot(self) -> str:
        return self.rpc.snapshot()

    def revert(self, snapshot_id: str) -> None:
        self.rpc.revert(snapshot_id)

    def set_next_block_timestamp(self, timestamp: int) -> None:
        self.rpc.set_next_block_timestamp(timestamp)

    def set_block_interval(self, seconds: int) -> None:
        self.rpc.call("anvil_setBlockTimestampInterval", [seconds])

    def advance_time(self, seconds: int) -> None:
        self.rpc.increase_time(seconds)

    def close(self) -> None:
        self.rpc.close()


def open_raw(
    anvil: AnvilProcess | None = None,
    *,
    n_accounts: int = 10,
    extra_args: tuple[str, ...] = ANVIL_FLAGS,
    tx_mode: str = "sync",
    strict: bool = False,
    contracts_dir: Path | None = None,
    artifacts: dict[str, Artifact] | None = None,
    **deploy_kwargs: Any,
) -> tuple[RawDriver, AnvilProcess]:
    """Start Anvil (unless given one), deploy, install the reader; accounts[0] owns, [1]
    updates the oracle.

    `strict`: see :class:`~perpvault.chain.rpc.Rpc` (a dead node raises NodeUnreachable).
    `contracts_dir` / `artifacts`: deploy other contracts (mutants); `deploy_kwargs` go to
    :func:`perpvault.chain.deploy.deploy` (markets, risk, ...).
    """
    ours = anvil is None
    anvil = anvil or start_anvil(accounts=n_accounts, extra_args=extra_args)
    try:
        rpc = anvil.rpc(tx_mode=tx_mode, strict=strict)
        accounts = dev_accounts(n_accounts)
        via = raw_deployer(rpc, keys=accounts, contracts_dir=contracts_dir, artifacts=artifacts)
        system = deploy(accounts[0].address, accounts[1].address, via=via, **deploy_kwargs)
        reader = StateReader(rpc, system, extra=[a.address for a in accounts])
    except BaseException:
        if ours:  # do not leave the node we started running
            anvil.stop()
        raise
    return RawDriver(system, reader, accounts), anvil


__all__ = ["RawDeployer", "RawDriver", "RawSystem", "open_raw", "raw_deployer"]
