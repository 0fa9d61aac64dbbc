"""The ``perpvault`` command: one subcommand per job."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from perpvault import __version__
from perpvault.paths import ensure_tool_path


def cmd_demo(args: argparse.Namespace) -> int:
    """Deploy the system on a local Anvil chain and walk through a scripted scenario."""
    from perpvault import demo  # imported lazily: it pulls in ape

    return demo.run(args) or 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="perpvault",
        description="perpvault: a perpetuals vault in Vyper, with its spec and tooling.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="deploy on a local Anvil chain and run a scripted scenario")
    demo.set_defaults(func=cmd_demo)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help(sys.stderr)
        return 2
    ensure_tool_path()
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
