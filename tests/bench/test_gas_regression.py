"""Gas regression guard: no operation may cost more than 10% over the
numbers committed in bench/results/gas.json.

It runs a subset of the bench's own scenarios (perpvault.bench: the trading scenario --
deposits, withdrawals, fills that open, increase, reduce and close, settle_funding, a vault
trade, LP deposit and withdraw -- then a partial liquidation, a full liquidation to the
vault and an ADL with 2 counterparties), without tracing, on its own Anvil. The bench is
deterministic (fixed clock, fixed accounts, fixed order nonces), so these numbers equal the
bench's. When a change is worth its gas, rerun `.venv/bin/python bench/gas.py` and commit
the new gas.json deliberately.
"""

from __future__ import annotations

import json

import pytest

from perpvault.bench import GUARD_TOLERANCE, RESULTS, measure_guard

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def baseline() -> dict[str, int]:
    path = RESULTS / "gas.json"
    if not path.is_file():
        pytest.fail(f"{path} is missing: run .venv/bin/python bench/gas.py and commit it")
    return {op: entry["gas"] for op, entry in json.loads(path.read_text())["operations"].items()}


@pytest.fixture(scope="module")
def measured() -> dict[str, int]:
    return measure_guard()


def test_guard_measures_the_issues_subset(measured):
    for op in ("deposit", "fill_new", "fill_reduce", "vault_trade", "liq_partial", "liq_full_vault", "adl_2"):
        assert op in measured, op


def test_no_operation_grew_more_than_10_percent(baseline, measured):
    grown = []
    for op, gas in sorted(measured.items()):
        assert op in baseline, f"{op} is not in bench/results/gas.json: rerun bench/gas.py"
        limit = baseline[op] * (1 + GUARD_TOLERANCE)
        if gas > limit:
            grown.append(f"{op}: {gas:,} gas > {baseline[op]:,} + 10% ({limit:,.0f})")
    assert not grown, "gas regression over bench/results/gas.json:\n" + "\n".join(grown)
