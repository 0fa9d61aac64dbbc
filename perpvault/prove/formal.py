"""The bytecode half of ``perpvault prove``: halmos checks and the forge invariant campaign.

Both run on ``formal/`` (a forge project whose sources are ``contracts/``; its harnesses are
Vyper: ``formal/test/*Checks.vy`` for halmos, ``PerpHandler.vy``/``PerpInvariants.vy`` for
forge). A planted bug runs on a generated copy of the project, ``formal/build/<mutant>/``,
whose sources are a patched copy of ``contracts/`` and whose harnesses a copy of
``formal/test/``.

Results are rows like the z3 checks' (``check``, ``tool``, ``result``, ``seconds``): for a
halmos check ``proved`` (no path violates the assertions), ``counterexample``, ``TIMEOUT``
(a solver query or the whole run ran out of time: a failure, not a pass) or ``error``; for
the campaign ``held`` or ``violated``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from perpvault.mutants import Mutant, patched_contracts, registry
from perpvault.paths import bitwuzla_command, forge_bin, halmos_bin, repo_root, venv_bin

# The halmos harnesses (formal/test/<name>.vy) and which of their checks run: one check per
# external state-changing function, except those NOT_RUN lists (docs/verification.md, §5).
HALMOS_CONTRACTS = ("FundChecks", "ClearinghouseChecks", "VaultChecks", "OrderBookChecks")
NOT_RUN = {
    "check_ch_fill_flat": "passes in 175 s (perpvault prove --deep): too slow for CI",
    "check_ch_fill_vault_flat": "passes in 196 s (perpvault prove --deep): too slow for CI",
    "check_ch_fill_open": "passes in 362 s (perpvault prove --deep): too slow for CI",
    "check_ch_liquidate_bankrupt": "passes in 215 s (perpvault prove --deep): too slow for CI",
    "check_ch_liquidate_solvent": "passes in 570 s (perpvault prove --deep): too slow for CI",
}
# halmos --match-test is matched against the signature, e.g. "check_ch_deposit(uint256)".
HALMOS_MATCH = {"ClearinghouseChecks": "^(?!(" + "|".join(NOT_RUN) + r")\()check_ch_"}
CAMPAIGN = "forge: invariant_books (I1 I2 I4 I5)"
HALMOS_SOLVER_TIMEOUT = "120s"
# z3's resource limit on every branching query (halmos_vyper.py --branch-rlimit), in every
# run: halmos's 1 ms timeout alone let z3 sit in one such query for many minutes, on a
# long check and once on a 34 s mutant run under load (check_ch_fill_both_reduce).
BRANCH_RLIMIT = 200_000
# Loop unrolling bound: the harnesses' and contracts' loops all run at most 8 times here
# (MAX_MARKETS, the touched-account lists). A path cut by the bound fails the check.
HALMOS_LOOP = 9


def formal_dir() -> Path:
    return repo_root() / "formal"


def _site_packages() -> str:
    return sysconfig.get_paths()["purelib"]


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """forge on PATH (halmos runs `forge build`), the venv's vyper, snekmate's directory as a lib."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(forge_bin().parent), str(venv_bin()), env.get("PATH", "")])
    env["FOUNDRY_LIBS"] = f"[{json.dumps(_site_packages())}]"
    env.update(extra or {})
    return env


# --- planted bugs ---------------------------------------------------------------------------


# Each planted bug is a perpvault.mutants.Mutant whose `caught_by` lists the rows that must
# report it: "halmos: <check>" or CAMPAIGN.
MUTANTS: dict[str, Mutant] = registry(
    Mutant(
        "fee_share_lost",
        "modules/trading.vy",
        "    ledger.insurance_due += to_fund + pays - gets\n",
        "    ledger.insurance_due += pays - gets\n",
        "the fund's share of trading fees is taken from the traders but booked nowhere",
        (CAMPAIGN,),
    ),
    Mutant(
        "cover_skips_total_out",
        "InsuranceFund.vy",
        "        self.total_out += paid\n",
        "",
        "the fund pays cover without booking it in total_out",
        ("halmos: check_fund_cover", CAMPAIGN),
    ),
    Mutant(
        "withdraw_debits_less",
        "Clearinghouse.vy",
        "    ledger.margin[msg.sender] -= convert(amount, int256)\n",
        "    ledger.margin[msg.sender] -= convert(amount, int256) - convert(amount // 10**6, int256)\n",
        "a withdrawal debits one atom less per whole USDC than it sends",
        ("halmos: check_ch_withdraw_open", CAMPAIGN),
    ),
    Mutant(
        "vault_burn_skips_allowance",
        "LiquidityVault.vy",
        "        erc20._spend_allowance(owner, msg.sender, shares)\n",
        "        pass\n",
        "a vault withdraw/redeem by a spender burns the owner's shares without spending its allowance",
        ("halmos: check_vault_redeem",),
    ),
    Mutant(
        "vault_deposit_under_water",
        "LiquidityVault.vy",
        '    assert not self._under_water(), "vault: under water"\n',
        "",
        "the vault takes deposits while its equity is negative: they fill the hole (I9)",
        ("halmos: check_vault_deposit",),
    ),
    Mutant(
        "vault_withdraw_rounds_down",
        "LiquidityVault.vy",
        "    shares: uint256 = self._to_shares(assets, True)\n",
        "    shares: uint256 = self._to_shares(assets, False)\n",
        "a vault withdraw burns floor(assets*S/A) shares, not the ceiling (I9)",
        ("halmos: check_vault_withdraw_rounds_up",),
    ),
    Mutant(
        "deposit_credits_extra",
        "Clearinghouse.vy",
        "    ledger.margin[msg.sender] += convert(amount, int256)\n",
        "    ledger.margin[msg.sender] += convert(amount, int256) + convert(amount // 10**6, int256)\n",
        "a deposit credits one extra atom per whole USDC",
        ("halmos: check_ch_deposit", CAMPAIGN),
    ),
    Mutant(
        "buyer_fee_not_debited",
        "modules/trading.vy",
        "    ledger.margin[buyer] -= convert(bf, int256)\n",
        "",
        "a trade's buyer fee is booked to the fund and the vault but never taken from the buyer (I2)",
        ("halmos: check_ch_fill_both_reduce",),
    ),
    Mutant(
        "keeper_reward_twice",
        "modules/waterfall.vy",
        "        ledger.insurance_due += fee + penalty - reward\n",
        "        ledger.insurance_due += fee + penalty\n",
        "the keeper's share of the penalty is paid to the keeper and still booked to the fund (I2)",
        ("halmos: check_ch_liquidate_partial",),
    ),
    Mutant(
        "timelock_no_wait",
        "modules/timelock.vy",
        '    assert block.timestamp >= eta, "timelock: too early"\n',
        "",
        "an announced change applies at once: the delay is never waited out (E4)",
        ("halmos: check_ch_apply_before_delay", "halmos: check_ch_apply_risk_before_delay"),
    ),
    Mutant(
        "announce_sets_params",
        "modules/param_changes.vy",
        "    parameters._set_pending_imr(market, p.imr)\n",
        "    parameters._set_params(market, p)\n",
        "announcing market parameters puts them in force at once (E4)",
        ("halmos: check_ch_announce_changes_nothing_in_force",),
    ),
    Mutant(
        "funding_reads_oracle_now",
        "modules/funding.vy",
        "    split: uint256 = block.timestamp\n    if updated >= last and updated < block.timestamp:\n"
        "        split = updated\n",
        "    split: uint256 = last\n",
        "every second of the interval valued at the oracle's latest price, whenever it was dated: a price "
        "first seen after the interval prices it (F2, R8's retroactive rate)",
        ("halmos: check_ch_funding_index_prices_each_second_at",),
    ),
    Mutant(
        "rate_reads_open_interest",
        "modules/funding.vy",
        "    size: int256 = ledger._size(ledger.vault, market)\n",
        "    size: int256 = -convert(ledger.market_store[market].open_interest, int256)\n",
        "the rate from the traders' long open interest, as if the vault were short all of it: a fill "
        "between two traders moves it (F1)",
        ("halmos: check_ch_funding_rate_ignores_wash_fill",),
    ),
    Mutant(
        "ob_zero_account_accepted",
        "OrderBook.vy",
        '    assert order.account != empty(address), "ob: zero account"\n',
        "",
        "an order naming address(0) matches whenever ecrecover answers address(0) for its signature (R1)",
        ("halmos: check_ob_zero_account",),
    ),
)


_NOT_DEPLOYED = ("RiskLens.vy", "ChainlinkAdapter.vy", "FeeOnTransferToken.vy", "HookToken.vy",
                 "MockAggregator.vy", "MockAggregatorProxy.vy", "PerpMathMock.vy", "VaultRoundingChecks.vy")


def mutant_project(name: str) -> Path:
    """``formal/build/<name>``: a forge project over a patched copy of contracts/."""
    root = formal_dir() / "build" / name
    patched_contracts({**MUTANTS, **DEEP_MUTANTS}[name], root / "contracts")
    toml = (formal_dir() / "foundry.toml").read_text()
    toml = toml.replace('src = "../contracts"', 'src = "contracts"')
    toml = toml.replace('path = "../.venv/bin/vyper"', f"path = {json.dumps(str(venv_bin() / 'vyper'))}")
    # Only what the harnesses deploy is compiled: a mutant's build stays short.
    toml = toml.replace('skip = [', 'skip = [' + ", ".join(f'"**/{f}"' for f in _NOT_DEPLOYED) + ", ")
    (root / "foundry.toml").write_text(toml)
    tests = root / "test"
    if tests.is_symlink() or tests.exists():
        tests.unlink() if tests.is_symlink() else shutil.rmtree(tests)
    # A copy, not a symlink: forge resolves links and would look for the artifacts elsewhere.
    shutil.copytree(formal_dir() / "test", tests)
    return root


# --- forge ------------------------------------------------------------------------------------


def run_campaign(project: Path | None = None, *, runs: int | None = None, depth: int | None = None,
                 seed: int = 1, timeout: float = 900) -> dict:
    """The forge invariant campaign; ``runs``/``depth`` default to formal/foundry.toml's."""
    project = project or formal_dir()
    log = project / "cache" / "campaign.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    extra = {"PERPVAULT_CAMPAIGN_LOG": "cache/campaign.log"}
    if runs is not None:
        extra["FOUNDRY_INVARIANT_RUNS"] = str(runs)
    if depth is not None:
        extra["FOUNDRY_INVARIANT_DEPTH"] = str(depth)
    t0 = time.perf_counter()
    try:
        # A full build, and no --match-test: with it forge compiles (and knows the ABIs of)
        # only the matching test file and its imports, so PerpHandler -- deployed by name, not
        # imported -- would be unknown ("No contracts to fuzz"). PerpInvariants is the only
        # contract with invariant_/test functions.
        build = subprocess.run([str(forge_bin()), "build", "--root", str(project)], env=_env(extra), cwd=project,
                               capture_output=True, text=True, timeout=timeout)
        if build.returncode != 0:
            return _row(CAMPAIGN, "forge", "error", time.perf_counter() - t0,
                        detail=(build.stdout + build.stderr)[-2000:])
        proc = subprocess.run(
            [str(forge_bin()), "test", "--root", str(project), "--fuzz-seed", str(seed)],
            env=_env(extra), cwd=project, capture_output=True, text=True, timeout=timeout,
        )
        out = proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        out = f"{exc.stdout or ''}{exc.stderr or ''}"
        return _row(CAMPAIGN, "forge", "TIMEOUT", time.perf_counter() - t0, detail=f"over {timeout:.0f}s")
    seconds = time.perf_counter() - t0
    stats = campaign_stats(log)
    passed = re.search(r"\[PASS\] invariant_books\(\) \(runs: (\d+), calls: (\d+), reverts: (\d+)\)", out)
    failed = re.search(r"\[FAIL: ([^\]]*)\]", out)
    if passed:
        stats.update(runs=int(passed[1]), calls=int(passed[2]), handler_reverts=int(passed[3]))
        return _row(CAMPAIGN, "forge", "held", seconds, detail=_stats_text(stats), stats=stats)
    if failed and re.match(r"I[1245]: ", failed[1]):
        return _row(CAMPAIGN, "forge", "violated", seconds, detail=failed[1], stats=stats)
    return _row(CAMPAIGN, "forge", "error", seconds, detail=out[-2000:])


def campaign_stats(log: Path) -> dict:
    """Sums of the per-run lines PerpInvariants.afterInvariant appends."""
    totals: dict[str, int] = {}
    if log.is_file():
        for line in log.read_text().splitlines():
            for key, value in re.findall(r"(\w+)=(\d+)", line):
                totals[key] = totals.get(key, 0) + int(value)
    return totals


def _stats_text(s: dict) -> str:
    return (f"{s.get('calls', 0)} calls in {s.get('runs', 0)} runs; system accepted {s.get('accepted', 0)}, "
            f"rejected {s.get('rejected', 0)}; {s.get('liquidations', 0)} liquidations "
            f"({s.get('bad_debt', 0)} in debt, {s.get('adl', 0)} with ADL lists, {s.get('skipped', 0)} skipped)")


# --- halmos -----------------------------------------------------------------------------------


def run_halmos(contract: str, project: Path | None = None, *, match: str | None = "default",
               timeout: float = 900, solver: str = "yices", extra: tuple[str, ...] = ()) -> list[dict]:
    """One halmos run over a harness; a row per check (``halmos: <function>``)."""
    project = project or formal_dir()
    if match == "default":
        match = HALMOS_MATCH.get(contract)
    python = halmos_bin().parent / "python"
    runner = Path(__file__).with_name("halmos_vyper.py")
    with tempfile.TemporaryDirectory(prefix="halmos-") as tmp:
        report = Path(tmp) / "report.json"
        cmd = [str(python), str(runner), "--root", str(project), "--contract", contract,
               "--storage-layout", "generic", "--solver-timeout-assertion", HALMOS_SOLVER_TIMEOUT,
               "--loop", str(HALMOS_LOOP), "--branch-rlimit", str(BRANCH_RLIMIT),
               "--json-output", str(report), "--no-status"]
        if match:
            cmd += ["--match-test", match]
        if solver == "bitwuzla":
            cmd += ["--solver-command", " ".join(bitwuzla_command())]
        cmd += list(extra)
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, env=_env(), cwd=project, capture_output=True, text=True, timeout=timeout)
            out = proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as exc:
            out = f"{exc.stdout or ''}{exc.stderr or ''}"
            out = out.decode() if isinstance(out, bytes) else out
            return [_row(f"halmos: {contract}", "halmos", "TIMEOUT", time.perf_counter() - t0,
                         detail=f"the run took over {timeout:.0f}s")]
        seconds = time.perf_counter() - t0
        if not report.is_file():
            return [_row(f"halmos: {contract}", "halmos", "error", seconds, detail=out[-2000:])]
        results = json.loads(report.read_text()).get("test_results", {})
    bounded = set(re.findall(r"WARNING\s+(check_\w+)\([^)]*\): paths have not been\s+fully explored", out))
    rows = []
    for tests in results.values():
        for t in tests:
            name = t["name"].split("(")[0]
            result = _halmos_result(t)
            if result == "proved" and name in bounded:
                result = "loop bound hit"  # some paths were cut, not explored: not a proof
            took = t["time"][0] if isinstance(t.get("time"), list) else seconds / max(len(tests), 1)
            rows.append(_row(f"halmos: {name}", "halmos", result, took, detail=f"paths {t.get('num_paths', ['?'])}"))
    if not rows:
        rows.append(_row(f"halmos: {contract}", "halmos", "error", seconds, detail=out[-2000:]))
    return rows


def _halmos_result(t: dict) -> str:
    """halmos exit codes: 0 pass, 1 counterexample, 2 timeout (a query came back unknown),
    3 stuck paths, 4 every path reverted (a vacuous pass: the assumptions exclude every
    execution), 5 exception. Only 0 passes."""
    return {0: "proved", 1: "counterexample", 2: "TIMEOUT", 3: "stuck", 4: "all paths revert"}.get(
        t.get("exitcode"), "error")


def _row(check: str, tool: str, result: str, seconds: float, **extra) -> dict:
    return {"check": check, "tool": tool, "result": result, "seconds": round(seconds, 2), "mutant": None, **extra}


# --- the plan ---------------------------------------------------------------------------------


def run_all(progress=None, *, halmos: bool = True, campaign: bool = True, mutants: bool = True,
            select: str | None = None, status=None) -> list[dict]:
    """Every halmos harness, the campaign, then every planted bug against the rows that must catch it.

    ``progress(row)`` is called as each row is known; ``status(text)`` before each tool run."""
    rows: list[dict] = []
    status = status or (lambda text: None)

    def add(new: list[dict]) -> None:
        for r in new:
            rows.append(r)
            if progress:
                progress(r)

    for contract in HALMOS_CONTRACTS if halmos else ():
        path = formal_dir() / "test" / f"{contract}.vy"
        if select and select not in contract:
            names = [n for n in re.findall(r"^def (check_\w+)\(", path.read_text(), re.M)
                     if select in n and n not in NOT_RUN]
            if names:
                status(f"halmos {contract}: {len(names)} check(s) ...")
                add(run_halmos(contract, match="^(" + "|".join(names) + r")\("))
        else:
            status(f"halmos {contract} ...")
            add(run_halmos(contract))
    if campaign and (not select or select in CAMPAIGN):
        status("forge invariant campaign (100k calls) ...")
        add([run_campaign()])
    if mutants:
        for m in MUTANTS.values():
            if select and select not in m.name:
                continue
            status(f"mutant {m.name}: {', '.join(m.caught_by)} ...")
            add(run_mutant(m.name, halmos=halmos, campaign=campaign))
    return rows


def _harness_of(check: str) -> str:
    """The harness (formal/test/<name>.vy) that defines halmos check ``check``."""
    return next(c for c in HALMOS_CONTRACTS if f"def {check}(" in (formal_dir() / "test" / f"{c}.vy").read_text())


# The long halmos checks that do finish (NOT_RUN in CI): `perpvault prove --deep` runs them,
# one halmos process each, with a longer budget (DEEP_TIMEOUT).
DEEP = ("check_ch_fill_flat", "check_ch_fill_vault_flat", "check_ch_fill_open",
        "check_ch_liquidate_bankrupt", "check_ch_liquidate_solvent")
DEEP_TIMEOUT = 1800.0


# Planted bugs caught by a DEEP check (flat fills never reduce a position; the in-debt and
# solvent liquidations run only there): run_deep runs them after the checks, and each must
# come back as a counterexample.
DEEP_MUTANTS: dict[str, Mutant] = registry(
    Mutant(
        "reduce_credits_an_atom",
        "modules/ledger.vy",
        "    self.margin[account] += on_new - pos.open_notional - cash\n",
        "    self.margin[account] += on_new - pos.open_notional - cash + convert(q != 0 and (q > 0) != (delta > 0), int256)\n",  # noqa: E501
        "a trade that shrinks or flips a position credits its owner one atom from nowhere (I2)",
        ("halmos: check_ch_fill_open",),
    ),
    Mutant(
        "bankrupt_keeps_an_atom",
        "modules/adl.vy",
        "        return mark_left, haircut_left, perp_math._fee(take, price, maker_fee)\n",
        "        return mark_left, haircut_left + 1, perp_math._fee(take, price, maker_fee)\n",
        "ADL takes one atom more than the shortfall from the last counterparty: the bankrupt account ends at +1, "
        "not 0 (I6)",
        ("halmos: check_ch_liquidate_bankrupt",),
    ),
    Mutant(
        "liquidation_charges_nobody",
        "modules/waterfall.vy",
        "    ledger.margin[account] -= convert(charged, int256)\n",
        "",
        "the liquidation fee and penalty are booked to the fund and the keeper but never taken from the account (I2)",
        ("halmos: check_ch_liquidate_solvent",),
    ),
)


def run_deep(progress=None, status=None) -> list[dict]:
    """The DEEP checks, with a long budget: a TIMEOUT is reported as such, never a pass; then
    the DEEP_MUTANTS, each on the DEEP check that must catch it."""
    rows: list[dict] = []
    for check in DEEP:
        contract = _harness_of(check)
        if status:
            status(f"halmos {check} (deep, up to {DEEP_TIMEOUT:.0f}s) ...")
        found = run_halmos(contract, match=f"^{check}\\(", timeout=DEEP_TIMEOUT)
        for r in found:
            rows.append(r)
            if progress:
                progress(r)
    for name in DEEP_MUTANTS:
        if status:
            status(f"mutant {name} (deep) ...")
        for r in run_mutant(name):
            rows.append(r)
            if progress:
                progress(r)
    return rows


def run_mutant(name: str, *, halmos: bool = True, campaign: bool = True) -> list[dict]:
    """Runs the rows that must catch mutant ``name`` on it; each row is tagged with the mutant.
    A DEEP check runs with run_deep's long budget."""
    m = {**MUTANTS, **DEEP_MUTANTS}[name]
    project = mutant_project(name)
    rows: list[dict] = []
    for row_name in m.caught_by:
        if row_name == CAMPAIGN:
            if campaign:
                rows.append(run_campaign(project, runs=50))
        elif halmos:
            check = row_name.removeprefix("halmos: ")
            # --early-exit: one counterexample is the whole answer; the rest of the paths
            # (and validating more models with real 256-bit products) would only cost time.
            budget = {"timeout": DEEP_TIMEOUT} if check in DEEP else {}
            found = run_halmos(_harness_of(check), project, match=f"^{check}\\(", extra=("--early-exit",), **budget)
            rows.append(next((r for r in found if r["check"] == row_name), found[0]))
    for r in rows:
        r["mutant"] = name
    return rows


def caught(row: dict) -> bool:
    return row["result"] in ("counterexample", "violated")


def passed(row: dict) -> bool:
    return row["result"] in ("proved", "held")


__all__ = ["CAMPAIGN", "MUTANTS", "run_all", "run_campaign", "run_halmos", "run_mutant", "caught", "passed"]


if __name__ == "__main__":  # python -m perpvault.prove.formal: quick manual run
    for r in run_all(lambda r: print(r, file=sys.stderr)):
        print(json.dumps(r))
