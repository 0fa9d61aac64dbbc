"""The fuzz machine's chain side through ape's contract objects: the twin of
:class:`~perpvault.chain.driver.RawDriver` that ``bench/fuzz_throughput.py`` measures the raw
driver against.

Same machine, same rules, same checks: :class:`~perpvault.fuzz.machine.PerpMachine` builds
each transaction as (sender, contract, calldata); here the calldata is decoded back into its
function and arguments (a table from the ABI, microseconds) and sent as
``contract.<function>(*args, sender=account)`` on the contract objects
:func:`perpvault.chain.deploy.deploy` returns, and the book is read view by view through
:func:`perpvault.chain.state.read_state_ape`. Chain control (snapshot, revert, the next block's
timestamp) goes through ape's chain manager and provider.

Transactions carry a fixed gas limit, as the raw driver's do: ape then skips gas estimation,
so a reverting transaction is mined (the block clock moves as on the raw path and in the
model) and its revert reason comes back as ape's ``ContractLogicError``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import to_checksum_address

from perpvault.chain.deploy import DEFAULT_MARKETS
from perpvault.chain.abi import Artifact, Calls, abi_type, load_artifacts
from perpvault.chain.driver import ANVIL_FLAGS, RawDriver
from perpvault.chain.rpc import DEFAULT_GAS, AnvilProcess, TxReverted, start_anvil
from perpvault.chain.signing import OrderSigner
from perpvault.chain.state import ChainState, read_state_ape
from perpvault.chain.raw import DeployedSystem, DevAccount, dev_accounts


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """ape-foundry prints the call trace of every reverting call or transaction to the
    stdout it saw at import: silence file descriptor 1 meanwhile (its cost is nothing next to
    ape's)."""
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


class _Done:
    """A transaction that already completed (ape sends and waits in one call)."""

    __slots__ = ("_receipt", "_error")

    def __init__(self, receipt: dict | None, error: TxReverted | None):
        self._receipt, self._error = receipt, error

    def receipt(self) -> dict:
        if self._error is not None:
            raise self._error
        assert self._receipt is not None
        return self._receipt


@dataclass(kw_only=True)
class ApeSystem(DeployedSystem):
    """The deployed system like :class:`~perpvault.chain.raw.RawSystem` (addresses,
    calldata builders, signer, ``tx``), with every transaction sent through an ape contract
    object."""

    ape: Any  # perpvault.chain.deploy.System
    accounts: list[Any]  # ape test accounts, by dev-account index
    _contracts: dict[str, Any] = field(repr=False, default_factory=dict)
    _functions: dict[tuple[str, bytes], tuple[str, list[str]]] = field(repr=False, default_factory=dict)
    _senders: dict[str, Any] = field(repr=False, default_factory=dict)
    rpc: None = None

    def __post_init__(self) -> None:
        from eth_hash.auto import keccak

        for name, contract in self.ape.contracts.items():
            address = str(contract.address).lower()
            self._contracts[address] = contract
            for entry in self.artifacts[name].abi:
                if entry.get("type") != "function":
                    continue
                types = [abi_type(i) for i in entry["inputs"]]
                selector = keccak(f"{entry['name']}({','.join(types)})".encode())[:4]
                self._functions[(address, selector)] = (entry["name"], types)
        self._senders = {str(a.address).lower(): a for a in self.accounts}

    def tx(self, sender: str, to: str, data: bytes, label: str = "") -> dict:
        """``contract.fn(*args, sender=...)`` for the call `data` encodes; the receipt's logs in
        JSON-RPC form. Raises TxReverted with ape's decoded revert message."""
        from ape.exceptions import ContractLogicError

        address = to.lower()
        name, types = self._functions[(address, bytes(data[:4]))]
        args = abi_decode(types, bytes(data[4:]))
        method = getattr(self._contracts[address], name)
        try:
            with _quiet():
                receipt = method(*args, sender=self._senders[sender.lower()], gas_limit=DEFAULT_GAS)
        except ContractLogicError as e:
            reason = e.revert_message if isinstance(e.revert_message, str) else str(e)
            raise TxReverted(reason, b"", label, str(getattr(e, "txn", "") and getattr(e.txn, "txn_hash", "") or "")) from None
        logs = [
            {"topics": ["0x" + bytes(t).hex() for t in log["topics"]], "data": "0x" + bytes(log["data"]).hex()}
            for log in receipt.logs
        ]
        return {"status": "0x1", "logs": logs}


class ApeDriver(RawDriver):
    """:class:`RawDriver`'s actions and the machine's chain interface, all through ape."""

    system: ApeSystem  # type: ignore[assignment]

    def __init__(self, system: ApeSystem, accounts: tuple[DevAccount, ...], network: Any):
        super().__init__(system, None, accounts)  # type: ignore[arg-type]
        self._network = network
        from ape import chain

        self._chain = chain

    @property
    def rpc(self) -> Any:  # type: ignore[override]
        return None

    def start_tx(self, sender: str, to: str, data: bytes, label: str = "") -> _Done:
        try:
            return _Done(self.system.tx(sender, to, data, label), None)
        except TxReverted as e:
            return _Done(None, e)

    def read(self) -> ChainState:
        with _quiet():  # equity() reverts while the oracle is stale: ape prints its trace
            return read_state_ape(self.system.ape, extra=self.system.accounts)

    def start_read(self) -> None:
        self._read = self.read()

    def finish_read(self) -> ChainState:
        return self._read

    def set_next_block_timestamp(self, timestamp: int) -> None:
        self._chain.pending_timestamp = timestamp

    def set_block_interval(self, seconds: int) -> None:
        self._chain.provider.make_request("anvil_setBlockTimestampInterval", [seconds])

    def eth_call(self, to: str, data: bytes) -> bytes:
        out = self._chain.provider.make_request("eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"])
        return bytes.fromhex(out[2:]) if isinstance(out, str) else bytes(out)

    def snapshot(self) -> Any:
        return self._chain.snapshot()

    def revert(self, snapshot_id: Any) -> None:
        self._chain.restore(snapshot_id)

    def advance_time(self, seconds: int) -> None:
        self._chain.provider.make_request("evm_increaseTime", [seconds])

    def close(self) -> None:
        if self._network is not None:
            self._network.__exit__(None, None, None)
            self._network = None


def open_ape(anvil: AnvilProcess | None = None, *, n_accounts: int = 10, extra_args: tuple[str, ...] = ANVIL_FLAGS,
             artifacts: dict[str, Artifact] | None = None) -> tuple[ApeDriver, AnvilProcess]:
    """Connect ape to `anvil` (started here unless given), deploy with perpvault.chain.deploy.

    Mutants are compiled for the raw driver only: ape deploys the project's contracts.
    """
    if artifacts is not None:
        raise ValueError("the ape backend deploys the project's own contracts (no mutants)")
    from perpvault.paths import ensure_tool_path, repo_root

    ensure_tool_path()
    anvil = anvil or start_anvil(accounts=n_accounts, extra_args=extra_args)
    os.environ["APE_FOUNDRY_HOST"] = anvil.url
    os.chdir(repo_root())
    import ape
    from ape.logging import logger

    logger.set_level("WARNING")  # no per-transaction INFO lines
    network = ape.networks.parse_network_choice("ethereum:local:foundry")
    network.__enter__()
    from perpvault.chain import deploy

    accounts = list(ape.accounts.test_accounts)[:n_accounts]
    system = deploy(accounts[0], accounts[1])
    keys = dev_accounts(n_accounts)
    assert [str(a.address) for a in accounts] == [k.address for k in keys], "ape's test accounts are not Anvil's dev accounts"
    arts = load_artifacts()
    abis = {name: art.functions for name, art in arts.items()}
    signer = OrderSigner(ape.chain.chain_id, str(system.order_book.address))
    for k in keys:
        signer.add_key(k.address, k.private_key)
    c = system.contracts
    ape_system = ApeSystem(
        ape=system,
        accounts=accounts,
        usdc=str(c["MockUSDC"].address),
        feed=str(c["PriceFeed"].address),
        fund=str(c["InsuranceFund"].address),
        clearinghouse=str(c["Clearinghouse"].address),
        vault=str(c["LiquidityVault"].address),
        order_book=str(c["OrderBook"].address),
        lens=str(c["RiskLens"].address),
        owner=to_checksum_address(str(accounts[0].address)),
        oracle_updater=to_checksum_address(str(accounts[1].address)),
        markets=tuple(DEFAULT_MARKETS),
        abis=abis,
        calls=Calls(abis),
        signer=signer,
        artifacts=arts,
    )
    return ApeDriver(ape_system, keys, network), anvil


__all__ = ["ApeDriver", "ApeSystem", "open_ape"]
