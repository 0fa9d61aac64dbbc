"""Deployments, recorded per network, and attaching to one.

``ape run deploy`` writes ``deployments/<ecosystem>-<network>.json``: the network, its chain id,
the block of the last deployment transaction, every contract's address by its
:data:`~perpvault.chain.deploy.DEPLOYMENT` name, the roles, the markets and the parameters it
was deployed with, and the hash of each contract's runtime code. :func:`attach`
(``System.attach(network)``) reads it back and rebuilds the ape handles, after checking that
ape is connected to that chain id, that the deployment's block is still the recorded block
(a node restarted and redeployed from the same account has the same addresses on the same
chain id, but not the same block hash) and that each address holds the recorded code.

A local network's chain lives only as long as its node, so its record is written to
``out/deployments/`` (not kept in git); a named network's (``ethereum:staging``,
``ethereum:sepolia``) to ``deployments/``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from perpvault.paths import repo_root


class DeploymentError(RuntimeError):
    """No record, or a record that does not match the chain ape is connected to."""


@dataclass(frozen=True)
class Deployment:
    network: str  # "ethereum:staging"
    chain_id: int
    block: int  # the block of the deployment's last transaction
    owner: str
    oracle_updater: str
    contracts: dict[str, str]  # DEPLOYMENT name -> address
    markets: list[dict[str, Any]] = field(default_factory=list)  # MarketSpec fields, in market-id order
    parameters: dict[str, Any] = field(default_factory=dict)  # risk, oracle bounds, spread, delay
    code_hashes: dict[str, str] = field(default_factory=dict)  # DEPLOYMENT name -> keccak of its runtime code
    block_hash: str = ""  # the hash of `block`

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Deployment:
        return cls(**json.loads(text))


def record_path(network: str, *, local: bool, root: Path | None = None) -> Path:
    """Where the record of a deployment to `network` ("ecosystem:network") goes."""
    base = (root or repo_root()) / ("out/deployments" if local else "deployments")
    return base / (network.replace(":", "-") + ".json")


def code_hash(code: bytes | str) -> str:
    from eth_hash.auto import keccak

    raw = bytes.fromhex(code[2:] if code.startswith("0x") else code) if isinstance(code, str) else bytes(code)
    return "0x" + keccak(raw).hex()


def record(system: Any, *, network: str, chain_id: int, block: int, local: bool, parameters: dict[str, Any],
           codes: dict[str, bytes] | None = None, block_hash: str = "", path: Path | None = None) -> Path:
    """Write `system`'s record (see the module); returns its path. `codes`: each contract's
    runtime code by DEPLOYMENT name, recorded as its hash (attach compares it)."""
    deployment = Deployment(
        network=network,
        chain_id=chain_id,
        block=block,
        owner=str(getattr(system.owner, "address", system.owner)),
        oracle_updater=str(getattr(system.oracle_updater, "address", system.oracle_updater)),
        contracts={name: str(getattr(h, "address", h)) for name, h in system.handles.items()},
        markets=[asdict(m) for m in system.markets],
        parameters=parameters,
        code_hashes={name: code_hash(code) for name, code in (codes or {}).items()},
        block_hash=block_hash,
    )
    path = path or record_path(network, local=local)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(deployment.to_json())
    return path


def load(network_or_path: str | Path) -> Deployment:
    """The record for a network name ("ethereum:staging") or a record's path."""
    candidates = [Path(network_or_path)]
    if not str(network_or_path).endswith(".json"):
        name = str(network_or_path)
        candidates = [record_path(name, local=False), record_path(name, local=True)]
    for path in candidates:
        if path.is_file():
            return Deployment.from_json(path.read_text())
    raise DeploymentError(f"no deployment recorded for {network_or_path} (looked in "
                          f"{', '.join(str(p) for p in candidates)}): run `ape run deploy --network ...` first")


def attach(network_or_path: str | Path, *, project: Any = None) -> Any:
    """Rebuild the :class:`~perpvault.chain.deploy.System` of a recorded deployment with ape
    handles. ape must be connected to the recorded chain (``with networks.parse_network_choice(...)``
    or inside ``ape console --network ...``)."""
    from ape import accounts, chain
    from ape import project as ape_project

    from perpvault.chain.deploy import CONTRACTS, System
    from perpvault.params import MarketSpec

    deployment = load(network_or_path)
    if chain.chain_id != deployment.chain_id:
        raise DeploymentError(f"the {deployment.network} deployment is on chain {deployment.chain_id}; "
                              f"ape is connected to chain {chain.chain_id}")
    if deployment.block_hash:
        try:
            now = chain.blocks[deployment.block].hash.hex()
        except Exception:  # noqa: BLE001 - ape's BlockNotFoundError and friends
            now = "none"
        if now.removeprefix("0x").lower() != deployment.block_hash.removeprefix("0x").lower():
            raise DeploymentError(f"block {deployment.block} of chain {chain.chain_id} is not the recorded one "
                                  f"({now} instead of {deployment.block_hash}): the node was restarted and the "
                                  f"record is of an earlier chain")
    project = project or ape_project
    steps = {s.name: s for s in CONTRACTS}
    handles: dict[str, Any] = {}
    for name, address in deployment.contracts.items():
        if name not in steps:
            raise DeploymentError(f"the record names a contract {name!r} this version does not deploy "
                                  f"(one of: {', '.join(steps)})")
        code = chain.provider.get_code(address)
        if not code:
            raise DeploymentError(f"no code at {address} ({name}) on chain {chain.chain_id}: the node was "
                                  f"restarted empty or the record is older than the chain")
        recorded = deployment.code_hashes.get(name)
        if recorded is not None and code_hash(code) != recorded:
            raise DeploymentError(f"the code at {address} ({name}) is not the recorded deployment's: the chain "
                                  f"was redeployed since the record was written")
        handles[name] = getattr(project, steps[name].contract).at(address)

    def role(address: str) -> Any:
        try:
            return accounts[address]  # an account ape can sign for (test accounts, loaded aliases)
        except Exception:  # noqa: BLE001 - ape raises its own lookup errors
            return address

    return System(handles, role(deployment.owner), role(deployment.oracle_updater),
                  tuple(MarketSpec(**m) for m in deployment.markets))


__all__ = ["Deployment", "DeploymentError", "attach", "code_hash", "load", "record", "record_path"]
