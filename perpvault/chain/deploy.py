"""The one deployment of perpvault: which contracts, with which constructor arguments, which
one-time bindings and which markets, in which order.

:data:`DEPLOYMENT` is that sequence as a table, and :func:`deploy` runs it through a
:class:`Deployer`: ape's contract containers (:class:`ApeDeployer`, the default: tests,
scripts, the demo) or raw JSON-RPC (:class:`perpvault.chain.raw.RawDeployer`: the fuzzer,
the replay, the gas bench). Both send the same transactions in the same order, so on a fresh
chain with the same owner every contract lands at the same address either way.

Adding a contract is one row: ``Contract(name, contract, source, args)``, where each
argument names a contract deployed earlier, a role (``owner``, ``oracle_updater``) or a
parameter of :func:`deploy` (``risk``, ``vault_spread``, ``oracle_max_age``,
``oracle_max_jump``, ``delay``); a one-time binding is a ``Call``; ``each_market`` repeats a call per
market with ``market``, ``initial_price`` and ``market_params`` bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from perpvault.params import (
    DEFAULT_MARKETS,
    DEFAULT_RISK,
    ORACLE_MAX_AGE,
    ORACLE_MAX_JUMP,
    TIMELOCK_DELAY,
    VAULT_SPREAD,
    MarketSpec,
)


@dataclass(frozen=True)
class Contract:
    """Deploy `contract` (``contracts/<source>``) as ``System.<name>``, from the owner."""

    name: str
    contract: str
    source: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Call:
    """`sender` calls ``<target>.<fn>(*args)`` (once, or once per market)."""

    sender: str
    target: str
    fn: str
    args: tuple[str, ...] = ()
    each_market: bool = False


DEPLOYMENT: tuple[Contract | Call, ...] = (
    Contract("usdc", "MockUSDC", "mocks/MockUSDC.vy"),
    Contract(
        "feed",
        "PriceFeed",
        "oracle/PriceFeed.vy",
        ("oracle_updater", "oracle_max_age", "oracle_max_jump", "delay"),
    ),
    Call("oracle_updater", "feed", "set_price", ("market", "initial_price"), each_market=True),
    Contract("fund", "InsuranceFund", "InsuranceFund.vy", ("usdc",)),
    Contract("liquidator", "Liquidator", "Liquidator.vy", ("usdc", "fund")),
    Contract(
        "clearinghouse", "Clearinghouse", "Clearinghouse.vy", ("usdc", "fund", "liquidator", "risk", "delay")
    ),
    Contract(
        "vault", "LiquidityVault", "LiquidityVault.vy", ("usdc", "clearinghouse", "vault_spread")
    ),
    Contract("order_book", "OrderBook", "OrderBook.vy", ("clearinghouse",)),
    Contract("lens", "RiskLens", "RiskLens.vy", ("clearinghouse",)),
    Call("owner", "fund", "set_clearinghouse", ("clearinghouse",)),
    Call("owner", "clearinghouse", "set_vault", ("vault",)),
    Call("owner", "clearinghouse", "set_order_book", ("order_book",)),
    Call("owner", "clearinghouse", "add_market", ("feed", "market_params"), each_market=True),
)

CONTRACTS: tuple[Contract, ...] = tuple(s for s in DEPLOYMENT if isinstance(s, Contract))

H = TypeVar("H")  # how a deployer holds a deployed contract: an ape contract object, an address


@dataclass
class System(Generic[H]):
    """The deployed system: each contract by its :data:`DEPLOYMENT` name
    (``system.clearinghouse``), the two roles and the listed markets."""

    handles: dict[str, H]  # by DEPLOYMENT name, in deployment order
    owner: Any
    oracle_updater: Any
    markets: tuple[MarketSpec, ...] = ()

    def __getattr__(self, name: str) -> H:
        if name.startswith("_") or name == "handles":  # not set yet (copy, unpickle)
            raise AttributeError(name)
        try:
            return self.handles[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no contract {name!r}") from None

    @classmethod
    def attach(cls, network: str, *, project: Any = None) -> System[Any]:
        """The system recorded by ``ape run deploy --network <network>`` (a network name such as
        "ethereum:staging", or a record's path), with ape handles; ape must be connected to
        that chain (:func:`perpvault.chain.deployments.attach`)."""
        from perpvault.chain.deployments import attach

        return attach(network, project=project)

    @property
    def contracts(self) -> dict[str, H]:
        """The contracts by contract name (``"Clearinghouse"``), in deployment order."""
        return {s.contract: self.handles[s.name] for s in CONTRACTS if s.name in self.handles}


class Deployer(Protocol[H]):
    """How one driver sends the deployment's transactions."""

    def create(self, step: Contract, sender: Any, args: list[Any]) -> H: ...

    def at(self, step: Contract, address: str) -> H: ...

    def call(
        self, sender: Any, contract: Contract, target: H, fn: str, args: list[Any]
    ) -> None: ...

    def system(
        self,
        handles: dict[str, H],
        owner: Any,
        oracle_updater: Any,
        markets: tuple[MarketSpec, ...],
    ) -> System[H]: ...


def deploy(
    owner: Any,
    oracle_updater: Any,
    *,
    via: Deployer | None = None,
    project: Any = None,
    markets: Sequence[MarketSpec] = DEFAULT_MARKETS,
    risk: tuple = DEFAULT_RISK,
    collateral: str | None = None,
    oracle_max_age: int = ORACLE_MAX_AGE,
    oracle_max_jump: int = ORACLE_MAX_JUMP,
    vault_spread: int = VAULT_SPREAD,
    delay: int = TIMELOCK_DELAY,
) -> System[Any]:
    """Deploy and wire the whole system: every step of :data:`DEPLOYMENT`, in order.

    `via`: the driver's :class:`Deployer` (default: ape's, on `project` or ape's own).
    `collateral`: an existing token to use instead of deploying a MockUSDC. `delay`: the
    timelock's delay (seconds between announcing an owner change and applying it). Returns the
    deployer's :class:`System`.
    """
    if via is None:
        if project is None:
            from ape import project
        via = ApeDeployer(project)
    markets = tuple(markets)
    known: dict[str, Any] = {
        "owner": owner,
        "oracle_updater": oracle_updater,
        "risk": tuple(risk),
        "oracle_max_age": oracle_max_age,
        "oracle_max_jump": oracle_max_jump,
        "vault_spread": vault_spread,
        "delay": delay,
    }
    existing = {"usdc": collateral} if collateral is not None else {}
    steps = {s.name: s for s in CONTRACTS}
    handles: dict[str, Any] = {}
    for step in DEPLOYMENT:
        if isinstance(step, Contract):
            if step.name in existing:
                handles[step.name] = via.at(step, existing[step.name])
            else:
                handles[step.name] = via.create(step, owner, [known[a] for a in step.args])
            known[step.name] = handles[step.name]
            continue
        target, sender = steps[step.target], known[step.sender]
        for market_id, spec in enumerate(markets) if step.each_market else [(None, None)]:
            bound = (
                known
                if spec is None
                else {
                    **known,
                    "market": market_id,
                    "initial_price": spec.initial_price,
                    "market_params": spec.params(),
                }
            )
            via.call(sender, target, handles[step.target], step.fn, [bound[a] for a in step.args])
    return via.system(handles, owner, oracle_updater, markets)


@dataclass
class ApeDeployer:
    """Deploys through an ape project's contract containers."""

    project: Any

    def create(self, step: Contract, sender: Any, args: list[Any]) -> Any:
        return getattr(self.project, step.contract).deploy(*args, sender=sender)

    def at(self, step: Contract, address: str) -> Any:
        return getattr(self.project, step.contract).at(address)

    def call(self, sender: Any, contract: Contract, target: Any, fn: str, args: list[Any]) -> None:
        getattr(target, fn)(*args, sender=sender)

    def system(
        self,
        handles: dict[str, Any],
        owner: Any,
        oracle_updater: Any,
        markets: tuple[MarketSpec, ...],
    ) -> System[Any]:
        return System(handles, owner, oracle_updater, markets)


__all__ = [
    "CONTRACTS",
    "DEFAULT_MARKETS",
    "DEFAULT_RISK",
    "DEPLOYMENT",
    "ORACLE_MAX_AGE",
    "ORACLE_MAX_JUMP",
    "TIMELOCK_DELAY",
    "VAULT_SPREAD",
    "ApeDeployer",
    "Call",
    "Contract",
    "Deployer",
    "MarketSpec",
    "System",
    "deploy",
]
