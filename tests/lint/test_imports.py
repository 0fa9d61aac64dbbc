"""The package's import rules, checked on the source: every ``import`` and
``from ... import`` statement, including those inside functions (lazy imports).

- Nothing outside the fuzzer imports ``perpvault.fuzz``: the chain drivers, the keeper, the
  replay, the bench and the formal checks live elsewhere and the fuzzer uses them, never the
  other way round (no keeper <-> fuzz circle).
- ``perpvault.model`` (the executable spec) imports nothing of ape, ``eth_*``, web3 or the
  chain: it is pure Python, checked on the source and on what importing it loads.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from perpvault.paths import repo_root

ROOT = repo_root()
SCANNED = ("perpvault", "tests", "bench", "scripts")
# The fuzzer itself, its tests, and its benchmark (bench/fuzz_throughput.py measures the fuzz
# machine, so it must run it) may import perpvault.fuzz; nothing else.
FUZZ_SIDE = ("perpvault/fuzz/", "tests/fuzz/", "bench/fuzz_throughput.py")
MODEL = "perpvault/model/"
NOT_IN_MODEL = ("ape", "ape_", "eth_", "web3", "hexbytes", "perpvault.chain", "perpvault.fuzz")


def imported_modules(source: str, rel: str) -> list[tuple[int, str]]:
    """(line, module) for every import in `source` (the file at `rel`, relative to the
    repository), at any depth; relative imports resolved."""
    tree = ast.parse(source, filename=rel)
    package = ".".join(Path(rel).with_suffix("").parts[:-1])
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            out.append((node.lineno, module))
            # `from perpvault import fuzz` imports perpvault.fuzz too
            out += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return out


def python_files() -> list[Path]:
    return sorted(
        p for d in SCANNED for p in (ROOT / d).rglob("*.py") if "__pycache__" not in p.parts
    )


def _is(module: str, prefix: str) -> bool:
    """`module` is `prefix` or inside it (``ape_``, ``eth_``: any such top-level package)."""
    if prefix.endswith("_"):
        return module.split(".")[0].startswith(prefix)
    return module == prefix or module.startswith(prefix + ".")


def violations() -> dict[str, list[str]]:
    fuzz, model = [], []
    for path in python_files():
        rel = path.relative_to(ROOT).as_posix()
        for line, module in imported_modules(path.read_text(), rel):
            where = f"{rel}:{line}: imports {module}"
            if not rel.startswith(FUZZ_SIDE) and _is(module, "perpvault.fuzz"):
                fuzz.append(where)
            if rel.startswith(MODEL) and any(_is(module, p) for p in NOT_IN_MODEL):
                model.append(where)
    return {"fuzz": sorted(set(fuzz)), "model": sorted(set(model))}


def test_nothing_outside_the_fuzzer_imports_perpvault_fuzz():
    found = violations()["fuzz"]
    assert not found, "perpvault.fuzz imported outside the fuzzer:\n" + "\n".join(found)


def test_the_model_imports_nothing_of_ape_eth_web3_or_the_chain():
    found = violations()["model"]
    assert not found, "perpvault.model imports the chain:\n" + "\n".join(found)


def test_importing_the_model_loads_nothing_of_the_chain():
    """What `import perpvault.model` (every module, and the defaults it reads) pulls in."""
    code = (
        "import sys, pkgutil, importlib, perpvault.model as m\n"
        "for info in pkgutil.iter_modules(m.__path__):\n"
        "    importlib.import_module(f'perpvault.model.{info.name}')\n"
        "m.Exchange.with_defaults('0x' + '11' * 20, '0x' + '22' * 20)\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    leaked = [name for name in loaded if any(_is(name, p) for p in NOT_IN_MODEL)]
    assert not leaked, f"importing perpvault.model loads {leaked}"


@pytest.mark.parametrize(
    ("source", "rel", "expected"),
    [
        (
            "def f():\n    from perpvault.fuzz import machine\n",
            "perpvault/keeper.py",
            ["perpvault.fuzz", "perpvault.fuzz.machine"],
        ),
        (
            "from . import rpc\nfrom .state import ChainState\n",
            "perpvault/chain/raw.py",
            [
                "perpvault.chain",
                "perpvault.chain.rpc",
                "perpvault.chain.state",
                "perpvault.chain.state.ChainState",
            ],
        ),
        ("import eth_abi.abi as x\n", "perpvault/model/maths.py", ["eth_abi.abi"]),
    ],
)
def test_imported_modules__sees_lazy_relative_and_dotted_imports(source, rel, expected):
    assert [m for _, m in imported_modules(source, rel)] == expected
