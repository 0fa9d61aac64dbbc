"""Run the differential state machine as a campaign: N steps, a seed, W workers (one Anvil each).

:func:`run_worker` runs Hypothesis on :class:`~perpvault.fuzz.machine.PerpMachine` in this
process; :func:`run_campaign` spreads the steps over worker processes and merges their
results. A failing worker reports the violated invariants and Hypothesis' shrunk sequence,
rendered as a regression test by :func:`perpvault.fuzz.machine.regression_test`.

Fault tolerance: a worker's Anvil that dies (killed, crashed, or replaced on its port) makes
the next JSON-RPC call raise :class:`~perpvault.chain.rpc.NodeUnreachable`. The worker then
says so on stderr, starts a fresh Anvil, redeploys, re-runs the set-up (a new
:class:`~perpvault.fuzz.machine.Harness`) and carries on with the steps still to do; the
interrupted example is dropped (its checked steps still count). After
:data:`MAX_RESTARTS` restarts the worker gives up and reports an error.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

STEP_COUNT = 50  # Hypothesis stateful_step_count: steps per example (one evm_revert each)
STEPS_PER_EXAMPLE = 40  # measured average (examples end early at random), to size max_examples
MAX_RESTARTS = 5  # fresh Anvils per worker before giving up


@dataclass
class Result:
    seed: int
    mutant: str | None
    steps: int = 0
    checks: int = 0
    examples: int = 0
    seconds: float = 0.0
    rules: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)  # waterfall events on chain
    violations: list[str] = field(default_factory=list)  # the first failure's lines
    violated: list[str] = field(default_factory=list)  # its invariant ids
    steps_to_failure: int | None = None
    sequence: str = ""  # Hypothesis' shrunk falsifying example
    regression: str = ""
    error: str = ""
    restarts: list[str] = field(
        default_factory=list
    )  # one line per Anvil that died and was replaced

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds if self.seconds else 0.0


def run_worker(
    steps: int,
    seed: int,
    mutant: str | None = None,
    *,
    shrink: bool = True,
    on_progress: Callable[[int, int, set[str]], None] | None = None,
    progress_every: int = 25,
    backend: str = "raw",
) -> Result:
    """One process, one Anvil: run about `steps` checked steps (or until the first failure).

    `backend` "ape" drives the same machine through ape's contract objects (the bench's
    baseline; see perpvault.chain.ape_driver).
    """
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis import seed as hseed
    from hypothesis.stateful import run_state_machine_as_test

    from perpvault.chain.rpc import NodeUnreachable
    from perpvault.fuzz import machine as M

    result = Result(seed, mutant)
    harness = M.Harness(mutant, backend=backend)
    M.set_harness(harness)
    M.STATS.__init__()  # type: ignore[misc]
    last = [0]

    def tick() -> None:
        if on_progress and M.STATS.steps - last[0] >= progress_every:
            last[0] = M.STATS.steps
            on_progress(M.STATS.steps, M.STATS.checks, set(M.STATS.rules))

    M.STATS.on_step = tick
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if shrink else [])

    def cfg(remaining: int) -> Any:
        return settings(
            max_examples=max(1, math.ceil(remaining / STEPS_PER_EXAMPLE)),
            stateful_step_count=STEP_COUNT,
            deadline=None,
            database=None,
            phases=phases,
            suppress_health_check=list(HealthCheck),
            print_blob=False,
            report_multiple_bugs=False,
        )

    start = time.perf_counter()
    try:
        rounds = 0
        while M.STATS.steps < steps:  # Hypothesis ends examples early at random: top up to `steps`
            try:
                run_state_machine_as_test(
                    hseed(seed * 1_000 + rounds)(M.PerpMachine), settings=cfg(steps - M.STATS.steps)
                )
            except NodeUnreachable as e:
                if len(result.restarts) >= MAX_RESTARTS:
                    raise RuntimeError(
                        f"anvil died {len(result.restarts) + 1} times; giving up: {e}"
                    ) from None
                harness = _restart(harness, mutant, backend, M.STATS.steps, e, result)
            rounds += 1
    except M.Violation as e:
        result.violations, result.violated = e.lines, e.ids
        result.sequence = "\n".join(getattr(e, "__notes__", []))
    except Exception as e:  # noqa: BLE001 - a crash of the harness is a failure too, reported as such
        result.violations, result.violated = [f"ERROR {type(e).__name__}: {e}"], ["ERROR"]
        result.sequence = "\n".join(getattr(e, "__notes__", []))
        result.error = repr(e)
    finally:
        result.seconds = time.perf_counter() - start
        s = M.STATS
        result.steps, result.checks, result.examples = s.steps, s.checks, s.examples
        result.rules, result.outcomes, result.events = (
            dict(s.rules),
            dict(s.outcomes),
            dict(s.events),
        )
        harness.close()
        M.set_harness(None)
    result.steps_to_failure = M.STATS.first_failure
    if result.violations and result.sequence:
        result.regression = M.regression_test(
            result.sequence,
            f"test_regression_seed_{seed}" + (f"_{mutant}" if mutant else ""),
            mutant,
        )
    return result


def _restart(
    harness: Any, mutant: str | None, backend: str, step: int, error: BaseException, result: Result
) -> Any:
    """Replace a harness whose node died: stop what is left of it, start a fresh Anvil,
    redeploy and re-run the set-up."""
    from perpvault.fuzz import machine as M

    port = harness.anvil.port
    try:  # a killed process may still be exiting when its socket is already reset
        harness.anvil.process.wait(timeout=2)
        how = "died"
    except subprocess.TimeoutExpired:
        how = f"stopped answering ({error})"
    try:
        harness.close()
    except Exception:  # noqa: BLE001 - it is dead already; the new one matters
        pass
    fresh = M.Harness(mutant, backend=backend)
    M.set_harness(fresh)
    line = (
        f"anvil on port {port} {how} at step {step}; restarted (port {fresh.anvil.port}), "
        f"redeployed, resuming"
    )
    print(
        "\n" + line, file=sys.stderr, flush=True
    )  # own line: a progress bar may be on the current one
    result.restarts.append(line)
    return fresh


def _worker(args: tuple) -> dict:
    steps, seed, mutant, shrink, queue = args

    def progress(n: int, checks: int, rules: set[str]) -> None:
        queue.put((seed, n, checks, sorted(rules)))

    r = run_worker(steps, seed, mutant, shrink=shrink, on_progress=progress)
    queue.put((seed, r.steps, r.checks, sorted(r.rules)))
    d = asdict(r)
    d["steps_per_s"] = r.steps_per_s
    return d


def run_campaign(
    steps: int,
    seed: int,
    workers: int = 1,
    mutant: str | None = None,
    *,
    shrink: bool = True,
    on_progress: Callable[[int, int, set[str]], None] | None = None,
) -> list[dict]:
    """Split `steps` over `workers` processes (seeds seed, seed+1, ...); one result dict each."""
    if mutant:
        from perpvault.fuzz.mutants import mutant_artifacts

        mutant_artifacts(mutant)  # compile once here, so workers hit the cache
    share = [steps // workers + (1 if i < steps % workers else 0) for i in range(workers)]
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        queue = manager.Queue()
        with ctx.Pool(workers) as pool:
            pending = pool.map_async(
                _worker, [(share[i], seed + i, mutant, shrink, queue) for i in range(workers)]
            )
            seen: dict[int, tuple[int, int, set[str]]] = {}
            while True:
                done = pending.ready()
                while not queue.empty():
                    s, n, c, rules = queue.get()
                    seen[s] = (n, c, set(rules))
                    if on_progress:
                        on_progress(
                            sum(v[0] for v in seen.values()),
                            sum(v[1] for v in seen.values()),
                            set().union(*(v[2] for v in seen.values())),
                        )
                if done:
                    break
                time.sleep(0.2)
            return pending.get()


__all__ = ["Result", "run_campaign", "run_worker"]
