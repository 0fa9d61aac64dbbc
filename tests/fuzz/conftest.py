"""Fixtures of the differential fuzz suite: one Anvil with the deployed, set-up system for the
whole session (every example and regression sequence reverts to its post-setup snapshot)."""

from __future__ import annotations

import os

import pytest


def _campaign_steps() -> int:
    """Steps of the CI campaign, by Hypothesis profile (PERPVAULT_FUZZ_STEPS overrides)."""
    if os.environ.get("PERPVAULT_FUZZ_STEPS"):
        return int(os.environ["PERPVAULT_FUZZ_STEPS"])
    return {"quick": 1_000, "ci": 8_000, "long": 100_000}.get(os.environ.get("HYPOTHESIS_PROFILE", "ci"), 8_000)


@pytest.fixture(scope="session")
def campaign_steps() -> int:
    return _campaign_steps()


@pytest.fixture(scope="session")
def _session_harness():
    from perpvault.fuzz import machine

    harness = machine.Harness()
    yield harness
    machine.set_harness(None)
    harness.close()


@pytest.fixture
def fuzz_harness(_session_harness):
    """The session's harness, installed as the machine's for this test (a campaign run by an
    earlier test, e.g. the mutant checks, leaves none installed: PerpMachine would otherwise
    start, and never close, a harness of its own)."""
    from perpvault.fuzz import machine

    machine.set_harness(_session_harness)
    return _session_harness


@pytest.fixture
def mutant_harness(request, fuzz_harness):
    """A harness on mutant `request.param` (parametrize indirectly); the session harness is
    restored afterwards."""
    from perpvault.fuzz import machine

    harness = machine.Harness(request.param)
    machine.set_harness(harness)
    yield harness
    machine.set_harness(fuzz_harness)
    harness.close()
