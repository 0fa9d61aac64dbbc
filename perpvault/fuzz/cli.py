"""``perpvault fuzz``: a differential fuzzing campaign.

    perpvault fuzz --steps 100000 --seed 1 --workers 4
    perpvault fuzz --steps 10000 --mutant adl_overshoot --json

Exit 0 with no violation, 1 with one (the violated invariants, the shrunk sequence and a
ready-to-paste regression test are printed). ``--json`` prints
``{"steps":..., "steps_per_s":..., "violations":...}`` as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from perpvault.cliargs import positive_int, progress_enabled, usage_error


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fuzz",
                       help="differential fuzzing: contracts on Anvil vs the reference model, I1-I10 every step",
                       description="A differential fuzzing campaign: Hypothesis's state machine drives the "
                                   "contracts on Anvil and the reference model with the same random actions and "
                                   "checks, after every step, that every balance agrees and I1-I10 hold. Exit 0 "
                                   "with no violation, 1 with one (the shrunk sequence and a regression test are "
                                   "printed).")
    p.add_argument("--steps", type=positive_int, default=10_000, help="checked steps in total, >= 1 (default 10,000)")
    p.add_argument("--seed", type=int, default=0, help="Hypothesis seed of worker 0 (worker i uses seed + i)")
    p.add_argument("--workers", type=positive_int, default=1,
                   help="processes, one Anvil each, >= 1 (default 1; at most the number of cores)")
    p.add_argument("--json", action="store_true", help='print {"steps", "steps_per_s", "violations"} last')
    p.add_argument("--mutant", default=None, help="run against a deliberately broken contract (see --list-mutants)")
    p.add_argument("--list-mutants", action="store_true", help="list the mutants and exit")
    p.add_argument("--no-shrink", action="store_true", help="report the first failure unshrunk (faster)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from perpvault.fuzz.mutants import MUTANTS

    if args.list_mutants:
        for m in MUTANTS.values():
            print(f"{m.name:26s} {m.what}")
        return 0
    if args.mutant and args.mutant not in MUTANTS:
        usage_error("perpvault fuzz", f"unknown mutant {args.mutant!r}; one of: {', '.join(MUTANTS)}")
    from tqdm import tqdm

    from perpvault.fuzz.campaign import run_campaign
    from perpvault.fuzz.machine import PerpMachine

    total_rules = sum(1 for name in dir(PerpMachine) if hasattr(getattr(PerpMachine, name), "hypothesis_stateful_rule"))
    workers = max(1, min(args.workers, os.cpu_count() or 1))
    bar = tqdm(total=args.steps, unit="step", file=sys.stderr, dynamic_ncols=True, disable=not progress_enabled(),
               desc=f"fuzz{' ' + args.mutant if args.mutant else ''}")
    start = time.perf_counter()

    def progress(steps: int, checks: int, rules: set[str]) -> None:
        bar.n = min(steps, args.steps)
        elapsed = time.perf_counter() - start
        bar.set_postfix_str(f"{steps / elapsed if elapsed else 0:.0f} steps/s, {checks} checks, "
                            f"rules {len(rules)}/{total_rules}", refresh=False)
        bar.refresh()

    results = run_campaign(args.steps, args.seed, workers, args.mutant, shrink=not args.no_shrink,
                           on_progress=progress)
    bar.close()
    wall = time.perf_counter() - start
    steps = sum(r["steps"] for r in results)
    checks = sum(r["checks"] for r in results)
    failed = [r for r in results if r["violations"]]
    rules: dict[str, int] = {}
    for r in results:
        for k, v in r["rules"].items():
            rules[k] = rules.get(k, 0) + v
    print(f"{steps} steps, {checks} invariant checks in {wall:.1f} s ({steps / wall:.0f} steps/s over "
          f"{workers} worker{'s' if workers > 1 else ''}, {sum(r['steps_per_s'] for r in results) / len(results):.0f}"
          f" steps/s per worker)")
    print("rule coverage: " + ", ".join(f"{k} {v}" for k, v in sorted(rules.items())))
    events: dict[str, int] = {}
    for r in results:
        for k, v in r["events"].items():
            events[k] = events.get(k, 0) + v
    print("waterfall events: " + (", ".join(f"{k} {v}" for k, v in sorted(events.items())) or "none"))
    restarts = [line for r in results for line in r.get("restarts", [])]
    if restarts:
        print(f"anvil restarts: {len(restarts)} (a worker's node died; it was replaced and the campaign resumed)")
    for r in failed:
        print(f"\nVIOLATION (seed {r['seed']}{', mutant ' + r['mutant'] if r['mutant'] else ''}, "
              f"first seen after {r['steps_to_failure']} steps): {', '.join(r['violated'])}")
        for line in r["violations"][:20]:
            print(f"  {line}")
        if r["sequence"]:
            print("\nshrunk sequence:\n" + r["sequence"])
        if r["regression"]:
            print("\nregression test (paste into tests/fuzz/test_regressions.py):\n\n" + r["regression"])
    if args.json:
        print(json.dumps({
            "steps": steps,
            "steps_per_s": round(steps / wall, 1) if wall else 0.0,
            "restarts": len(restarts),
            "violations": [{"seed": r["seed"], "invariants": r["violated"], "lines": r["violations"][:20],
                            "steps_to_failure": r["steps_to_failure"]} for r in failed],
        }))
    return 1 if failed else 0
