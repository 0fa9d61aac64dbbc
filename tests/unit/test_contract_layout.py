"""Standing gates on the compiled contracts: bytecode room under EIP-170, and the
Clearinghouse/Liquidator pair that shares one storage through DELEGATECALL.

The Liquidator's code runs on the Clearinghouse's storage, so the two must lay their
storage out identically, and the Clearinghouse's ABI must declare every event the
Liquidator logs on its behalf (a DELEGATECALL's logs carry the caller's address).
"""

from __future__ import annotations

import json
import subprocess
from functools import cache
from pathlib import Path

import pytest

from perpvault.paths import repo_root, venv_bin

EIP170 = 24_576
# Room every deployable keeps below EIP-170 for the changes that come next.
MIN_HEADROOM = 3_072

CONTRACTS = repo_root() / "contracts"
DEPLOYABLES = sorted(
    str(p.relative_to(CONTRACTS)) for p in [*CONTRACTS.glob("*.vy"), *CONTRACTS.glob("oracle/*.vy")]
)


@cache
def _compile(source: str, fmt: str) -> str:
    out = subprocess.run(
        [str(venv_bin() / "vyper"), "-p", str(CONTRACTS), "-f", fmt, str(CONTRACTS / source)],
        capture_output=True, text=True, check=True,
    )
    return out.stdout.strip()


def runtime_size(source: str) -> int:
    return (len(_compile(source, "bytecode_runtime")) - 2) // 2


def test_deployables__are_every_contract_outside_mocks_and_modules():
    assert {"Clearinghouse.vy", "Liquidator.vy", "LiquidityVault.vy", "InsuranceFund.vy", "OrderBook.vy",
            "RiskLens.vy", "oracle/PriceFeed.vy", "oracle/ChainlinkAdapter.vy"} == set(DEPLOYABLES)


@pytest.mark.parametrize("source", DEPLOYABLES)
def test_deployable__keeps_headroom_below_eip170(source):
    size = runtime_size(source)
    assert size <= EIP170 - MIN_HEADROOM, (
        f"{source}: {size} bytes of runtime code, {EIP170 - size} below EIP-170 (at least {MIN_HEADROOM} required)"
    )


@pytest.mark.parametrize("source", DEPLOYABLES)
def test_deployable__implements_an_interface(source):
    text = (CONTRACTS / source).read_text()
    assert "\nimplements: " in text, f"{source} declares no `implements:`"


def _storage(source: str) -> dict:
    return json.loads(_compile(source, "layout"))["storage_layout"]


def test_liquidator__storage_layout_is_the_clearinghouses():
    assert _storage("Liquidator.vy") == _storage("Clearinghouse.vy")


def test_liquidator__holds_no_storage_of_its_own():
    """Every slot the Liquidator has comes from a module the Clearinghouse initializes too:
    nothing is declared in Liquidator.vy itself (its one immutable lives in code)."""
    assert all("slot" not in entry for entry in _storage("Liquidator.vy").values())


def _events(source: str) -> dict[str, list]:
    abi = json.loads(_compile(source, "abi"))
    return {e["name"]: e["inputs"] for e in abi if e["type"] == "event"}


def test_clearinghouse_abi__declares_every_event_the_liquidator_logs():
    ch, liquidator = _events("Clearinghouse.vy"), _events("Liquidator.vy")
    for name, inputs in liquidator.items():
        assert ch.get(name) == inputs, f"{name}: Liquidator {inputs} != Clearinghouse {ch.get(name)}"


def test_shared_constants__are_declared_once():
    """PPM, WAD and the ADL order are typed in modules/constants.vy and modules/perp_math.vy
    only; every other source uses them from there."""
    offenders = []
    for path in CONTRACTS.rglob("*.vy"):
        rel = path.relative_to(CONTRACTS)
        if rel == Path("modules/constants.vy") or rel.parts[0] == "mocks":
            continue
        text = path.read_text()
        for name in ("PPM: constant", "WAD: constant", "MAX_MARKETS: constant", "def _ahead("):
            if name in text and not (name == "def _ahead(" and rel == Path("modules/perp_math.vy")):
                offenders.append(f"{rel}: {name}")
    assert not offenders, offenders
