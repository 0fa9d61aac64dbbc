"""Invariant-checked fuzz steps per second: raw JSON-RPC driver vs ape contract objects.

One seeded random action loop (deposits, signed-order fills between random pairs at
prices within the band, vault trades, small oracle moves, time passing with an oracle
heartbeat, settle_funding, withdrawals that may revert, liquidation attempts, sweeps)
runs twice on identically flagged Anvils:

- raw: perpvault.fuzz (one eth_sendTransactionSync per action, one eth_call reading the
  whole book through StateReader.vy);
- ape: perpvault.chain.deploy + perpvault.chain.actions helpers + ape contract objects,
  the book read view by view (perpvault.fuzz.state.read_state_ape).

After every step both read the full state and check I1, I2 (exact) and I5 on that read.
Every `--episode` steps the chain is reverted to the post-setup snapshot (evm_revert),
which keeps it short (Anvil slows down as blocks accumulate) and mirrors one Hypothesis
example per episode.

    .venv/bin/python bench/fuzz_throughput.py                 # defaults: 5000 raw, 100 ape steps, episodes of 50
    .venv/bin/python bench/fuzz_throughput.py --raw-steps 10000 --ape-steps 0 --profile

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
import random
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from perpvault.chain.deploy import DEFAULT_MARKETS
from perpvault.fuzz.rpc import AnvilProcess, TxReverted, start_anvil
from perpvault.fuzz.state import ChainState, check_invariants
from perpvault.units import PPM, USDC

RESULTS = Path(__file__).resolve().parent / "results"
ANVIL_FLAGS = ("--prune-history",)

# Roles by dev-account index (ape's test accounts are the same addresses).
OWNER, UPDATER, KEEPER, LP = 0, 1, 2, 3
TRADERS = range(4, 10)

SETUP_WALLET = 10_000_000 * USDC
SETUP_MARGIN = 50_000 * USDC
SETUP_LP = 2_000_000 * USDC
SETUP_DONATION = 100_000 * USDC
HEARTBEAT = 1_800  # re-post prices this often (the feed goes stale after ORACLE_MAX_AGE)


# --- the action sequence (state-independent, so both paths run exactly the same one) ------------


@dataclass(frozen=True)
class Action:
    kind: str
    args: tuple


def episode_actions(rng: random.Random, steps: int) -> list[Action]:
    """One episode from the post-setup state: a heartbeat, then `steps - 1` random actions.

    The generator tracks only what it decides itself (oracle prices, the clock since the
    last heartbeat), never chain state, so the raw and ape paths get identical actions.
    """
    prices = [m.initial_price for m in DEFAULT_MARKETS]
    since_heartbeat = 0
    out = [Action("heartbeat", (tuple(prices),))]
    kinds = ["deposit", "fill", "vault_trade", "oracle", "time", "settle", "withdraw", "liquidate", "sweep"]
    weights = [12, 30, 15, 10, 10, 8, 10, 3, 2]
    while len(out) < steps:
        kind = rng.choices(kinds, weights)[0]
        trader = rng.choice(TRADERS)
        market = rng.randrange(len(prices))
        oracle = prices[market]
        if kind == "deposit":
            out.append(Action(kind, (trader, rng.randint(100, 20_000) * USDC)))
        elif kind == "fill":
            maker, taker = rng.sample(list(TRADERS), 2)
            band = DEFAULT_MARKETS[market].price_band
            price = oracle * (PPM + rng.randint(-band * 4 // 5, band * 4 // 5)) // PPM
            notional = rng.randint(200, 40_000) * USDC
            size = notional * 10**30 // price * rng.choice((1, -1))
            out.append(Action(kind, (maker, taker, market, size, price, rng.getrandbits(64), rng.getrandbits(64))))
        elif kind == "vault_trade":
            notional = rng.randint(200, 20_000) * USDC
            size = notional * 10**30 // oracle * rng.choice((1, -1))
            limit = oracle * 105 // 100 if size > 0 else oracle * 95 // 100
            out.append(Action(kind, (trader, market, size, limit)))
        elif kind == "oracle":
            prices[market] = oracle * (PPM + rng.randint(-5_000, 5_000)) // PPM  # +-0.5%
            out.append(Action(kind, (market, prices[market])))
        elif kind == "time":
            dt = rng.randint(30, 900)
            since_heartbeat += dt
            refresh = since_heartbeat >= HEARTBEAT
            if refresh:
                since_heartbeat = 0
            out.append(Action(kind, (dt, tuple(prices) if refresh else ())))
        elif kind == "settle":
            out.append(Action(kind, (trader,)))
        elif kind == "withdraw":
            out.append(Action(kind, (trader, rng.randint(100, 60_000) * USDC)))
        elif kind == "liquidate":
            out.append(Action(kind, (trader,)))
        else:
            out.append(Action(kind, ()))
    return out


# --- the two drivers ---------------------------------------------------------------------------


class Driver(Protocol):
    """What `run` needs from a path: RawPath and ApePath implement it."""

    name: str
    reverted: type[Exception]  # the exception a reverted transaction raises

    def setup(self) -> None: ...
    def snapshot(self) -> Any: ...
    def revert(self, snapshot_id: Any) -> None: ...
    def apply(self, action: Action) -> None: ...  # raises `reverted` when the transaction reverts
    def read(self) -> ChainState: ...
    def revert_reason(self, error: Exception) -> str: ...


class RawPath:
    """perpvault.fuzz: one RPC per transaction, one eth_call per state read."""

    name = "raw"

    def __init__(self, anvil: AnvilProcess, tx_mode: str = "sync"):
        from perpvault.fuzz.driver import open_raw

        self.driver, _ = open_raw(anvil, tx_mode=tx_mode)
        self.addr = [a.address for a in self.driver.accounts]
        self.reverted: type[Exception] = TxReverted

    def setup(self) -> None:
        d, a, s = self.driver, self.addr, self.driver.system
        for t in TRADERS:
            d.mint(a[t], SETUP_WALLET)
            d.approve(a[t], s.clearinghouse)
            d.deposit(a[t], SETUP_MARGIN)
        d.mint(a[LP], SETUP_WALLET)
        d.approve(a[LP], s.vault)
        d.vault_deposit(a[LP], SETUP_LP)
        d.mint(a[OWNER], SETUP_DONATION)
        d.approve(a[OWNER], s.fund)
        d.donate(a[OWNER], SETUP_DONATION)

    def snapshot(self) -> str:
        return self.driver.snapshot()

    def revert(self, snapshot_id: str) -> None:
        self.driver.revert(snapshot_id)

    def apply(self, action: Action) -> None:
        d, a = self.driver, self.addr
        k, args = action.kind, action.args
        if k == "heartbeat":
            for m, p in enumerate(args[0]):
                d.set_price(m, p)
        elif k == "deposit":
            d.deposit(a[args[0]], args[1])
        elif k == "fill":
            maker, taker, market, size, price, n1, n2 = args
            d.fill(a[maker], a[taker], market, size, price, nonces=(n1, n2))
        elif k == "vault_trade":
            d.vault_trade(a[args[0]], *args[1:])
        elif k == "oracle":
            d.set_price(*args)
        elif k == "time":
            d.advance_time(args[0])
            for m, p in enumerate(args[1]):
                d.set_price(m, p)
        elif k == "settle":
            d.settle_funding(a[KEEPER], a[args[0]])
        elif k == "withdraw":
            d.withdraw(a[args[0]], args[1])
        elif k == "liquidate":
            d.liquidate(a[KEEPER], a[args[0]])
        elif k == "sweep":
            d.sweep_to_insurance(a[KEEPER])
        else:
            raise ValueError(k)

    def read(self) -> ChainState:
        return self.driver.read()

    def revert_reason(self, error: Exception) -> str:
        return error.reason  # type: ignore[attr-defined]


class ApePath:
    """ape contract objects on the same kind of Anvil, attached through APE_FOUNDRY_HOST."""

    name = "ape"

    def __init__(self, anvil: AnvilProcess):
        from perpvault.paths import ensure_tool_path, repo_root

        ensure_tool_path()
        os.environ["APE_FOUNDRY_HOST"] = anvil.url
        os.chdir(repo_root())
        import ape
        from ape.exceptions import ContractLogicError
        from ape.logging import logger

        logger.set_level("WARNING")  # no per-transaction INFO lines: keeps the output readable (and ape a bit faster)
        self.ape = ape
        self._ctx = ape.networks.parse_network_choice("ethereum:local:foundry")
        self._ctx.__enter__()
        self.chain = ape.chain
        self.accounts = list(ape.accounts.test_accounts)[:10]
        self.reverted: type[Exception] = ContractLogicError
        from perpvault.chain import deploy

        self.system = deploy(self.accounts[OWNER], self.accounts[UPDATER])

    def close(self) -> None:
        self._ctx.__exit__(None, None, None)

    def setup(self) -> None:
        from perpvault.chain.actions import fund_account

        s, acc = self.system, self.accounts
        for t in TRADERS:
            fund_account(s, acc[t], SETUP_WALLET, deposit=False)
            s.clearinghouse.deposit(SETUP_MARGIN, sender=acc[t])
        s.usdc.mint(acc[LP], SETUP_WALLET, sender=s.owner)
        s.usdc.approve(s.vault, 2**256 - 1, sender=acc[LP])
        s.vault.deposit(SETUP_LP, acc[LP], sender=acc[LP])
        s.usdc.mint(acc[OWNER], SETUP_DONATION, sender=s.owner)
        s.usdc.approve(s.fund, 2**256 - 1, sender=acc[OWNER])
        s.fund.donate(SETUP_DONATION, sender=acc[OWNER])

    def snapshot(self) -> Any:
        return self.chain.snapshot()

    def revert(self, snapshot_id: Any) -> None:
        self.chain.restore(snapshot_id)

    def apply(self, action: Action) -> None:
        from perpvault.chain.actions import set_price, trade

        s, acc = self.system, self.accounts
        k, args = action.kind, action.args
        if k == "heartbeat":
            for m, p in enumerate(args[0]):
                set_price(s, m, p)
        elif k == "deposit":
            s.clearinghouse.deposit(args[1], sender=acc[args[0]])
        elif k == "fill":
            maker, taker, market, size, price, _, _ = args
            trade(s, acc[maker], acc[taker], market, size, price, chain=self.chain)
        elif k == "vault_trade":
            s.vault.trade(*args[1:], sender=acc[args[0]])
        elif k == "oracle":
            set_price(s, *args)
        elif k == "time":
            self.chain.pending_timestamp += args[0]
            for m, p in enumerate(args[1]):
                set_price(s, m, p)
        elif k == "settle":
            s.clearinghouse.settle_funding(acc[args[0]], sender=acc[KEEPER])
        elif k == "withdraw":
            s.clearinghouse.withdraw(args[1], sender=acc[args[0]])
        elif k == "liquidate":
            s.clearinghouse.liquidate(acc[args[0]], [], sender=acc[KEEPER])
        elif k == "sweep":
            s.clearinghouse.sweep_to_insurance(sender=acc[KEEPER])
        else:
            raise ValueError(k)

    def read(self) -> ChainState:
        from perpvault.fuzz.state import read_state_ape

        return read_state_ape(self.system, extra=self.accounts)

    def revert_reason(self, error: Exception) -> str:
        return str(getattr(error, "revert_message", None) or error.message)  # type: ignore[attr-defined]


# --- the loop ----------------------------------------------------------------------------------


@dataclass
class Run:
    path: str
    steps: int = 0
    seconds: float = 0.0
    action_seconds: float = 0.0
    read_seconds: float = 0.0
    check_seconds: float = 0.0
    revert_seconds: float = 0.0
    episodes: int = 0
    invariant_checks: int = 0
    violations: list[str] = field(default_factory=list)
    reverts: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)
    rpc_requests: int | None = None
    resent: int | None = None  # transactions Anvil dropped and the raw client re-sent

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds if self.seconds else 0.0


def run(driver: Driver, steps: int, seed: int, episode: int) -> Run:
    """Drive `steps` actions in episodes of `episode`, reading and checking after each one."""
    rng = random.Random(seed)
    result = Run(driver.name)
    reverts: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    clock = time.perf_counter
    base = driver.snapshot()
    start = clock()
    while result.steps < steps:
        for action in episode_actions(rng, min(episode, steps - result.steps)):
            t0 = clock()
            try:
                driver.apply(action)
            except driver.reverted as e:  # expected for some actions; the reason is kept, not swallowed
                reverts[f"{action.kind}: {driver.revert_reason(e)}"] += 1
            t1 = clock()
            state = driver.read()
            t2 = clock()
            bad = check_invariants(state)
            t3 = clock()
            if bad:
                result.violations += [f"step {result.steps} {action}: {v}" for v in bad]
            kinds[action.kind] += 1
            result.steps += 1
            result.invariant_checks += 1
            result.action_seconds += t1 - t0
            result.read_seconds += t2 - t1
            result.check_seconds += t3 - t2
        t4 = clock()
        driver.revert(base)  # back to the post-setup state: the chain stays short
        base = driver.snapshot()
        result.revert_seconds += clock() - t4
        result.episodes += 1
    result.seconds = clock() - start
    result.reverts = dict(reverts.most_common())
    result.kinds = dict(sorted(kinds.items()))
    return result


def measure(path_cls: type, steps: int, seed: int, episode: int, profile: bool,
            anvil_flags: tuple[str, ...] = ANVIL_FLAGS, **path_kwargs: Any) -> tuple[Run, str]:
    with start_anvil(extra_args=anvil_flags) as anvil:
        driver = path_cls(anvil, **path_kwargs)
        try:
            driver.setup()
            rpc = driver.driver.rpc if isinstance(driver, RawPath) else None  # counts HTTP round trips
            before = rpc.requests if rpc else None
            profiler = cProfile.Profile() if profile else None
            if profiler:
                profiler.enable()
            result = run(driver, steps, seed, episode)
            report = ""
            if profiler:
                profiler.disable()
                buf = io.StringIO()
                pstats.Stats(profiler, stream=buf).sort_stats("cumulative").print_stats(25)
                report = buf.getvalue()
            if rpc is not None and before is not None:
                result.rpc_requests = rpc.requests - before
                result.resent = rpc.resent
            return result, report
        finally:
            if hasattr(driver, "close"):
                driver.close()


def table(runs: list[Run], ratio: float | None) -> str:
    lines = [
        "| path | steps | seconds | steps/s | ratio | action ms/step | read ms/step | check ms/step | violations |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    raw_rate = next((r.steps_per_s for r in runs if r.path == "raw"), None)
    for r in runs:
        rel = (raw_rate / r.steps_per_s) if (raw_rate and r.steps_per_s) else None
        per = (lambda x: 1000 * x / r.steps) if r.steps else (lambda x: 0.0)
        lines.append(
            f"| {r.path} | {r.steps} | {r.seconds:.2f} | {r.steps_per_s:.1f} | "
            f"{'1.0' if r.path == 'raw' else (f'{rel:.1f}x slower' if rel else '-')} | "
            f"{per(r.action_seconds):.2f} | {per(r.read_seconds):.2f} | {per(r.check_seconds):.3f} | {len(r.violations)} |"
        )
    for r in runs:
        if r.rpc_requests:
            lines.append(f"\n{r.path}: {r.rpc_requests} HTTP requests for {r.steps} steps "
                         f"({r.rpc_requests / r.steps:.2f} per step, {r.episodes} snapshot/revert episodes, "
                         f"{r.resent} dropped transactions re-sent)")
    if ratio is not None:
        lines.append(f"\nraw / ape = **{ratio:.1f}x** (goal >= 40x); raw rate goal >= 300 steps/s")
        raw_run = next(r for r in runs if r.path == "raw")
        ape_run = next(r for r in runs if r.path == "ape")
        for label, attr in (("actions only", "action_seconds"), ("state read only", "read_seconds")):
            a = getattr(ape_run, attr) / ape_run.steps
            b = getattr(raw_run, attr) / raw_run.steps
            lines.append(f"- {label}: ape {1000 * a:.2f} ms/step vs raw {1000 * b:.2f} ms/step = {a / b:.1f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw-steps", type=int, default=5000)
    ap.add_argument("--ape-steps", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--episode", type=int, default=50,
                    help="steps between evm_revert to the post-setup snapshot (Hypothesis' default stateful_step_count)")
    ap.add_argument("--profile", action="store_true", help="cProfile the raw run and print the top 25")
    ap.add_argument("--anvil-args", default=" ".join(ANVIL_FLAGS), help="extra anvil flags for both paths")
    ap.add_argument("--tx-mode", choices=("poll", "sync"), default="sync",
                    help="raw path: eth_sendTransactionSync (first tx after a revert polled) or always eth_sendTransaction + receipt")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    flags = tuple(args.anvil_args.split())

    runs: list[Run] = []
    raw, raw_profile = measure(RawPath, args.raw_steps, args.seed, args.episode, args.profile, flags,
                               tx_mode=args.tx_mode)
    runs.append(raw)
    ape_run = None
    if args.ape_steps:
        ape_run, _ = measure(ApePath, args.ape_steps, args.seed, args.episode, False, flags)
        runs.append(ape_run)
    ratio = raw.steps_per_s / ape_run.steps_per_s if ape_run and ape_run.steps_per_s else None

    text = table(runs, ratio)
    print(text)
    for r in runs:
        print(f"\n{r.path}: {r.episodes} episodes, reverts by reason (top 8):")
        for reason, n in list(r.reverts.items())[:8]:
            print(f"  {n:6d}  {reason}")
        for v in r.violations[:5]:
            print(f"  VIOLATION {v}")
    if raw_profile:
        print("\n" + raw_profile)

    args.out.mkdir(parents=True, exist_ok=True)
    meta = {
        "seed": args.seed,
        "episode": args.episode,
        "anvil_flags": list(flags),
        "raw_tx_mode": args.tx_mode,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_avg_at_end": os.getloadavg(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    payload = {
        "meta": meta,
        "runs": [dict(asdict(r), steps_per_s=r.steps_per_s) for r in runs],
        "ratio_raw_over_ape": ratio,
        "targets": {"raw_steps_per_s": 300, "ratio": 40},
    }
    (args.out / "fuzz_throughput.json").write_text(json.dumps(payload, indent=2) + "\n")
    md = [
        "# Fuzz throughput: raw JSON-RPC driver vs ape",
        "",
        f"`bench/fuzz_throughput.py --raw-steps {args.raw_steps} --ape-steps {args.ape_steps} --seed {args.seed} "
        f"--episode {args.episode}`, {meta['when']}, {meta['cpus']} CPUs, load average at end "
        f"{', '.join(f'{x:.2f}' for x in meta['load_avg_at_end'])}.",
        "",
        "Every step: one action, then a full state read and the I1/I2/I5 check on it.",
        "",
        text,
        "",
    ]
    (args.out / "fuzz_throughput.md").write_text("\n".join(md))
    return 1 if any(r.violations for r in runs) else 0


if __name__ == "__main__":
    raise SystemExit(main())
