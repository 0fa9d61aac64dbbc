"""perpvault.chain: deploy and drive the perpvault contracts, with either of two drivers.

Imports go one way (titanoboa's shape: a transport, an environment interface, two backends):

- :mod:`~perpvault.chain.rpc`: the JSON-RPC transport (``Rpc``) and ``start_anvil``;
- :mod:`~perpvault.chain.abi`, :mod:`~perpvault.chain.signing`, :mod:`~perpvault.chain.logs`,
  :mod:`~perpvault.chain.orders`: compiled artifacts and calldata, EIP-712 orders, event logs;
- :mod:`~perpvault.chain.deploy`: the one deployment table and :func:`deploy`, run by either
  driver's deployer;
- :mod:`~perpvault.chain.state`: the whole state in one read (``ChainState``, ``StateReader``);
  :mod:`~perpvault.chain.invariants`: ``check_invariants`` (I1, I2, I5) on it;
  :mod:`~perpvault.chain.compare`: ``diff`` with the reference model, ``model_from_chain``;
- :mod:`~perpvault.chain.driver`: the ``Driver`` interface (one method per protocol action,
  the state read, chain control);
- :mod:`~perpvault.chain.raw` (``RawDriver``, ``open_raw``: raw JSON-RPC to its own Anvil) and
  :mod:`~perpvault.chain.ape_driver` (``ApeDriver``, ``open_ape``, and reading an ape-deployed
  system); :mod:`~perpvault.chain.session` and :mod:`~perpvault.chain.actions` drive ape
  scripts (the demo, the unit tests).

Nothing here imports :mod:`perpvault.fuzz`.
"""

from perpvault.chain.deploy import (
    DEFAULT_MARKETS,
    DEFAULT_RISK,
    DEPLOYMENT,
    MarketSpec,
    System,
    deploy,
)

__all__ = ["DEFAULT_MARKETS", "DEFAULT_RISK", "DEPLOYMENT", "MarketSpec", "System", "deploy"]
