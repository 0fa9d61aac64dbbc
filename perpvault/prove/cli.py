"""``perpvault prove [--json]``: run every z3 check and every planted mutant, print a table.

Exit status 1 if any real check is not proved (a counterexample, a timeout or an error: a
TIMEOUT is a failure, not a pass) or any mutant is not reported as a counterexample by the
check that must catch it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prove",
        help="z3 proofs of the invariants over the model's transitions, and the mutants they catch",
    )
    p.add_argument("--json", action="store_true", help="print the results as a JSON list last")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per check (default 60)")
    p.add_argument("--jobs", type=int, default=2, help="parallel solver processes (default 2)")
    p.add_argument("--no-mutants", action="store_true", help="skip the planted mutants")
    p.add_argument("-k", dest="select", default=None, help="only checks whose name contains this")
    p.set_defaults(func=run)


def _task(name: str, mutant: str | None, timeout: float) -> dict:
    from perpvault.prove.checks import BY_NAME, run_check

    return run_check(BY_NAME[name], mutant, timeout).as_dict()


def plan(select: str | None, mutants: bool) -> list[tuple[str, str | None]]:
    from perpvault.prove.checks import CHECKS, MUTANTS

    tasks: list[tuple[str, str | None]] = [
        (c.name, None) for c in CHECKS if select is None or select in c.name
    ]
    if mutants:
        for mutant, (_, names) in MUTANTS.items():
            for name in names:
                if select is None or select in name or select in mutant:
                    tasks.append((name, mutant))
    return tasks


def verdict(row: dict) -> tuple[str, bool]:
    """(shown result, passed): a real check passes when proved, a mutant when caught."""
    if row.get("mutant"):
        caught = row["result"] == "counterexample"
        return ("caught" if caught else f"MISSED ({row['result']})"), caught
    ok = row["result"] == "proved"
    return (row["result"] if ok else row["result"].upper()), ok


def run_tasks(tasks: list[tuple[str, str | None]], timeout: float, jobs: int,
              progress=None) -> list[dict]:
    rows: list[dict | None] = [None] * len(tasks)
    if jobs <= 1:
        for i, (name, mutant) in enumerate(tasks):
            rows[i] = _task(name, mutant, timeout)
            if progress:
                progress(i, rows[i])
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(_task, name, mutant, timeout): i
                       for i, (name, mutant) in enumerate(tasks)}
            for fut in as_completed(futures):
                i = futures[fut]
                rows[i] = fut.result()
                if progress:
                    progress(i, rows[i])
    return [r for r in rows if r is not None]


def run(args: argparse.Namespace) -> int:
    tasks = plan(args.select, not args.no_mutants)
    if not tasks:
        print("perpvault prove: no check matches", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    done = 0

    def progress(i: int, row: dict) -> None:
        nonlocal done
        done += 1
        shown, ok = verdict(row)
        label = row["check"] + (f"  <- mutant {row['mutant']}" if row.get("mutant") else "")
        print(f"[{done:3d}/{len(tasks)}] {label:60s} {shown:14s} {row['seconds']:7.2f}s",
              file=sys.stderr, flush=True)

    rows = run_tasks(tasks, args.timeout, args.jobs, progress)
    wall = time.perf_counter() - t0

    width = max(len(_label(r)) for r in rows)
    print(f"{'check':{width}s}  {'tool':4s}  {'result':14s}  {'seconds':>8s}")
    print("-" * (width + 34))
    failed = 0
    for r in rows:
        shown, ok = verdict(r)
        failed += not ok
        print(f"{_label(r):{width}s}  {r['tool']:4s}  {shown:14s}  {r['seconds']:8.2f}")
    proofs = [r for r in rows if not r.get("mutant")]
    muts = [r for r in rows if r.get("mutant")]
    print("-" * (width + 34))
    print(
        f"{sum(verdict(r)[1] for r in proofs)}/{len(proofs)} proved, "
        f"{sum(verdict(r)[1] for r in muts)}/{len(muts)} mutant checks caught, "
        f"solver time {sum(r['seconds'] for r in rows):.1f}s, wall {wall:.1f}s "
        f"({args.jobs} job{'s' if args.jobs != 1 else ''})"
    )
    if args.json:
        print(json.dumps(rows, indent=1))
    return 1 if failed else 0


def _label(r: dict) -> str:
    return r["check"] + (f" [mutant {r['mutant']}]" if r.get("mutant") else "")
