"""The ``perpvault`` command: one subcommand per job.

Each job lives in its own module with a ``register(subparsers)`` function that adds its
subcommand and sets ``func``; this file only collects them. Modules are imported lazily at
run time by their handlers, so ``perpvault --help`` never starts ape or a chain.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence

from perpvault import __version__
from perpvault.cliargs import KindParser
from perpvault.paths import ensure_tool_path

# The jobs, in the order `--help` lists them. A module that is not there yet is skipped.
JOBS = (
    "perpvault.demo",  # perpvault demo
    "perpvault.fuzz.cli",  # perpvault fuzz
    "perpvault.prove.cli",  # perpvault prove
    "perpvault.bench",  # perpvault bench
    "perpvault.keeper",  # perpvault keeper
    "perpvault.node",  # perpvault node
    "perpvault.adl_rank",  # perpvault adl-rank
)


def build_parser() -> argparse.ArgumentParser:
    parser = KindParser(
        prog="perpvault",
        description="perpvault: a perpetual-futures risk waterfall in Vyper, with its model, fuzzers and proofs.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in JOBS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # ape-vyper's settings model warns about a forward reference on every start: noise.
    warnings.filterwarnings("ignore", message=".*import_remapping.*")
    ensure_tool_path()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["node"]:  # every argument is Anvil's, --help included: argparse would claim them
        from perpvault.node import exec_anvil

        return exec_anvil(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help(sys.stderr)
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
