"""examples/ run as a reader would run them (a fresh process each), so docs/scripting.md cannot
rot. examples/attach_to_staging.py runs in tests/replay/test_networks.py, after its deploy."""

from __future__ import annotations

import json
import subprocess
import sys

from perpvault.paths import repo_root


def _example(name: str, *args: str) -> str:
    done = subprocess.run([sys.executable, f"examples/{name}", *args], cwd=repo_root(), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done.stdout


def test_crash_to_adl__the_bankrupt_long_is_closed_and_adl_takes_exactly_the_shortfall():
    out = _example("crash_to_adl.py")
    assert "liquidatable True" in out
    assert "bob: ADL place 1 of 2, quantile 5" in out  # the most profitable, most leveraged short
    assert "  deleveraged bob: 1.5 BTC" in out and "deleveraged carol" not in out
    assert ": True\n" in out.split("haircuts ", 1)[1]  # haircuts == shortfall, to the atom
    assert "alice after: 0 BTC, margin 0.000000" in out
    assert "Contract 'MockUSDC' deployed" not in out  # ape's noise is off


def test_custom_scenario__runs_through_the_whole_waterfall_on_a_chain(tmp_path):
    out = _example("custom_scenario.py", "--out", str(tmp_path))
    report = json.loads((tmp_path / "report.json").read_text())
    layers = report["layers"]
    assert layers["insurance_fund_cover"] > 0 and layers["adl_haircuts"] > 0
    assert report["invariants"]["all_hold"] and report["on_chain"]
    assert f"ADL haircuts           {layers['adl_haircuts'] / 10**6:,.6f} USDC" in out
    assert "invariants held every step: True" in out
