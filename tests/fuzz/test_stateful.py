"""The differential state machine: contracts on Anvil and perpvault.model side by
side, every balance compared and I1-I10 checked after every step.

Two runs: the Hypothesis TestCase under the active profile (tests/conftest.py: quick/ci/long),
and a fixed-seed campaign through perpvault.fuzz.campaign (the code path of
``perpvault fuzz``), sized by profile: ~8,000 steps in CI, so ~10,000 with the TestCase.
"""

from __future__ import annotations

import pytest
from hypothesis import settings

from perpvault.fuzz import machine
from perpvault.fuzz.machine import PerpMachine


@pytest.fixture(autouse=True)
def _harness(fuzz_harness):
    return fuzz_harness


class TestPerpMachine(PerpMachine.TestCase):
    settings = settings(settings.default, database=None)


def test_campaign__fixed_seed_finds_no_violation(fuzz_harness, campaign_steps):
    """The CLI's campaign code, one worker, a fixed seed; its own Anvil (the session one is left alone)."""
    from perpvault.fuzz.campaign import run_worker

    result = run_worker(campaign_steps, seed=2026)
    machine.set_harness(fuzz_harness)  # run_worker used and closed its own
    assert not result.violations, (
        f"{', '.join(result.violated)} after {result.steps_to_failure} steps:\n" + "\n".join(result.violations)
        + "\n\nregression test:\n" + result.regression
    )
    assert result.steps >= campaign_steps
    covered = set(result.rules)
    assert {"fill", "liquidate", "oracle_crash", "lp_deposit", "lp_redeem", "invalid", "vault_trade"} <= covered
    # the waterfall was reached, not only attempted
    assert result.outcomes.get("liquidate: ok", 0) > 0, result.outcomes
