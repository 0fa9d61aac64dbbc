"""perpvault.replay end to end: a scenario on Anvil (raw JSON-RPC, model in lockstep) and the
same scenario on the reference model alone must report the same numbers, every invariant
holding and zero overshoot; plus the naive-ADL arithmetic on the worked example."""

from __future__ import annotations

import json

import pytest

from perpvault import replay
from perpvault.replay import Naive, naive_adl
from perpvault.scenarios import build

WAD = 10**18
USDC = 10**6

# What both runs must agree on, exactly (atoms).
COMPARED = ("layers", "insurance_fund", "adl", "naive_comparison", "adl_policies", "opening")


def _play(name: str, tmp_path, **kwargs) -> tuple[dict, dict]:
    kept: list = []
    chain = replay.run(build(name, **kwargs), tmp_path, progress=False, keep=kept)
    model = replay.run(
        build(name, **kwargs), None, progress=False, chain=False, addresses=kept[0].addresses()
    )
    return chain, model


def _agree(chain: dict, model: dict) -> None:
    for key in COMPARED:
        assert chain[key] == model[key], f"{key}: chain {chain[key]} != model {model[key]}"
    for c, m in zip(chain["steps"], model["steps"], strict=True):
        for k in (
            "step",
            "prices",
            "fund",
            "vault_equity",
            "liquidations",
            "deleveraged",
            "fund_low",
        ):
            assert c[k] == m[k], f"step {c['step']} {k}: chain {c[k]} != model {m[k]}"


def _fund_reconciles(report: dict) -> None:
    """The fund's curve is its start, plus what the keeper swept in after each step, minus what
    it paid out (its total_out): penalties reach it during the cascade, not only at the end.
    The bad debt it covered is that plus what it was owed and not yet swept (dues pay first)."""
    fund, layers, steps = report["insurance_fund"], report["layers"], report["steps"]
    assert fund["swept_by_keeper"]
    assert fund["swept_in"] == sum(s["swept"] for s in steps)
    assert fund["end"] == fund["start"] + fund["swept_in"] - fund["paid_out"]
    assert layers["insurance_fund_cover"] == fund["paid_out"] + fund["cover_from_dues"]
    assert fund["cover_from_dues"] >= 0
    # The liquidation penalties, less the keepers' rewards, are in what was swept or what the
    # dues covered before a sweep.
    assert fund["swept_in"] + fund["cover_from_dues"] >= layers["penalties"] - layers["keeper_rewards"] > 0


def _holds(report: dict, steps: int) -> None:
    inv = report["invariants"]
    assert inv["all_hold"], inv["violations"]
    assert inv["checks"]["model == chain (every balance, position, market)"] == steps
    assert inv["checks"]["I4: no account left in debt after the keeper"] == steps
    adl = report["adl"]
    assert adl["haircuts"] == adl["socialized_loss"] == adl["uncovered_shortfall"]
    assert adl["overshoot"] == 0
    assert report["naive_comparison"]["overshoot"] >= 0
    assert len(report["gas"]["per_step"]) == steps and all(g > 0 for g in report["gas"]["per_step"])


def test_whale_on_chain_matches_the_model(tmp_path):
    chain, model = _play("whale", tmp_path)
    _agree(chain, model)
    _holds(chain, build("whale").steps)
    # The whale's shortfall beyond the fund reaches ADL: the fund (its donation plus the penalties
    # swept in before) is emptied, the rest socialized.
    _fund_reconciles(chain)
    fund = chain["insurance_fund"]
    assert fund["low"] == 0
    before = chain["steps"][fund["low_step"] - 1]
    assert chain["layers"]["insurance_fund_cover"] == before["fund"] > build("whale").fund_donation
    assert chain["adl"]["traders_deleveraged"] > 0 and chain["adl"]["socialized_loss"] > 0
    assert sum(chain["adl"]["quantile_counts"].values()) == chain["adl"]["deleverage_events"]
    assert chain["naive_comparison"]["overshoot"] > 0
    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert on_disk["adl"] == chain["adl"]
    assert (tmp_path / "waterfall.png").stat().st_size > 10_000


def test_small_oct10_on_chain_matches_the_model(tmp_path):
    chain, model = _play("oct10", tmp_path, traders=30)
    _agree(chain, model)
    _holds(chain, build("oct10", traders=30).steps)
    _fund_reconciles(chain)
    assert chain["layers"]["liquidations"] > 0
    # Many transactions per block (the set-up in a few), and the time each phase took is reported.
    assert chain["blocks"] < chain["transactions"] / 5
    timings = chain["timings_s"]
    assert set(timings) == {key for key, _ in replay.PHASES} | {"wall"}
    assert timings["wall"] >= sum(v for k, v in timings.items() if k != "wall") - 0.1
    md = (tmp_path / "report.md").read_text()
    assert all(f"{label} {timings[key]:.1f} s" in md for key, label in replay.PHASES)


@pytest.mark.parametrize(
    "queue, expected_cut, expected_touched",
    [
        # The worked example (docs/mechanism.md): 1 BTC bankrupt, S = 530, shorts A 0.6 and B 0.4:
        # whole positions cover it exactly, so the naive policy takes S too.
        ([("a", 6 * WAD // 10), ("b", 4 * WAD // 10)], 530 * USDC, 2),
        # One 2-BTC short first in line: closed whole at the bankruptcy price, it gives up 2 x 530.
        ([("a", 2 * WAD), ("b", 4 * WAD // 10)], 1_060 * USDC, 1),
        # 0.5 + 0.8 BTC: 1.3 BTC closed for a 1-BTC bankrupt.
        ([("a", 5 * WAD // 10), ("b", 8 * WAD // 10)], 689 * USDC, 2),
    ],
)
def test_naive_adl_overshoot(queue, expected_cut, expected_touched):
    naive = Naive()
    naive_adl(queue, -WAD, 530 * USDC, set(), naive, 53_000 * WAD, 0)
    assert naive.haircuts == expected_cut
    assert naive.overshoot == expected_cut - 530 * USDC
    assert len(naive.touched) == expected_touched


def test_demo_traders_option_scales_oct10_and_prints_the_phase_times(tmp_path, capsys):
    from perpvault.cli import main

    assert main(["demo", "--traders", "40", "--out", str(tmp_path), "--no-plot", "--quiet"]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["scenario"]["traders"] == 40 and report["invariants"]["all_hold"]
    printed = capsys.readouterr().out
    timings = report["timings_s"]
    assert (
        "time: " + ", ".join(f"{label} {timings[key]:.1f} s" for key, label in replay.PHASES)
        in printed
    )
    assert f"wall time {timings['wall']:.1f} s" in printed


def test_story__runs_and_writes_its_transcript_to_out(tmp_path):
    """`perpvault demo --scenario story --out DIR`: the scripted walkthrough on its own Anvil (a
    fresh process: the story opens its own ape session), every step's invariants holding, and
    what it printed is DIR/story.md."""
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("perpvault")
    out = tmp_path / "story-out"
    done = subprocess.run([str(exe), "demo", "--scenario", "story", "--out", str(out)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    story = (out / "story.md").read_text()
    assert story.count("invariants hold") == 4
    assert "ADL" in story and "what each layer absorbed" in story
    # The file is the transcript: every line printed before the last ("wrote ...") is in it.
    printed = [line for line in done.stdout.splitlines() if line.strip()]
    assert printed[-1] == f"wrote {out / 'story.md'}"
    assert all(line in story for line in printed[:-1])
    assert not (tmp_path / "out").exists()


def test_plot__the_funds_low_in_the_report_is_on_the_plotted_curve(tmp_path):
    """The fund falls during a step's liquidations and the keeper's sweep refills it: the curve
    plotted passes through each step's low, so the report's low (whale: 0) is a point of it."""
    from perpvault.replay.report import fund_curve

    r = replay.run(build("whale"), tmp_path, progress=False, chain=False)
    xs, ys = fund_curve(r)
    low = r["insurance_fund"]
    assert (low["low_step"], low["low"]) in set(zip(xs, ys, strict=True))
    assert min(ys) == low["low"] == 0
    # Step ends alone miss it: the sweep after the step put penalties back.
    assert min(s["fund"] for s in r["steps"]) > low["low"]
    assert (tmp_path / "waterfall.png").stat().st_size > 10_000
