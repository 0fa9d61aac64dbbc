"""halmos on the bytecode and the forge invariant campaign (formal/), as `perpvault prove` runs them.

Every halmos check must be proved (a counterexample, a TIMEOUT, a vacuous "all paths
revert" or an error fails), the 100k-call campaign must hold, and every planted bytecode
mutant must be reported as a violation by each check listed to catch it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from perpvault.paths import repo_root, venv_bin
from perpvault.prove import formal

pytestmark = pytest.mark.slow


def _show(rows: list[dict]) -> str:
    return "\n".join(f"{r['check']}: {r['result']} ({r['seconds']}s) {r.get('detail', '')}" for r in rows)


@pytest.mark.parametrize("contract", formal.HALMOS_CONTRACTS)
def test_halmos__every_check_is_proved_on_the_bytecode(contract):
    rows = formal.run_halmos(contract)
    assert rows and all(formal.passed(r) for r in rows), _show(rows)
    # One check per external state-changing function of the harnessed contract.
    least = {"FundChecks": 5, "ClearinghouseChecks": 26, "VaultChecks": 15, "OrderBookChecks": 1}[contract]
    assert len(rows) >= least, _show(rows)


def test_deep_checks_are_written_and_left_out_of_ci():
    """`perpvault prove --deep` runs formal.DEEP; CI's halmos runs must not match them."""
    harness = (repo_root() / "formal" / "test" / "ClearinghouseChecks.vy").read_text()
    for check in formal.DEEP:
        assert f"def {check}(" in harness and check in formal.NOT_RUN, check
        # halmos matches --match-test against the signature: "check_ch_fill_flat(int256,uint256)".
        assert not re.match(formal.HALMOS_MATCH["ClearinghouseChecks"], f"{check}("), check
    ci = [n for n in re.findall(r"^def (check_\w+)\(", harness, re.M) if n not in formal.NOT_RUN]
    assert ci and all(re.match(formal.HALMOS_MATCH["ClearinghouseChecks"], f"{n}(") for n in ci)


@pytest.mark.skipif(not os.environ.get("PERPVAULT_DEEP"),
                    reason="long halmos checks (minutes each): set PERPVAULT_DEEP=1, or run perpvault prove --deep")
def test_deep_halmos_checks__are_proved_on_the_bytecode_and_catch_their_mutants():
    rows = formal.run_deep()
    checks = [r for r in rows if not r.get("mutant")]
    mutants = [r for r in rows if r.get("mutant")]
    assert [r["check"] for r in checks] == [f"halmos: {c}" for c in formal.DEEP], _show(rows)
    assert all(formal.passed(r) for r in checks), _show(rows)
    assert [r["mutant"] for r in mutants] == [n for n, m in formal.DEEP_MUTANTS.items() for _ in m.caught_by]
    assert all(formal.caught(r) for r in mutants), _show(rows)


def test_deep_mutants_are_caught_only_by_deep_checks():
    """Their rows run under run_deep's budget, never in CI's mutant runs."""
    assert not set(formal.DEEP_MUTANTS) & set(formal.MUTANTS)
    for m in formal.DEEP_MUTANTS.values():
        assert all(row.removeprefix("halmos: ") in formal.DEEP for row in m.caught_by), m.name


def _layout(contract: str) -> dict:
    out = subprocess.run([str(venv_bin() / "vyper"), "-f", "layout", contract],
                         cwd=repo_root(), capture_output=True, text=True, check=True).stdout
    layout = json.loads(out)["storage_layout"]
    # Module variables (pausable.paused) sit one level down.
    return {**{k: v for m in layout.values() if "slot" not in m for k, v in m.items()}, **layout}


def test_halmos_pins_write_the_clearinghouse_slots_they_name():
    """ClearinghouseChecks stores the market count, market 0's oracle word, account masks,
    position words, rates and roles at fixed Clearinghouse slots, and a price at fixed
    PriceFeed slots (FEED_*), with vm.store: a layout change must not leave it writing
    somewhere else."""
    layouts = {"": _layout("contracts/Clearinghouse.vy"), "FEED_": _layout("contracts/oracle/PriceFeed.vy")}
    harness = (repo_root() / "formal" / "test" / "ClearinghouseChecks.vy").read_text()
    pinned = dict(re.findall(r"^(\w+)_SLOT: constant\(uint256\) = (\d+)$", harness, re.M))
    assert pinned, "no *_SLOT constants in ClearinghouseChecks.vy"
    assert any(name.startswith("FEED_") for name in pinned)
    for name, slot in pinned.items():
        prefix = "FEED_" if name.startswith("FEED_") else ""
        assert layouts[prefix][name.removeprefix(prefix).lower()]["slot"] == int(slot), name


def test_forge_campaign__holds_over_100k_calls():
    row = formal.run_campaign()
    assert row["result"] == "held", _show([row])
    stats = row["stats"]
    assert stats["calls"] >= 100_000
    assert stats["handler_reverts"] == 0
    # The campaign reaches the waterfall, not just deposits.
    assert stats["liquidations"] > 0 and stats["bad_debt"] > 0 and stats["adl"] > 0, _show([row])


MUTANT_JOBS = 2  # CI's cores: halmos and its solver are single-threaded


@pytest.fixture(scope="module")
def mutant_rows(request) -> dict[str, list[dict]]:
    """Every selected bytecode mutant's rows, run MUTANT_JOBS at a time. Each mutant builds
    and checks its own project (formal/build/<name>), so the runs share nothing; measured on
    2 cores: the 14 mutants in 338 s instead of 521 s one after the other."""
    test = "test_planted_bytecode_mutant__is_reported_by_every_matching_check"
    wanted = sorted({item.callspec.params["name"] for item in request.session.items
                     if getattr(item, "originalname", None) == test and hasattr(item, "callspec")})
    with ThreadPoolExecutor(max_workers=MUTANT_JOBS) as pool:
        return dict(zip(wanted, pool.map(formal.run_mutant, wanted), strict=True))


@pytest.mark.parametrize("name", sorted(formal.MUTANTS))
def test_planted_bytecode_mutant__is_reported_by_every_matching_check(name, mutant_rows):
    rows = mutant_rows[name]
    assert [r["check"] for r in rows] == list(formal.MUTANTS[name].caught_by)
    assert all(formal.caught(r) for r in rows), _show(rows)
