"""Every z3 check is proved on the real transitions, and every proof can fail.

All checks and all mutant runs execute once (2 solver processes, the CI budget), then:

* each real check must be ``proved`` (unsat) — a counterexample, a timeout or an error fails;
* each planted mutant (`perpvault.prove.checks.MUTANTS`) must be reported as a
  ``counterexample`` by every check it is matched with.
"""

from __future__ import annotations

import pytest

from perpvault.prove.checks import CHECKS, MUTANTS
from perpvault.prove.cli import plan, run_tasks

TIMEOUT_S = 90.0

MUTANT_RUNS = [(m, name) for m, (_, names) in MUTANTS.items() for name in names]


@pytest.fixture(scope="module")
def results() -> dict[tuple[str, str | None], dict]:
    rows = run_tasks(plan(None, mutants=True), TIMEOUT_S, jobs=2)
    return {(r["check"], r.get("mutant")): r for r in rows}


@pytest.mark.parametrize("name", [c.name for c in CHECKS])
def test_check_is_proved(results, name):
    r = results[(name, None)]
    assert r["result"] == "proved", f"{name}: {r['result']} {r.get('detail', '')}"


@pytest.mark.parametrize(("mutant", "name"), MUTANT_RUNS)
def test_mutant_is_caught(results, mutant, name):
    r = results[(name, mutant)]
    assert r["result"] == "counterexample", f"{mutant} not caught by {name}: {r['result']}"


def test_every_mutant_is_matched_with_existing_checks():
    names = {c.name for c in CHECKS}
    for mutant, (_, checks) in MUTANTS.items():
        assert checks, mutant
        assert set(checks) <= names, mutant


def test_every_transition_has_its_invariants():
    names = {c.name for c in CHECKS}
    for tr in ("deposit", "withdraw", "settle_funding", "fill", "vault_trade",
               "liquidate_at_mark", "adl[1]", "adl[2]", "adl[3]", "accrue"):
        for inv in ("I1", "I2"):
            assert f"{tr}: {inv}" in names
    for tr in ("fund_cover", "sweep_to_insurance"):
        assert f"{tr}: I5" in names
    for n in (1, 2, 3):
        for prop in ("bankrupt +S", "I6", "I7"):
            assert f"adl[{n}]: {prop}" in names
    # The funding accrual: no money moves (IF too), F2 on the index, the rate's bound and sign.
    for name in ("accrue: IF", "accrue: no money moves", "funding_index: F2", "funding_rate: bounded",
                 "funding_rate: sign"):
        assert name in names
