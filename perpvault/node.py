"""``perpvault node``: the project's own Anvil (node_modules' native binary), for a staging
node or any local chain, without putting anything on PATH.

    perpvault node --port 18545          # the staging network of ape-config.yaml
    perpvault node --version

Every argument goes to Anvil unchanged (``anvil --help`` lists them); the process becomes
Anvil (exec), so signals and the exit code are Anvil's.
"""

from __future__ import annotations

import argparse
import os


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("node", help="run the project's own Anvil (e.g. --port 18545 for the staging network)",
                       description="Runs the project's Anvil 1.7.1 (node_modules' native binary) with the "
                                   "arguments given, unchanged: e.g. `perpvault node --port 18545` is the staging "
                                   "node ape-config.yaml names.", add_help=False)
    p.set_defaults(func=lambda _args: exec_anvil([]))


def exec_anvil(anvil_args: list[str]) -> int:
    """Become the project's Anvil with `anvil_args` (perpvault.cli calls this before argparse)."""
    from perpvault.paths import anvil_binary

    exe = str(anvil_binary())
    os.execv(exe, [exe, *anvil_args])
    return 0  # not reached


__all__ = ["exec_anvil", "register"]
