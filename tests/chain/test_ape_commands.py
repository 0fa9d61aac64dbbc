"""ape's own commands work as the README writes them, from a shell whose PATH has nothing
added: the project's ape plugin (plugins/ape-perpvault) puts its Anvil and vyper on PATH when
ape starts. Each runs `.venv/bin/ape` in a fresh process with PATH=/usr/bin:/bin (no anvil,
no vyper, no node on it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from perpvault.paths import repo_root

APE = Path(sys.executable).with_name("ape")
CLEAN_PATH = "/usr/bin:/bin"


def _ape(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {"HOME": os.environ.get("HOME", "/root"), "PATH": CLEAN_PATH}
    return subprocess.run([str(APE), *args], cwd=repo_root(), env=env, input=stdin, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module", autouse=True)
def _clean_path_has_no_tools():
    for tool in ("anvil", "vyper", "ape"):
        assert shutil.which(tool, path=CLEAN_PATH) is None, f"{tool} on {CLEAN_PATH}: the test would prove nothing"


def test_ape_run_deploy__as_the_readme_writes_it():
    done = _ape("run", "deploy", "--account", "TEST::0")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "FoundryNotInstalledError" not in done.stderr
    for name in ("Clearinghouse", "LiquidityVault", "InsuranceFund", "OrderBook", "RiskLens"):
        assert any(line.startswith(name) and "0x" in line for line in done.stdout.splitlines()), name


def test_ape_console__starts_with_a_deployed_system_roles_and_units():
    script = "\n".join([
        "fund_account(system, alice, usdc(10_000)); fund_account(system, bob, usdc(10_000))",
        "trade(system, bob, alice, BTC, size(1), price(60_000), chain=chain)",
        "print('alice BTC', system.clearinghouse.position(alice, BTC)[0] / 10**18, fmt_usdc(usdc(5)))",
        "print('venue', venue.position(alice, 'BTC-PERP').size, venue.adl_rank(bob, 'BTC'))",
        "exit",
    ]) + "\n"
    done = _ape("console", stdin=script)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "perpvault: deployed `system` on the local network" in done.stdout
    assert "alice BTC 1.0 5.000000" in done.stdout
    assert "venue 1 AdlRank(place=1, count=1, quantile=5)" in done.stdout


def test_ape_test__runs_the_projects_tests():
    done = _ape("test", "tests/unit/test_min_notional.py", "-q", "-p", "no:cacheprovider")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert " passed" in done.stdout and "failed" not in done.stdout


def test_perpvault_node__is_the_projects_anvil_from_a_clean_path():
    done = subprocess.run([str(APE.with_name("perpvault")), "node", "--version"], capture_output=True, text=True,
                          env={"HOME": os.environ.get("HOME", "/root"), "PATH": CLEAN_PATH}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("anvil Version: 1.7.1")
