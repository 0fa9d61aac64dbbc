"""Open a chain for a script: a local Anvil started by ape-foundry, or any network ape knows."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from perpvault.paths import ensure_tool_path, repo_root


@dataclass
class ChainSession:
    project: Any
    accounts: list[Any]  # funded signer accounts (anvil's test accounts locally)
    chain: Any
    provider: Any


@contextlib.contextmanager
def open_chain(
    network: str = "ethereum:local:foundry", *, quiet: bool = True
) -> Iterator[ChainSession]:
    """Connect ape to `network` (default: start a local Anvil) from the repository root.

    ape resolves the project from the working directory, so this changes into the repo root
    for the duration of the session. `quiet` keeps ape's per-transaction INFO lines out of
    the output (warnings and errors still show).
    """
    ensure_tool_path()
    previous = os.getcwd()
    os.chdir(repo_root())
    try:
        import ape
        from ape.logging import logger

        if quiet:
            logger.set_level("WARNING")
        with ape.networks.parse_network_choice(network) as provider:
            yield ChainSession(
                project=ape.project,
                accounts=list(ape.accounts.test_accounts),
                chain=ape.chain,
                provider=provider,
            )
    finally:
        os.chdir(previous)


def network_uri(network: str) -> str | None:
    """The JSON-RPC URL ape would connect to for `network` (e.g. ``ethereum:staging:node``),
    read from the configuration without connecting; None when the provider has no HTTP URL
    (e.g. ape-foundry with ``host: auto``, which starts its own Anvil)."""
    ensure_tool_path()
    previous = os.getcwd()
    os.chdir(repo_root())
    try:
        import ape

        provider = ape.networks.get_provider_from_choice(network)
        for attr in ("http_uri", "uri"):
            try:
                uri = getattr(provider, attr)
            except Exception:  # some providers compute it only once connected
                continue
            if isinstance(uri, str) and uri.startswith("http"):
                return uri
        return None
    finally:
        os.chdir(previous)
