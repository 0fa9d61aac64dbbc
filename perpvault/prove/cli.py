"""``perpvault prove [--json]``: z3 over the model, halmos on the bytecode, the forge campaign.

Runs every z3 check and z3 mutant (perpvault/prove/checks.py), every halmos check and the
forge invariant campaign (perpvault/prove/formal.py, formal/), then the planted bytecode
mutants against the halmos checks and the campaign that must catch them; prints one table
(check, tool, result, seconds) and with ``--json`` the list of rows last.

Exit status 1 if any real check does not pass (a counterexample, a violated campaign, a
timeout or an error: a TIMEOUT is a failure, not a pass) or any mutant is not reported as a
violation by the check that must catch it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

from perpvault.cliargs import positive_float, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prove",
        help="z3 proofs of the invariants over the model's transitions, and the mutants they catch",
        description="The formal gates: z3 proofs of the invariants over the model's transitions, halmos "
                    "checks on the contracts' bytecode, forge tests; each planted mutant must be caught "
                    "by the check named for it. Prints one line per check and a table (check, tool, "
                    "result, seconds). Exit 0 when every check passes and every mutant is caught.",
    )
    p.add_argument("--json", action="store_true", help="print the results as a JSON list last")
    p.add_argument("--timeout", type=positive_float, default=60.0, help="seconds per check, > 0 (default 60)")
    p.add_argument("--jobs", type=positive_int, default=2, help="parallel solver processes, >= 1 (default 2)")
    p.add_argument("--no-mutants", action="store_true", help="skip the planted mutants")
    p.add_argument("--deep", action="store_true",
                   help="also run the long halmos checks left out of CI (formal.DEEP: three fills and two "
                        "liquidations, minutes each) and their mutants")
    p.add_argument("-k", dest="select", default=None, help="only checks whose name contains this")
    p.add_argument("--tools", default="z3,halmos,forge",
                   help="comma-separated subset of z3, halmos, forge (default: all three)")
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
    """(shown result, passed): a real check passes when proved (a campaign when its invariants
    held), a mutant when a counterexample (a violation) is reported."""
    if row.get("mutant"):
        caught = row["result"] in ("counterexample", "violated")
        return ("caught" if caught else f"MISSED ({row['result']})"), caught
    ok = row["result"] in ("proved", "held")
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
        # A fresh process per check: z3's global context carries the terms of earlier checks,
        # and its non-linear search depends on them (a mutant run that takes 0.1 s alone timed
        # out after 90 s in a worker that had run other checks first).
        with ProcessPoolExecutor(max_workers=jobs, max_tasks_per_child=1) as pool:
            futures = {pool.submit(_task, name, mutant, timeout): i
                       for i, (name, mutant) in enumerate(tasks)}
            for fut in as_completed(futures):
                i = futures[fut]
                rows[i] = fut.result()
                if progress:
                    progress(i, rows[i])
    return [r for r in rows if r is not None]


def run(args: argparse.Namespace) -> int:
    tools = {t.strip() for t in args.tools.split(",") if t.strip()}
    unknown = tools - {"z3", "halmos", "forge"}
    if unknown:
        print(f"perpvault prove: unknown tool(s) {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    tasks = plan(args.select, not args.no_mutants) if "z3" in tools else []
    t0 = time.perf_counter()
    done = 0

    def progress(i: int, row: dict) -> None:
        nonlocal done
        done += 1
        shown, ok = verdict(row)
        label = row["check"] + (f"  <- mutant {row['mutant']}" if row.get("mutant") else "")
        total = f"/{len(tasks)}" if row["tool"] == "z3" else ""
        print(f"[{done:3d}{total}] {row['tool']:6s} {label:60s} {shown:14s} {row['seconds']:7.2f}s",
              file=sys.stderr, flush=True)

    rows = run_tasks(tasks, args.timeout, args.jobs, progress) if tasks else []
    if tools & {"halmos", "forge"}:
        from perpvault.prove import formal

        def status(text: str) -> None:
            print(f"      {text}", file=sys.stderr, flush=True)

        rows += formal.run_all(lambda r: progress(0, r), halmos="halmos" in tools, campaign="forge" in tools,
                               mutants=not args.no_mutants, select=args.select, status=status)
        if args.deep and "halmos" in tools:
            rows += formal.run_deep(lambda r: progress(0, r), status)
    if not rows:
        print("perpvault prove: no check matches", file=sys.stderr)
        return 1
    wall = time.perf_counter() - t0

    width = max(len(_label(r)) for r in rows)
    print(f"{'check':{width}s}  {'tool':6s}  {'result':16s}  {'seconds':>8s}")
    print("-" * (width + 38))
    failed = 0
    for r in rows:
        shown, ok = verdict(r)
        failed += not ok
        print(f"{_label(r):{width}s}  {r['tool']:6s}  {shown:16s}  {r['seconds']:8.2f}")
    proofs = [r for r in rows if not r.get("mutant")]
    muts = [r for r in rows if r.get("mutant")]
    print("-" * (width + 38))
    print(
        f"{sum(verdict(r)[1] for r in proofs)}/{len(proofs)} checks passed, "
        f"{sum(verdict(r)[1] for r in muts)}/{len(muts)} mutant checks caught, "
        f"solver time {sum(r['seconds'] for r in rows):.1f}s, wall {wall:.1f}s "
        f"({args.jobs} job{'s' if args.jobs != 1 else ''})"
    )
    if args.json:
        print(json.dumps(rows, indent=1))
    return 1 if failed else 0


def _label(r: dict) -> str:
    return r["check"] + (f" [mutant {r['mutant']}]" if r.get("mutant") else "")
