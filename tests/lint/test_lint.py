"""The lint gate: natrix and the compiler's warnings fail `make test`.

slither/crytic-compile cannot parse Vyper 0.4 and report "No contract was analyzed" with
exit 0 (a false green), so they are not used. The gate proves it is live: it must report a
planted violation and must see every contract file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from perpvault.paths import repo_root, venv_bin

CONTRACTS = repo_root() / "contracts"
# Arguments of external functions follow the ERCs' names (owner, receiver, amount), as
# snekmate does, not natrix's leading-underscore convention.
DISABLED = ["NTX11"]
# Findings natrix reports that are not issues, each with the reason. A listed finding that
# natrix stops reporting fails the gate too, so the list cannot go stale.
ACCEPTED = {
    ("Clearinghouse.vy", "NTX4", "liquidate"): "a DELEGATECALL forwarder: natrix does not count "
    "raw_call(is_delegate_call=True) as a state change, and a view cannot DELEGATECALL",
    ("Clearinghouse.vy", "NTX10", "account"): "forwarded inside msg.data to the Liquidator",
    ("Clearinghouse.vy", "NTX1", "liquidate"): "the frame reserves the list's ABI bound (MAX_ADL_ARG = 4,096 "
    "addresses) so that a list beyond MAX_ADL gets its reason; the forwarder reads only its length, so none "
    "of that memory is touched or paid for",
    ("Liquidator.vy", "NTX1", "liquidate"): "the waterfall's internal frames hold the ADL list (MAX_ADL = 128 "
    "addresses, bench/adl_list_bound.py); memory is paid as far as it is touched: +1.4k gas a liquidation "
    "against MAX_ADL = 64",
}


def _contract_files() -> list[Path]:
    return sorted(p for p in CONTRACTS.rglob("*.vy"))


def _deployable_files() -> list[Path]:
    """What the compiler can build on its own: a module that `uses:` another compiles only
    inside a contract that initializes both (its code is compiled, and warned about, there)."""
    return [p for p in _contract_files() if "\nuses: " not in p.read_text()]


def _natrix(cwd: Path) -> tuple[int, list[dict], str]:
    env = dict(os.environ, PATH=f"{venv_bin()}{os.pathsep}{os.environ.get('PATH', '')}")
    site = next(Path(p) for p in sys.path if p.endswith("site-packages"))
    # tests/lint/natrix_cli.py: natrix with its `uses:`-module workaround widened.
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("natrix_cli.py")), "lint", "--json", "--disable", *DISABLED,
         "-p", ".", str(site)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )
    try:
        issues = json.loads(proc.stdout) if proc.stdout.strip() else []
    except json.JSONDecodeError:
        issues = []
    return proc.returncode, issues, proc.stderr


def _accepted(issue: dict) -> tuple[str, str, str] | None:
    for key in ACCEPTED:
        file, code, name = key
        if issue["file"] == file and issue["code"] == code and f"'{name}'" in issue["message"]:
            return key
    return None


def test_natrix__reports_no_issue_in_any_contract():
    code, issues, err = _natrix(CONTRACTS)
    assert issues or code == 0, err[-2000:]
    unexpected = [i for i in issues if _accepted(i) is None]
    assert unexpected == [], "\n".join(f"{i['file']}:{i['position']} {i['code']} {i['message']}" for i in unexpected)
    stale = set(ACCEPTED) - {_accepted(i) for i in issues}
    assert not stale, f"accepted findings natrix no longer reports: {stale}"


def test_natrix__catches_a_planted_violation(tmp_path):
    shutil.copy(Path(__file__).with_name("planted_violation.vy.txt"), tmp_path / "Planted.vy")
    code, issues, _ = _natrix(tmp_path)
    assert code != 0
    assert any(i["code"] == "NTX4" and i["file"].endswith("Planted.vy") for i in issues)


@pytest.mark.parametrize("path", _deployable_files(), ids=lambda p: str(p.relative_to(CONTRACTS)))
def test_compiler__emits_no_warning(path):
    """Warnings are errors: e.g. a Clearinghouse over EIP-170's 24,576 bytes fails here."""
    proc = subprocess.run(
        [str(venv_bin() / "vyper"), "-W", "error", "-p", str(CONTRACTS), str(path), "-f", "bytecode_runtime"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    runtime = (len(proc.stdout.strip()) - 2) // 2
    assert runtime <= 24_576, f"{path.name}: {runtime} bytes of runtime code, over EIP-170"


def test_lint_gate__sees_every_contract():
    files = _contract_files()
    names = {p.name for p in files}
    assert {"Clearinghouse.vy", "OrderBook.vy", "LiquidityVault.vy", "InsuranceFund.vy"} <= names
    assert len(files) >= 10
