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


def _contract_files() -> list[Path]:
    return sorted(p for p in CONTRACTS.rglob("*.vy"))


def _natrix(cwd: Path) -> tuple[int, list[dict], str]:
    env = dict(os.environ, PATH=f"{venv_bin()}{os.pathsep}{os.environ.get('PATH', '')}")
    site = next(Path(p) for p in sys.path if p.endswith("site-packages"))
    proc = subprocess.run(
        [str(venv_bin() / "natrix"), "lint", "--json", "--disable", *DISABLED, "-p", ".", str(site)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )
    try:
        issues = json.loads(proc.stdout) if proc.stdout.strip() else []
    except json.JSONDecodeError:
        issues = []
    return proc.returncode, issues, proc.stderr


def test_natrix__reports_no_issue_in_any_contract():
    code, issues, err = _natrix(CONTRACTS)
    assert issues == [], "\n".join(f"{i['file']}:{i['position']} {i['code']} {i['message']}" for i in issues)
    assert code == 0, err[-2000:]


def test_natrix__catches_a_planted_violation(tmp_path):
    shutil.copy(Path(__file__).with_name("planted_violation.vy.txt"), tmp_path / "Planted.vy")
    code, issues, _ = _natrix(tmp_path)
    assert code != 0
    assert any(i["code"] == "NTX4" and i["file"].endswith("Planted.vy") for i in issues)


@pytest.mark.parametrize("path", _contract_files(), ids=lambda p: str(p.relative_to(CONTRACTS)))
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
