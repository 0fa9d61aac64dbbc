"""Proof that the fuzzer can fail: every mutant of perpvault.fuzz.mutants is caught within
10,000 steps with a fixed seed, and the violated invariant is named."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from perpvault.fuzz.mutants import MUTANTS, mutant_artifacts

SEED = 1
BUDGET = 10_000


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    """Compile the five mutated clearinghouses in parallel (cached in .build/fuzz afterwards)."""
    with ThreadPoolExecutor(max_workers=len(MUTANTS)) as pool:
        list(pool.map(mutant_artifacts, MUTANTS))


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_is_caught(name):
    from perpvault.fuzz.campaign import run_worker

    result = run_worker(BUDGET, seed=SEED, mutant=name, shrink=False)
    assert result.violations, f"mutant {name} survived {result.steps} steps"
    assert result.steps_to_failure is not None and result.steps_to_failure <= BUDGET
    caught = set(result.violated) & set(MUTANTS[name].caught_by)
    assert caught, (name, result.violated, result.violations[:5])
    print(f"{name}: caught after {result.steps_to_failure} steps by {', '.join(result.violated)}")
