"""The ape driver: the same :class:`~perpvault.chain.driver.Driver` through ape's contract
objects, and the state of an ape-deployed system read into the same
:class:`~perpvault.chain.state.ChainState`.

A transaction comes as (sender, contract, calldata), as for the raw driver: the calldata is
decoded back into its function and arguments (a table from the ABI, microseconds) and sent as
``contract.<function>(*args, sender=account)`` on the contract objects
:func:`perpvault.chain.deploy.deploy` returns. The fuzz machine's ape driver reads the state
view by view through the contract objects (:func:`read_state_ape`: what ape code would do,
the bench's baseline); an ape-deployed system's state in one call is :func:`read_state`:
StateReader.vy's eth_call through ape's provider, its code passed as a state override
(nothing is installed, so ape's per-test snapshots cannot lose it); both return the same
ChainState (the tests check they agree). Chain control (snapshot, revert, the next block's
timestamp) goes through ape's chain manager and provider.

Transactions carry a fixed gas limit, as the raw driver's do: ape then skips gas estimation,
so a reverting transaction is mined (the block clock moves as on the raw path and in the
model) and its revert reason comes back as ape's ``ContractLogicError``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import to_checksum_address

from perpvault.chain.abi import Artifact, Calls, abi_type, load_artifacts
from perpvault.chain.compare import model_from_chain
from perpvault.chain.deploy import System, deploy
from perpvault.chain.driver import DeployedSystem, DevAccount, Driver, dev_accounts
from perpvault.chain.invariants import check_invariants
from perpvault.chain.rpc import ANVIL_FLAGS, DEFAULT_GAS, AnvilProcess, TxReverted, start_anvil
from perpvault.chain.signing import OrderSigner
from perpvault.chain.state import (
    AccountState,
    ChainState,
    HealthState,
    MarketState,
    PositionState,
    StateReader,
    cut_reason,
)
from perpvault.model import Exchange


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


# --- reading an ape-deployed system ----------------------------------------------------------


@dataclass
class ProviderTransport:
    """StateReader's transport over an ape provider (one request at a time: `start` sends,
    `finish` hands back the reply)."""

    provider: Any
    _reply: Any = None

    def call(self, method: str, params: list | None = None) -> Any:
        return self.provider.make_request(method, params or [])

    def start(self, method: str, params: list | None = None) -> None:
        self._reply = self.call(method, params)

    def finish(self, method: str = "") -> Any:
        reply, self._reply = self._reply, None
        return reply

    def batch(self, requests: list[tuple[str, list]]) -> list[Any]:
        return [self.call(method, params) for method, params in requests]


def state_reader(system: System[Any], extra: list[Any] | tuple[Any, ...] = ()) -> StateReader:
    """A StateReader of an ape-deployed `system` through ape's provider; `extra` accounts
    (ape accounts or addresses) are read while the clearinghouse does not know them."""
    return StateReader(
        ProviderTransport(system.clearinghouse.provider),
        system,
        [str(getattr(a, "address", a)) for a in extra],
        override=True,
    )


def read_state(system: System[Any], extra: list[Any] | tuple[Any, ...] = ()) -> ChainState:
    """The whole state of an ape-deployed `system`, in one eth_call."""
    return state_reader(system, extra).read()


def read_state_ape(system: Any, extra: list[Any] | tuple[Any, ...] = ()) -> ChainState:
    """The same read view by view through ape contract objects (`system`: anything whose
    ``clearinghouse``, ``usdc``, ``fund`` and ``vault`` are ape contracts).

    One RPC (or more) per view: the independent cross-check of StateReader.vy.
    """
    from ape.exceptions import ContractLogicError

    ch, usdc, fund, vault = system.clearinghouse, system.usdc, system.fund, system.vault

    def outcome(view: Any, *args: Any) -> tuple[Any, str]:
        try:
            return view(*args), ""
        except ContractLogicError as e:
            return None, cut_reason(e.revert_message if isinstance(e.revert_message, str) else "")

    n_markets = ch.market_count()
    known = [to_checksum_address(str(ch.account_at(i))) for i in range(ch.account_count())]
    extra_addresses = list(
        dict.fromkeys(to_checksum_address(str(getattr(a, "address", a))) for a in extra)
    )
    extra_addresses = [a for a in extra_addresses if a not in known and not ch.is_known(a)]

    accounts: dict[str, AccountState] = {}
    for a in known:
        health, reason = outcome(ch.health, a)
        positions = []
        for m in range(n_markets):
            p = ch.positions(a, m)
            entry, score = 0, 0
            if p.size != 0:
                entry = ch.position(a, m)[2]
                score, _ = outcome(ch.adl_score, a, m)
            positions.append(PositionState(p.size, p.open_notional, p.funding_index, entry, score))
        accounts[a] = AccountState(
            a,
            True,
            ch.margin(a),
            ch.market_mask(a),
            usdc.balanceOf(a),
            vault.balanceOf(a),
            None if health is None else HealthState(*health),
            reason,
            tuple(positions),
        )
    flat = tuple(PositionState(0, 0, 0) for _ in range(n_markets))
    for a in extra_addresses:
        accounts[a] = AccountState(
            a, False, 0, 0, usdc.balanceOf(a), vault.balanceOf(a), HealthState(0, 0, 0, 0), "", flat
        )
    markets = tuple(
        MarketState(to_checksum_address(str(s[0])), *s[1:], outcome(ch.funding_index, m)[0])
        for m, s in ((m, ch.markets(m)) for m in range(n_markets))
    )
    assets, _ = outcome(vault.totalAssets)
    block = ch.chain_manager.blocks.head
    return ChainState(
        block_number=block.number,
        timestamp=block.timestamp,
        accounts=accounts,
        markets=markets,
        insurance_due=ch.insurance_due(),
        clearinghouse_balance=usdc.balanceOf(ch),
        fund_balance=usdc.balanceOf(fund),
        fund_total_in=fund.total_in(),
        fund_total_out=fund.total_out(),
        vault_balance=usdc.balanceOf(vault),
        vault_total_supply=vault.totalSupply(),
        vault_total_assets=assets,
        paused=ch.paused(),
        vault_peak_share_value=ch.vault_peak_share_value(),
        vault_peak_time=ch.vault_peak_time(),
        token_total_supply=usdc.totalSupply(),
    )


def ape_view(system: System[Any]) -> Callable[..., Any]:
    """``view(contract name, function, *args)`` through `system`'s ape contracts, values as
    plain ints, bools, lower-case addresses and tuples (what perpvault.chain.compare reads)."""

    def view(contract: str, fn: str, *args: Any) -> Any:
        return _plain(getattr(system.contracts[contract], fn)(*args))

    return view


def _plain(v: Any) -> Any:
    if isinstance(v, bool | int):
        return v
    if isinstance(v, str):
        return v.lower()
    if hasattr(v, "address"):
        return str(v.address).lower()
    return tuple(_plain(x) for x in v)


def model_of(system: System[Any], accounts: list[Any] | tuple[Any, ...] = ()) -> Exchange:
    """The reference model of an ape-deployed `system` as it stands on chain (its parameters,
    every balance and position; `accounts`' wallets and LP shares too)."""
    return model_from_chain(read_state(system, accounts), ape_view(system), system)


def latest_timestamp(chain: Any) -> int:
    """eth_call runs at the latest block's timestamp: the time the model's views use."""
    return int(chain.blocks.head.timestamp)


def chain_events(receipt: Any, names: Iterable[str]) -> list[tuple]:
    """The receipt's events named in `names`, as the model's tuples (addresses lower-case)."""
    wanted = set(names)
    out: list[tuple] = []
    for log in receipt.events:
        if log.event_name not in wanted:
            continue
        fields = []
        for v in log.event_arguments.values():
            if isinstance(v, str) and v.startswith("0x") and len(v) == 42:
                fields.append(v.lower())
            elif isinstance(v, bool):
                fields.append(v)
            else:
                fields.append(int(v))
        out.append((log.event_name, *fields))
    return out


def assert_invariants(system: System[Any]) -> ChainState:
    """Read an ape-deployed `system` and assert I1, I2 and I5 hold; returns the state read."""
    state = read_state(system)
    violations = check_invariants(state)
    assert not violations, "\n".join(violations)
    return state


def assert_fund_accounting(system: System[Any]) -> None:
    """I5 alone: the fund's balance is exactly what came in minus what it paid."""
    violations = [v for v in check_invariants(read_state(system)) if v.startswith("I5")]
    assert not violations, "\n".join(violations)


def known_accounts(system: System[Any]) -> list[str]:
    """The accounts the clearinghouse knows, in registration order."""
    ch = system.clearinghouse
    return [ch.account_at(i) for i in range(ch.account_count())]


# --- the driver --------------------------------------------------------------------------------


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
    """The deployed system as addresses and calldata builders (like the raw driver's), with
    ape's contract objects behind it."""

    ape: System[Any]  # what perpvault.chain.deploy returned
    accounts: list[Any]  # ape test accounts, by dev-account index
    _contracts: dict[str, Any] = field(repr=False, default_factory=dict)
    _functions: dict[tuple[str, bytes], tuple[str, list[str]]] = field(
        repr=False, default_factory=dict
    )
    _senders: dict[str, Any] = field(repr=False, default_factory=dict)

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
            tx_hash = str(getattr(e, "txn", "") and getattr(e.txn, "txn_hash", "") or "")
            raise TxReverted(reason, b"", label, tx_hash) from None
        logs = [
            {
                "topics": ["0x" + bytes(t).hex() for t in log["topics"]],
                "data": "0x" + bytes(log["data"]).hex(),
            }
            for log in receipt.logs
        ]
        return {"status": "0x1", "logs": logs}


class ApeDriver(Driver):
    """A :class:`~perpvault.chain.driver.Driver` through ape: every action a contract call, the
    state read view by view through the contract objects (:func:`read_state_ape`, the same
    ChainState as StateReader's one call): what ape code does, the bench's baseline."""

    def __init__(self, system: ApeSystem, accounts: tuple[DevAccount, ...], network: Any):
        from ape import chain

        self.system = system
        self.accounts = accounts
        self._network = network
        self._chain = chain
        self._read: ChainState | None = None

    def send(self, sender: str, to: str, data: bytes, label: str = "") -> dict:
        return self.system.tx(sender, to, data, label)

    def start_tx(self, sender: str, to: str, data: bytes, label: str = "") -> _Done:
        try:
            return _Done(self.system.tx(sender, to, data, label), None)
        except TxReverted as e:
            return _Done(None, e)

    def eth_call(self, to: str, data: bytes) -> bytes:
        out = self._chain.provider.make_request(
            "eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"]
        )
        return bytes.fromhex(out[2:]) if isinstance(out, str) else bytes(out)

    def read(self) -> ChainState:
        with _quiet():  # health() reverts while the oracle is stale: ape prints its trace
            return read_state_ape(self.system.ape, extra=self.system.accounts)

    def start_read(self) -> None:
        self._read = self.read()

    def finish_read(self) -> ChainState:
        state, self._read = self._read, None
        assert state is not None, "finish_read without start_read"
        return state

    def snapshot(self) -> Any:
        return self._chain.snapshot()

    def revert(self, snapshot_id: Any) -> None:
        self._chain.restore(snapshot_id)

    def set_next_block_timestamp(self, timestamp: int) -> None:
        self._chain.pending_timestamp = timestamp

    def set_block_interval(self, seconds: int) -> None:
        self._chain.provider.make_request("anvil_setBlockTimestampInterval", [seconds])

    def advance_time(self, seconds: int) -> None:
        self._chain.provider.make_request("evm_increaseTime", [seconds])

    def close(self) -> None:
        if self._network is not None:
            self._network.__exit__(None, None, None)
            self._network = None


def open_ape(
    anvil: AnvilProcess | None = None,
    *,
    n_accounts: int = 10,
    extra_args: tuple[str, ...] = ANVIL_FLAGS,
    artifacts: dict[str, Artifact] | None = None,
) -> tuple[ApeDriver, AnvilProcess]:
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
    accounts = list(ape.accounts.test_accounts)[:n_accounts]
    system = deploy(accounts[0], accounts[1])
    keys = dev_accounts(n_accounts)
    assert [str(a.address) for a in accounts] == [k.address for k in keys], (
        "ape's test accounts are not Anvil's"
    )
    arts = load_artifacts()
    abis = {name: art.functions for name, art in arts.items()}
    signer = OrderSigner(ape.chain.chain_id, str(system.order_book.address))
    for k in keys:
        signer.add_key(k.address, k.private_key)
    ape_system = ApeSystem(
        {name: str(h.address) for name, h in system.handles.items()},
        to_checksum_address(str(accounts[0].address)),
        to_checksum_address(str(accounts[1].address)),
        system.markets,
        ape=system,
        accounts=accounts,
        abis=abis,
        calls=Calls(abis),
        signer=signer,
        artifacts=arts,
    )
    return ApeDriver(ape_system, keys, network), anvil


__all__ = [
    "ApeDriver",
    "ApeSystem",
    "ProviderTransport",
    "ape_view",
    "assert_fund_accounting",
    "assert_invariants",
    "chain_events",
    "known_accounts",
    "latest_timestamp",
    "model_of",
    "open_ape",
    "read_state",
    "read_state_ape",
    "state_reader",
]
