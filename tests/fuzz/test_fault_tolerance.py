"""Fault tolerance of the fuzzer: a worker's Anvil killed mid-campaign is
replaced (fresh node, redeploy, set-up) and the campaign completes; a transaction whose
outcome differs between chain and model is reported with the chain's decoded revert reason."""

from __future__ import annotations

import os
import signal

import pytest

from perpvault.fuzz import machine
from perpvault.fuzz.machine import MARGIN, TRADERS, PerpMachine, Violation

USDC = 10**6


def test_campaign__anvil_killed_mid_run__restarts_redeploys_and_completes(fuzz_harness, capfd):
    from perpvault.fuzz.campaign import run_worker

    killed: list[tuple[int, int]] = []

    def kill_once(steps: int, checks: int, rules: set[str]) -> None:
        if not killed and steps >= 200:
            anvil = machine.get_harness().anvil
            os.kill(anvil.process.pid, signal.SIGKILL)
            killed.append((anvil.port, steps))

    result = run_worker(600, seed=8, on_progress=kill_once)
    machine.set_harness(fuzz_harness)  # run_worker used and closed its own
    assert killed, "the campaign never reached the kill"
    port, at = killed[0]
    assert not result.violations, "\n".join(result.violations)
    assert result.steps >= 600
    assert len(result.restarts) == 1, result.restarts
    err = capfd.readouterr().err
    assert f"anvil on port {port} died at step {at}" in err
    assert "restarted" in err and "redeployed, resuming" in err


def test_unexpected_revert__chain_reverts_model_accepts__reported_with_decoded_reason(fuzz_harness):
    state = PerpMachine()
    trader = state.a[TRADERS[0]].lower()
    state.model.w.ch.accounts[trader].margin += MARGIN  # the model believes in margin the chain does not hold
    with pytest.raises(Violation) as caught:
        state.withdraw(who=0, amount=MARGIN + 1_000 * USDC)
        state.agrees_and_holds()
    state.teardown()
    assert "MODEL outcome of withdraw: chain ch: insufficient margin != model ok" in caught.value.lines


def test_unexpected_revert__model_reverts_chain_accepts__reported_with_model_reason(fuzz_harness):
    state = PerpMachine()
    trader = state.a[TRADERS[0]].lower()
    state.model.w.ch.accounts[trader].margin = 0  # the model believes the account is empty
    with pytest.raises(Violation) as caught:
        state.withdraw(who=0, amount=1_000 * USDC)
        state.agrees_and_holds()
    state.teardown()
    assert "MODEL outcome of withdraw: chain ok != model ch: insufficient margin" in caught.value.lines
