"""Run halmos on test contracts written in Vyper: ``python halmos_vyper.py <halmos args>``.

halmos 0.3.3 collects test contracts only from forge's ``out/<file>.sol/`` directories and
reads each one's kind from the Solidity AST; forge's Vyper artifacts (``out/<file>.vy/``)
carry neither an AST nor metadata, and an empty ``methodIdentifiers``, so halmos silently
finds no test. This wraps halmos's ``parse_build_out`` to add every Vyper artifact with a
``check_*`` function as a plain contract (selectors computed from its ABI), then runs halmos's
own ``main``. Nothing else changes: halmos builds with forge, executes the test's bytecode
symbolically and calls the solver as usual.

``--branch-rlimit N`` (this wrapper's own option) bounds halmos's branching queries by z3's
resource limit as well as by time (see ``_branch_rlimit``).

It runs under the halmos virtualenv's Python (``.venv/halmos``), so it imports nothing
from perpvault.
"""

from __future__ import annotations

import json
import os
import sys


def _signature(entry: dict) -> str:
    def canonical(t: dict) -> str:
        if t["type"].startswith("tuple"):
            return "(" + ",".join(canonical(c) for c in t["components"]) + ")" + t["type"][5:]
        return t["type"]

    return f"{entry['name']}({','.join(canonical(i) for i in entry.get('inputs', []))})"


def _method_identifiers(abi: list[dict]) -> dict[str, str]:
    """Signature -> selector, as solc's ``methodIdentifiers`` (forge leaves it empty for Vyper)."""
    from eth_hash.auto import keccak

    return {
        sig: keccak(sig.encode()).hex()[:8]
        for sig in (_signature(e) for e in abi if e.get("type") == "function")
    }


def _with_vyper(parse_build_out):
    def parse(args):
        result = parse_build_out(args)
        out = os.path.join(args.root, args.forge_build_out)
        for dirname in sorted(os.listdir(out)):
            if not dirname.endswith(".vy"):
                continue
            folder = os.path.join(out, dirname)
            for name in sorted(os.listdir(folder)):
                if not name.endswith(".json") or name.startswith("."):
                    continue
                with open(os.path.join(folder, name), encoding="utf8") as f:
                    artifact = json.load(f)
                if not artifact.get("methodIdentifiers"):
                    artifact["methodIdentifiers"] = _method_identifiers(artifact.get("abi", []))
                if not any(sig.startswith("check_") for sig in artifact["methodIdentifiers"]):
                    continue
                artifact.setdefault("ast", {"absolutePath": f"test/{dirname}", "nodes": []})
                contract = name[: -len(".json")]
                result.setdefault("vyper", {}).setdefault(dirname, {})[contract] = (artifact, "contract", None)
        return result

    return parse


def _branch_rlimit(limit: int) -> None:
    """Bounds each branching query by z3's resource limit, on top of halmos's timeout.

    halmos asks z3 at every symbolic JUMPI whether each side is feasible, with a 1 ms
    timeout; on a long path with 256-bit multiplications z3 can sit in one such query for
    many minutes without looking at its clock (seen on `Clearinghouse.fill`). A resource
    limit is checked inside z3's loops, so the query gives up and halmos explores both
    sides, which is what it does on a timeout anyway: sound, only more paths."""
    import halmos.sevm as sevm

    check = sevm.Path.check

    def limited(self, cond):
        self.solver.set("rlimit", limit)
        return check(self, cond)

    sevm.Path.check = limited


def main(argv: list[str]) -> int:
    import halmos.__main__ as halmos_main

    if "--branch-rlimit" in argv:
        i = argv.index("--branch-rlimit")
        _branch_rlimit(int(argv[i + 1]))
        argv = argv[:i] + argv[i + 2:]
    halmos_main.parse_build_out = _with_vyper(halmos_main.parse_build_out)
    sys.argv = ["halmos", *argv]
    return halmos_main.main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
