"""The ``perpvault`` command fails kindly: a bad argument gets one line saying what is wrong and
what is allowed, exit code 2, and nothing is written; every subcommand explains itself in
``--help``; progress bars stay off when nobody is watching; the gas bench writes to a scratch
folder unless told otherwise and fails on a missed target only when asked to."""

from __future__ import annotations

import io
import subprocess
import sys
from itertools import takewhile
from pathlib import Path

import pytest

from perpvault import bench
from perpvault.cli import build_parser, main
from perpvault.cliargs import USAGE_ERROR, progress_enabled

BAD = [
    # (arguments, what the one line must say)
    (["demo", "--scenario", "nope"], "invalid choice: 'nope' (choose from 'oct10', 'whale', 'grind', 'story')"),
    (["demo", "--traders", "0"], "--traders: expected a whole number >= 1, got 0"),
    (["demo", "--traders", "-5"], "--traders: expected a whole number >= 1, got -5"),
    (["demo", "--traders", "many"], "--traders: expected a whole number >= 1, got 'many'"),
    (["demo", "--scenario", "whale", "--traders", "10"], "--traders applies to oct10 only, not whale"),
    (["demo", "--network", "ethereum:staging:node"], "--network needs --dry-run"),
    (["demo", "--dry-run", "--network", "nope:nowhere:none"], "unknown network 'nope:nowhere:none'"),
    (["demo", "--dry-run", "--network", "ethereum:nowhere:node"], "Options: holesky"),
    (["fuzz", "--steps", "0"], "--steps: expected a whole number >= 1, got 0"),
    (["fuzz", "--steps", "-5"], "--steps: expected a whole number >= 1, got -5"),
    (["fuzz", "--workers", "0"], "--workers: expected a whole number >= 1, got 0"),
    (["fuzz", "--mutant", "nope"], "unknown mutant 'nope'; one of: adl_overshoot"),
    (["prove", "--jobs", "0"], "--jobs: expected a whole number >= 1, got 0"),
    (["prove", "--timeout", "-1"], "--timeout: expected a number of seconds > 0, got -1"),
    (["keeper", "--clearinghouse", "0x1", "--fund", "0x2", "--sender", "0x3", "--rounds", "0"],
     "--rounds: expected a whole number >= 1, got 0"),
    (["keeper", "--clearinghouse", "0x1", "--fund", "0x2", "--sender", "0x3", "--interval", "0"],
     "--interval: expected a number of seconds > 0, got 0"),
    (["bench", "gas", "--update", "--no-write"], "not allowed with argument --update"),
    (["nonsense"], "invalid choice: 'nonsense'"),
]


@pytest.mark.parametrize("argv, says", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_argument__one_line_exit_2_nothing_written(argv, says, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == USAGE_ERROR
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    words = list(takewhile(lambda w: not w.startswith("-") and w != "nonsense", argv))
    assert lines[0].startswith(" ".join(["perpvault", *words]) + ": error: "), lines[0]
    assert says in lines[0]
    assert captured.out == ""
    assert list(tmp_path.iterdir()) == []


def test_bad_argument__from_the_shell_too(tmp_path):
    """The installed command: the same one line and exit code 2, no traceback."""
    exe = Path(sys.executable).with_name("perpvault")
    done = subprocess.run([str(exe), "demo", "--traders", "-5"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == "perpvault demo: error: argument --traders: expected a whole number >= 1, got -5"
    assert list(tmp_path.iterdir()) == []


def _subcommands(parser):
    for action in parser._subparsers._group_actions:
        yield from action.choices.items()


def test_every_subcommand_has_a_description_in_help():
    parser = build_parser()
    names = []
    for name, sub in _subcommands(parser):
        names.append(name)
        assert sub.description and len(sub.description) > 40, name
        if sub._subparsers is not None:
            for inner, subsub in _subcommands(sub):
                assert subsub.description and len(subsub.description) > 40, f"{name} {inner}"
    assert names == ["demo", "fuzz", "prove", "bench", "keeper", "node", "adl-rank"]


def test_bench_alone_prints_benchs_help(capsys):
    assert main(["bench"]) == 2
    out = capsys.readouterr().out
    assert out.startswith("usage: perpvault bench") and "gas" in out


def test_progress_bars_only_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert progress_enabled(stream=io.StringIO()) is False
    assert progress_enabled(stream=Tty()) is True
    assert progress_enabled(quiet=True, stream=Tty()) is False


def _fake_bench(missed: bool):
    def run_gas(out, *, scaling, write):
        run_gas.out, run_gas.write = out, write
        return {"targets": [{"target": "fill <= 150k", "op": "fill_new", "met": not missed}],
                "scaling": [{"op": "fill_new", "met": True}]}
    return run_gas


@pytest.mark.parametrize("argv, where", [
    (["bench", "gas"], bench.SCRATCH),
    (["bench", "gas", "--update"], bench.RESULTS),
    (["bench", "gas", "--out", "elsewhere"], Path("elsewhere")),
    (["bench", "gas", "--no-write"], None),
])
def test_bench_gas__writes_to_scratch_unless_told(argv, where, monkeypatch):
    fake = _fake_bench(missed=False)
    monkeypatch.setattr(bench, "run_gas", fake)
    assert main(argv) == 0
    assert fake.out == where and fake.write == (where is not None)


def test_bench_gas_script__writes_the_committed_results(monkeypatch):
    fake = _fake_bench(missed=False)
    monkeypatch.setattr(bench, "run_gas", fake)
    assert bench.main([]) == 0
    assert fake.out == bench.RESULTS


def test_bench_gas__a_missed_target_fails_only_with_check(monkeypatch, capsys):
    monkeypatch.setattr(bench, "run_gas", _fake_bench(missed=True))
    assert main(["bench", "gas", "--no-write"]) == 0
    assert main(["bench", "gas", "--no-write", "--check"]) == 1
    assert "missed: fill <= 150k: fill_new" in capsys.readouterr().err
    monkeypatch.setattr(bench, "run_gas", _fake_bench(missed=False))
    assert main(["bench", "gas", "--no-write", "--check"]) == 0
