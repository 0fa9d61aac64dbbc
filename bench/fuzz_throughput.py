"""Invariant-checked steps per second of the full differential fuzz machine: raw JSON-RPC vs ape.

The machine is perpvault.fuzz.machine.PerpMachine, the one ``perpvault fuzz`` and
``make test`` run: every rule (deposit, withdraw, signed fills, vault trades, LP deposit and
redeem, donations, oracle steps and crashes, time with funding, liquidation with the keeper's
ADL list, parameter changes, pauses, invalid actions), and after every step the whole book
compared with the reference model (every account's margin, positions, equity and wallet, every
market, the vault's and the fund's balances) and I1-I10. It is driven through
perpvault.fuzz.campaign.run_worker (Hypothesis, fixed seed, one worker), on two chain sides:

- raw: perpvault.chain.driver (one JSON-RPC round trip per transaction, one eth_call reading
  the whole book through StateReader.vy);
- ape: perpvault.chain.ape_driver (the same transactions through ape's contract objects, the
  book read view by view through them).

Runs, in this order:

1. raw, one worker, Python and its Anvil free to use both cores (the CLI's default);
2. raw, Python and its Anvil pinned together to ONE core (``sched_setaffinity``): the
   one-core rate first measured;
3. raw on exactly the steps the ape run takes (same seed, same step budget: Hypothesis
   generates the same sequence), so the ratio compares like with like;
4. ape.

    .venv/bin/python bench/fuzz_throughput.py                     # ~2-3 minutes on an idle machine
    .venv/bin/python bench/fuzz_throughput.py --raw-steps 20000 --ape-steps 0 --profile

Writes bench/results/fuzz_throughput.json and .md.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Run:
    name: str
    backend: str
    steps: int = 0
    seconds: float = 0.0
    examples: int = 0
    violations: list[str] = field(default_factory=list)
    cpus: list[int] = field(default_factory=list)  # the cores Python and Anvil were allowed on
    python_ms_per_step: float | None = None  # CPU time of the worker process
    anvil_ms_per_step: float | None = None  # CPU time of its Anvil
    requests_per_step: float | None = None  # HTTP round trips to Anvil (raw runs)
    rules: dict[str, int] = field(default_factory=dict)
    waterfall: dict[str, int] = field(default_factory=dict)

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds if self.seconds else 0.0

    @property
    def cpu_bound_steps_per_s(self) -> float | None:
        """1 / (Python + Anvil CPU per step): the rate of one core doing nothing else. Less
        sensitive to other load than the wall-clock rate (it still slows caches and clocks)."""
        if self.python_ms_per_step is None or self.anvil_ms_per_step is None:
            return None
        return 1000 / (self.python_ms_per_step + self.anvil_ms_per_step)


def _anvil_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    name: str,
    backend: str,
    steps: int,
    seed: int,
    cpus: set[int] | None = None,
    profile: bool = False,
) -> tuple[Run, str]:
    """One run_worker campaign; CPU and request counts sampled between the first and last progress
    call."""
    from perpvault.fuzz import machine as M
    from perpvault.fuzz.campaign import run_worker

    before = os.sched_getaffinity(0)
    if cpus:
        os.sched_setaffinity(0, cpus)  # Anvil, started by run_worker, inherits it
    samples: list[tuple[int, float, float, int]] = []

    def sample(n: int, checks: int, rules: set[str]) -> None:
        h = M.get_harness()
        if h.anvil.alive:
            requests = h.rpc.requests if h.backend == "raw" else 0
            samples.append((n, time.process_time(), _anvil_cpu(h.anvil.process.pid), requests))

    profiler = cProfile.Profile() if profile else None
    try:
        if profiler:
            profiler.enable()
        result = run_worker(
            steps, seed, shrink=False, on_progress=sample, progress_every=25, backend=backend
        )
    finally:
        if profiler:
            profiler.disable()
        os.sched_setaffinity(0, before)
    run = Run(
        name,
        backend,
        result.steps,
        result.seconds,
        result.examples,
        result.violations,
        sorted(cpus or before),
        rules=dict(sorted(result.rules.items())),
        waterfall=dict(sorted(result.events.items())),
    )
    if result.error:
        run.violations = run.violations or [result.error]
    if len(samples) >= 2 and samples[-1][0] > samples[0][0]:
        (n0, p0, a0, r0), (n1, p1, a1, r1) = samples[0], samples[-1]
        run.python_ms_per_step = 1000 * (p1 - p0) / (n1 - n0)
        run.anvil_ms_per_step = 1000 * (a1 - a0) / (n1 - n0)
        run.requests_per_step = (r1 - r0) / (n1 - n0) if backend == "raw" else None
    report = ""
    if profiler:
        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).sort_stats("tottime").print_stats(30)
        report = buf.getvalue()
    return run, report


def table(runs: list[Run]) -> str:
    def opt(x: float | None, fmt: str) -> str:
        return format(x, fmt) if x is not None else "-"

    lines = [
        "| run | chain side | cores | steps | seconds | checked steps/s | Python CPU ms/step | "
        "Anvil CPU ms/step "
        "| CPU-bound steps/s | RPCs/step | violations |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r.name} | {r.backend} | {','.join(map(str, r.cpus))} | {r.steps} | "
            f"{r.seconds:.2f} | "
            f"**{r.steps_per_s:.1f}** | {opt(r.python_ms_per_step, '.2f')} | "
            f"{opt(r.anvil_ms_per_step, '.2f')} | "
            f"{opt(r.cpu_bound_steps_per_s, '.0f')} | {opt(r.requests_per_step, '.2f')} | "
            f"{len(r.violations)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--raw-steps", type=int, default=5000, help="steps of each long raw run (free, pinned)"
    )
    ap.add_argument(
        "--ape-steps",
        type=int,
        default=60,
        help="step budget of the ape run and its raw twin (Hypothesis rounds up to whole "
        "examples; 0: skip)",
    )
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument(
        "--core", type=int, default=None, help="the core for the pinned run (default: the last one)"
    )
    ap.add_argument(
        "--profile", action="store_true", help="cProfile the free raw run and print the top 30"
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    load_start = os.getloadavg()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    allowed = sorted(os.sched_getaffinity(0))
    core = args.core if args.core is not None else allowed[-1]
    runs: list[Run] = []
    free, profile = measure("raw, free", "raw", args.raw_steps, args.seed, profile=args.profile)
    runs.append(free)
    pinned, _ = measure("raw, one core", "raw", args.raw_steps, args.seed, cpus={core})
    runs.append(pinned)
    ratio = ratio_free = None
    if args.ape_steps:
        twin, _ = measure("raw, ape's steps", "raw", args.ape_steps, args.seed)
        runs.append(twin)
        ape_run, _ = measure("ape", "ape", args.ape_steps, args.seed)
        runs.append(ape_run)
        if ape_run.steps_per_s:
            ratio = twin.steps_per_s / ape_run.steps_per_s
            ratio_free = free.steps_per_s / ape_run.steps_per_s
        if twin.rules != ape_run.rules:
            print(
                f"note: the ape run's rules {ape_run.rules} differ from its raw twin's "
                f"{twin.rules}",
                file=sys.stderr,
            )
    load_end = os.getloadavg()

    text = table(runs)
    summary = [
        f"one core: **{pinned.steps_per_s:.0f}** checked steps/s (goal >= 300; CPU-bound "
        f"{pinned.cpu_bound_steps_per_s or 0:.0f}); free (2 cores, Python and Anvil overlap): "
        f"{free.steps_per_s:.0f}"
    ]
    if ratio is not None:
        summary.append(
            f"raw / ape on the same {runs[-1].steps} steps: **{ratio:.0f}x** (goal >= 40x); "
            f"long free raw run / ape: {ratio_free:.0f}x"
        )
    print(text)
    print()
    print("\n".join(summary))
    print(
        f"load average at start {', '.join(f'{x:.2f}' for x in load_start)}, "
        f"at end {', '.join(f'{x:.2f}' for x in load_end)}"
    )
    for r in runs:
        for v in r.violations[:5]:
            print(f"VIOLATION in {r.name}: {v}")
    if profile:
        print("\n" + profile)

    args.out.mkdir(parents=True, exist_ok=True)
    meta = {
        "seed": args.seed,
        "raw_steps": args.raw_steps,
        "ape_steps": args.ape_steps,
        "pinned_core": core,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_avg_at_start": load_start,
        "load_avg_at_end": load_end,
        "started": started,
        "ended": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    payload = {
        "meta": meta,
        "runs": [
            dict(
                asdict(r), steps_per_s=r.steps_per_s, cpu_bound_steps_per_s=r.cpu_bound_steps_per_s
            )
            for r in runs
        ],
        "one_core_steps_per_s": pinned.steps_per_s,
        "ratio_raw_over_ape": ratio,
        "ratio_long_raw_over_ape": ratio_free,
        "targets": {"one_core_steps_per_s": 300, "ratio": 40},
    }
    (args.out / "fuzz_throughput.json").write_text(json.dumps(payload, indent=2) + "\n")
    md = [
        "# Fuzz throughput: the full differential machine, raw JSON-RPC vs ape",
        "",
        f"`bench/fuzz_throughput.py --raw-steps {args.raw_steps} --ape-steps {args.ape_steps} "
        f"--seed {args.seed}`, "
        f"{started} to {meta['ended']}, {meta['cpus']} CPUs, load average at start "
        f"{', '.join(f'{x:.2f}' for x in load_start)}, "
        f"at end {', '.join(f'{x:.2f}' for x in load_end)}.",
        "",
        "A step is one PerpMachine rule (one or more transactions on chain and in the model), "
        "then the",
        "full comparison of the one-call state read with the model (every account's margin, "
        "positions,",
        "equity and wallet; every market; vault and fund balances) and I1-I10. See "
        "docs/fuzzing.md.",
        "",
        text,
        "",
        *[f"- {s}" for s in summary],
        "",
    ]
    (args.out / "fuzz_throughput.md").write_text("\n".join(md))
    return 1 if any(r.violations for r in runs) else 0


if __name__ == "__main__":
    raise SystemExit(main())
