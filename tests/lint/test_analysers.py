"""The lint gate's second rule: an analyser that analysed zero contracts (or fewer than all of
them) fails, instead of passing green.

slither `.` at an ape root prints "No contract was analyzed" and exits 0 on Vyper 0.4
(crytic/slither#2528): a false green. slither/crytic-compile cannot parse Vyper 0.4 and are
not installable usefully offline here, so the gate checks the analysers that do run:
forge's build (every deployable contract in contracts/ must come out with bytecode: halmos
and the campaign run on those artifacts) and natrix (the files it enumerates must be every
contract, and no rule may crash — natrix prints a rule's crash and carries on). If slither is
installed, its report is held to the same rule.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

from perpvault.paths import forge_bin, repo_root, venv_bin
from perpvault.prove.formal import _env, formal_dir

CONTRACTS = repo_root() / "contracts"


class NothingAnalysed(AssertionError):
    """An analyser looked at zero contracts, or not at all of them."""


def require_analysed(tool: str, analysed: set[str], expected: set[str]) -> None:
    """The rule: fail if `tool` analysed nothing or missed any expected contract."""
    if not analysed:
        raise NothingAnalysed(f"{tool} analysed zero contracts")
    missing = expected - analysed
    if missing:
        raise NothingAnalysed(f"{tool} did not analyse {', '.join(sorted(missing))}")


def slither_analysed(output: str) -> set[str]:
    """Contracts slither says it analysed; empty for its false-green "No contract was analyzed"."""
    if "No contract was analyzed" in output:
        return set()
    m = re.search(r"analyzed \((\d+) contracts", output)
    if m is None or int(m[1]) == 0:
        return set()
    return {f"<{m[1]} contracts>"}


def deployable_contracts(root: Path = CONTRACTS) -> set[str]:
    """Contract names (file stems) with external functions: modules and interfaces excluded."""
    return {p.stem for p in root.rglob("*.vy") if "@external" in p.read_text()}


def forge_artifacts(out: Path) -> set[str]:
    """Contract names forge's build wrote with non-empty deployed bytecode."""
    names = set()
    for art in out.glob("*.vy/*.json"):
        code = json.loads(art.read_text()).get("deployedBytecode", {}).get("object", "")
        if code and code != "0x":
            names.add(art.stem)
    return names


def _forge_build(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(forge_bin()), "build", "--root", str(project)], cwd=project, env=_env(),
                          capture_output=True, text=True, timeout=600)


def test_forge_build__outputs_every_contract():
    proc = _forge_build(formal_dir())
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    expected = deployable_contracts()
    assert {"Clearinghouse", "InsuranceFund", "LiquidityVault", "OrderBook"} <= expected
    require_analysed("forge build", forge_artifacts(formal_dir() / "out"), expected)


def test_forge_build__with_no_sources_is_caught(tmp_path):
    """Planted violation: a forge project whose sources are empty builds "successfully"."""
    (tmp_path / "src").mkdir()
    toml = (formal_dir() / "foundry.toml").read_text().replace('src = "../contracts"', 'src = "src"')
    (tmp_path / "foundry.toml").write_text(toml.replace('path = "../.venv/bin/vyper"',
                                                        f'path = "{venv_bin() / "vyper"}"'))
    proc = _forge_build(tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with pytest.raises(NothingAnalysed, match="zero contracts"):
        require_analysed("forge build", forge_artifacts(tmp_path / "out"), deployable_contracts())


def test_forge_build__missing_one_contract_is_caught(tmp_path):
    """Planted violation: a build that silently drops a contract (here: copied without it)."""
    shutil.copytree(formal_dir() / "out", tmp_path / "out", ignore=shutil.ignore_patterns("build-info"))
    shutil.rmtree(tmp_path / "out" / "Clearinghouse.vy")
    with pytest.raises(NothingAnalysed, match="Clearinghouse"):
        require_analysed("forge build", forge_artifacts(tmp_path / "out"), deployable_contracts())


def _natrix(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{venv_bin()}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run([str(venv_bin() / "natrix"), "lint", "--disable", "NTX11", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_natrix__enumerates_every_contract_and_no_rule_crashes():
    from natrix import find_vy_files

    files = {Path(f).resolve() for f in find_vy_files(str(CONTRACTS))}
    require_analysed("natrix", {p.stem for p in files}, {p.stem for p in CONTRACTS.rglob("*.vy")})
    proc = _natrix(CONTRACTS, "-p", ".", sysconfig.get_paths()["purelib"])
    assert "Error running rule" not in proc.stdout + proc.stderr, proc.stdout[-2000:]


def test_natrix__with_no_contracts_is_caught(tmp_path):
    """Planted violation: natrix pointed at a directory without contracts must not pass."""
    proc = _natrix(tmp_path)
    assert proc.returncode != 0
    assert "No .vy files" in proc.stdout + proc.stderr


def test_slither_false_green__is_caught():
    """slither's report on Vyper 0.4 (exit 0) counts as zero contracts analysed."""
    with pytest.raises(NothingAnalysed, match="zero contracts"):
        require_analysed("slither", slither_analysed("INFO:Slither:No contract was analyzed\n"), {"Clearinghouse"})
    assert slither_analysed("INFO:Slither:. analyzed (12 contracts with 90 detectors), 3 result(s) found")


@pytest.mark.skipif(shutil.which("slither") is None and not (venv_bin() / "slither").exists(),
                    reason="slither is not installed (it cannot parse Vyper 0.4: crytic/slither#2528)")
def test_slither__analyses_contracts_if_installed():
    exe = shutil.which("slither") or str(venv_bin() / "slither")
    proc = subprocess.run([exe, "."], cwd=repo_root(), capture_output=True, text=True, timeout=600)
    require_analysed("slither", slither_analysed(proc.stdout + proc.stderr), set())
