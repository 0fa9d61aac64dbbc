"""Plain regression sequences for the differential state machine.

Paste the sequence ``perpvault fuzz`` prints for a failure here (it is already a test
function); each runs on the session harness, comparing chain and model after every step.
"""

from __future__ import annotations

import pytest

from perpvault.fuzz.machine import PerpMachine

USDC = 10**6


def test_crash_liquidation_with_adl_list_planned_on_the_model(fuzz_harness):
    """A 9x long in BTC, a 40% crash: bad debt beyond the small fund, ADL against the short
    with the keeper's list planned on the model (same-side probe first, rejected alike)."""
    state = PerpMachine()
    state.agrees_and_holds()
    state.open_book(lev=[9, 1, 1], market=0, long_first=True)
    state.agrees_and_holds()
    state.oracle_crash(market=0, pct=40, up=False)
    state.agrees_and_holds()
    state.liquidate(k=0, probe_same_side=True, self_liquidate=False)
    state.agrees_and_holds()
    state.sweep()
    state.agrees_and_holds()
    state.lp_redeem(lp=0, frac=500_000)
    state.agrees_and_holds()
    state.teardown()
    from perpvault.fuzz.machine import STATS

    assert STATS.outcomes["liquidate: ok"] >= 1


def test_every_invalid_action_is_rejected_alike(fuzz_harness):
    from perpvault.fuzz.machine import INVALID

    state = PerpMachine()
    state.agrees_and_holds()
    state.open_book(lev=[3, 3, 3], market=1, long_first=False)
    state.agrees_and_holds()
    for i, kind in enumerate(INVALID):
        state.invalid(kind=kind, who=i % 6, market=i % 2)
        state.agrees_and_holds()
    state.teardown()


# --- shrunk sequences that catch mutants (perpvault fuzz --mutant NAME --seed 1 printed them) ---


@pytest.mark.parametrize("mutant_harness", ["adl_overshoot"], indirect=True)
def test_regression_seed_1_adl_overshoot(mutant_harness):
    from perpvault.fuzz.machine import PerpMachine, Violation

    with pytest.raises(Violation) as caught:
        state = PerpMachine()
        state.open_book(lev=[1, 1, 5], market=0, long_first=False)
        state.agrees_and_holds()
        state.oracle_crash(market=0, pct=21, up=False)
        state.agrees_and_holds()
        state.liquidate(k=0, probe_same_side=False, self_liquidate=False)
        state.agrees_and_holds()
        state.teardown()
    assert "I6" in caught.value.ids


@pytest.mark.parametrize("mutant_harness", ["liquidation_skips_fund"], indirect=True)
def test_regression_seed_1_liquidation_skips_fund(mutant_harness):
    from perpvault.fuzz.machine import PerpMachine, Violation

    with pytest.raises(Violation):
        state = PerpMachine()
        state.open_book(lev=[1, 1, 5], market=0, long_first=False)
        state.agrees_and_holds()
        state.oracle_crash(market=0, pct=20, up=False)
        state.agrees_and_holds()
        state.liquidate(k=0, probe_same_side=False, self_liquidate=False)
        state.agrees_and_holds()
        state.teardown()
