"""The replay's report: the numbers (`build_report`, report.json), the markdown (`render_md`,
report.md) and the picture (`plot_waterfall`, waterfall.png): what each layer of the waterfall
absorbed, ADL beside the naive policy, the invariant checks, gas and time per phase."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perpvault.units import fmt_usdc

if TYPE_CHECKING:
    from perpvault.replay.play import Replay

PHASES = (("deploy", "deploy"), ("seed", "margin and LP/fund deposits"), ("open", "opening positions"),
          ("walk", "price walk"), ("report", "report"))


def build_report(rp: Replay, opened: dict, vault0: int, wall: float) -> dict[str, Any]:
    sc, L, N = rp.sc, rp.layers, rp.naive
    last = rp.steps[-1]
    oi = sc.open_interest()
    ours_touched = len(L.deleveraged)
    return {
        "scenario": {"name": sc.name, "seed": sc.seed, "description": sc.description, "traders": len(sc.traders),
                     "steps": sc.steps, "seconds_per_step": sc.seconds_per_step,
                     "markets": [m.name for m in sc.markets],
                     "price_change_at_low": [min(p[m] for p in sc.prices) / sc.prices[0][m] - 1
                                             for m in range(len(sc.markets))],
                     "open_interest_long_short": {sc.markets[m].name: list(v) for m, v in oi.items()},
                     "vault_deposit": sc.vault_deposit, "fund_donation": sc.fund_donation},
        "opening": opened,
        "layers": {
            "liquidations": L.liquidations,
            "accounts_liquidated": len(L.liquidated_accounts),
            "liquidated_at_mark_into_vault_notional": L.to_vault_notional,
            "closed_against_adl_notional": L.to_adl_notional,
            "penalties": L.penalties,
            "keeper_rewards": L.keeper_rewards,
            "insurance_fund_cover": L.fund_cover,
            "adl_haircuts": L.haircuts,
            "vault_equity_start": vault0,
            "vault_equity_end": last.vault_equity,
            "vault_pnl": last.vault_equity - vault0,
        },
        # Bad debt is covered from what the fund is owed (insurance_due) first: what left the
        # fund's balance is its total_out (the replay deploys it fresh: 0 at the start).
        "insurance_fund": {"start": rp.steps[0].fund, "low": rp.fund_low[0], "low_step": rp.fund_low[1],
                           "end": last.fund, "swept_in": rp.swept, "swept_by_keeper": rp.sweep,
                           "paid_out": rp.model.w.fund.total_out,
                           "cover_from_dues": L.fund_cover - rp.model.w.fund.total_out},
        "adl": {"traders_deleveraged": ours_touched, "deleverage_events": L.deleverage_events,
                "quantile_counts": {str(q): n for q, n in L.quantiles.items()},
                "socialized_loss": L.socialized, "uncovered_shortfall": L.socialized,
                "haircuts": L.haircuts, "overshoot": L.haircuts - L.socialized},
        "funding": {
            "design": "vault skew: rate = max_funding_rate x clamp(-vault position / skew_scale, -1, 1), "
                      "each second valued at the oracle price in force (mechanism.md section 5)",
            "skew_scale": {m.name: m.skew_scale for m in sc.markets},
            "received": rp.funding["received"], "paid": -rp.funding["paid"], "vault_net": rp.funding["vault"],
        },
        "naive_comparison": {
            "policy": "close whole opposing positions in ADL rank order at the bankruptcy price until the "
                      "bankrupt size is covered (Hyperliquid / CEX style)",
            "shortfall": L.socialized, "haircuts": N.haircuts, "overshoot": N.overshoot,
            "traders_touched": len(N.touched), "extra_traders_touched": len(N.touched) - ours_touched,
            "notional_closed": N.closed_notional, "ours_notional_closed": L.to_adl_notional,
        },
        "adl_policies": rp.policies.report(),
        "gas": {"setup_fills_and_vault_trades": rp.setup_gas,
                "per_step": [s.gas for s in rp.steps[1:]],
                "keeper_per_step": [s.keeper_gas for s in rp.steps[1:]],
                "total_walk": sum(s.gas for s in rp.steps)},
        "steps": [asdict(s) for s in rp.steps],
        "invariants": {"checks": rp.checks, "violations": rp.violations, "all_hold": not rp.violations},
        "timings_s": {k: round(v, 2) for k, v in rp.timings.items()} | {"wall": round(wall, 2)},
        "transactions": rp.model.tx_count,
        "blocks": rp.blocks,
        "fork": {"url": rp.fork_url, "block": rp.fork_block} if rp.fork_url else None,
        "transactions_by_kind": dict(rp.sent),
        "on_chain": rp.chain,
    }


def _u(x: int) -> str:
    return fmt_usdc(x)


def write_report(report: dict, rp: Replay | None, out: Path, *, plot: bool = True) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "report.md").write_text(render_md(report))
    if plot:
        plot_waterfall(report, out / "waterfall.png", rp.adl_marks if rp else [])
        plot_haircut_shares(report, out / "adl_policies.png")


def render_md(r: dict) -> str:
    sc, L, F, A, N = r["scenario"], r["layers"], r["insurance_fund"], r["adl"], r["naive_comparison"]
    inv = r["invariants"]
    lows = ", ".join(f"{n} {c:+.1%}" for n, c in zip(sc["markets"], sc["price_change_at_low"]))
    lines = [
        f"# perpvault replay: `{sc['name']}`",
        "",
        f"{sc['description']}. Seed {sc['seed']}, {sc['traders']} traders, {sc['steps']} price steps of "
        f"{sc['seconds_per_step']} s (lows: {lows}); {r['transactions']} transactions"
        + (f" in {r['blocks']} blocks" if r.get("blocks") else "") + ".",
        "",
        f"Wall time **{r['timings_s']['wall']:.1f} s**: "
        + ", ".join(f"{label} {r['timings_s'][k]:.1f} s" for k, label in PHASES if k in r["timings_s"]) + ".",
        "",
        *([] if r.get("on_chain", True) else
          ["**Dry run: played on the reference model alone; nothing was sent, so there is no gas and no "
           "chain-side check.**", ""]),
        *([f"**Dry run on a local fork of {r['fork']['url']} at block {r['fork']['block']}: every transaction ran "
           "on the fork, nothing was sent to that node.**", ""] if r.get("fork") else []),
        f"Opening: {r['opening']['fills']} signed-order fills ({_u(r['opening']['fill_notional'])} USDC), "
        f"{r['opening']['vault_trades']} vault trades ({_u(r['opening']['vault_notional'])} USDC) for the imbalance.",
        "",
        "## What each layer absorbed (USDC)",
        "",
        "| layer | notional | loss absorbed |",
        "| --- | ---: | ---: |",
        f"| 1. liquidations at mark into the LiquidityVault | {_u(L['liquidated_at_mark_into_vault_notional'])} | "
        f"vault equity {_u(L['vault_equity_start'])} → {_u(L['vault_equity_end'])} "
        f"({'+' if L['vault_pnl'] >= 0 else '−'}{_u(abs(L['vault_pnl']))}, incl. its opening position's PnL) |",
        f"| 2. penalties (keepers {_u(L['keeper_rewards'])}) | | {_u(L['penalties'])} paid by the liquidated |",
        f"| 3. insurance fund cover | | {_u(L['insurance_fund_cover'])} |",
        f"| 4. closes against ADL (haircuts) | {_u(L['closed_against_adl_notional'])} | {_u(L['adl_haircuts'])} |",
        "",
        f"{L['liquidations']} liquidations of {L['accounts_liquidated']} accounts. Insurance fund: start "
        f"{_u(F['start'])}, **low {_u(F['low'])}** (step {F['low_step']}), end {_u(F['end'])}; "
        + (f"the keeper swept {_u(F['swept_in'])} of penalties, fee shares and dust into it with "
           "`sweep_to_insurance` after each step's liquidations, so its curve includes them."
           if F.get("swept_by_keeper", False) else
           "penalties stay in the clearinghouse (`sweep_to_insurance` was not called)."),
        "",
        "## Funding",
        "",
        f"Design: {r['funding']['design']}; skew scale "
        + ", ".join(f"{n} {q / 10**18:,.0f}" for n, q in r["funding"]["skew_scale"].items()) + " base units. "
        f"Settled so far: {_u(r['funding']['paid'])} USDC paid, {_u(r['funding']['received'])} received "
        f"(the difference is pending with the positions not settled since their last accrual: the "
        f"markets' funding pools hold or owe it); the vault's net "
        f"{'+' if r['funding']['vault_net'] >= 0 else '−'}{_u(abs(r['funding']['vault_net']))}.",
        "",
        "## ADL",
        "",
        f"* traders deleveraged: **{A['traders_deleveraged']}** ({A['deleverage_events']} Deleveraged events)",
        "* ADL quantile at the time (5 = first in line): "
        + ", ".join(f"q{q}: {n}" for q, n in sorted(A["quantile_counts"].items(), reverse=True)),
        f"* uncovered shortfall (ShortfallSocialized) **{_u(A['uncovered_shortfall'])}** = socialized loss "
        f"(sum of haircuts) **{_u(A['haircuts'])}**: overshoot **{_u(A['overshoot'])}**",
        "",
        "## Beside a naive ADL",
        "",
        f"Naive policy: {N['policy']}; computed on the reference model's state at each of our ADL events "
        "(same bankrupt closes and shortfalls; positions it already closed are gone).",
        "",
        "| | perpvault | naive |",
        "| --- | ---: | ---: |",
        f"| shortfall to socialize | {_u(N['shortfall'])} | {_u(N['shortfall'])} |",
        f"| taken from counterparties | {_u(A['haircuts'])} | {_u(N['haircuts'])} |",
        f"| overshoot (taken beyond the shortfall) | {_u(A['overshoot'])} | **{_u(N['overshoot'])}** |",
        f"| traders touched | {A['traders_deleveraged']} | {N['traders_touched']} (+{N['extra_traders_touched']}) |",
        f"| notional force-closed | {_u(N['ours_notional_closed'])} | {_u(N['notional_closed'])} |",
        "",
        *_policies_md(r.get("adl_policies")),
        "## Invariants",
        "",
        "| check | times run |",
        "| --- | ---: |",
    ]
    lines += [f"| {k} | {v} |" for k, v in inv["checks"].items()]
    violations = "\n".join(f"* {v}" for v in inv["violations"])
    verdict = "**All hold.**" if inv["all_hold"] else "**VIOLATIONS:**\n\n" + violations
    lines += ["", verdict]
    g = r["gas"]
    lines += ["", "## Gas per step", "",
              f"Opening: {g['setup_fills_and_vault_trades']:,} gas. Walk: {g['total_walk']:,} gas.", "",
              "| step | prices | liquidations | ADL'd | gas | keeper gas | swept to fund | fund | vault equity |",
              "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for s in r["steps"][1:]:
        prices = " / ".join(f"{p / 1e18:,.2f}" for p in s["prices"])
        lines.append(f"| {s['step']} | {prices} | {s['liquidations']} | {s['deleveraged']} | {s['gas']:,} | "
                     f"{s['keeper_gas']:,} | {_u(s.get('swept', 0))} | {_u(s['fund'])} | {_u(s['vault_equity'])} |")
    return "\n".join(lines) + "\n"


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def _policies_md(P: dict | None) -> list[str]:
    """The fairness table (perpvault.fairness's metrics) of every ADL event, four policies."""
    if not P or not P["events"]:
        return []
    pols = list(P["policies"])
    T = P["totals"]
    head = "| | " + " | ".join(P["policies"][p] for p in pols) + " |"

    def row(label: str, f: Any) -> str:
        return f"| {label} | " + " | ".join(f(T[p]) for p in pols) + " |"

    lines = [
        "## ADL policies side by side",
        "",
        f"The same {len(P['events'])} ADL events (same shortfall, same candidates: the positions opposite the "
        "bankrupt, their PnL at the mark before the ADL) split four ways, measured with `perpvault.fairness` "
        "(docs/mechanism.md, \"Fairness, measured\"). perpvault's queue is what the contracts ran; the naive "
        "queue closes whole positions at the bankruptcy price; **size pro-rata is computed on the model, not "
        "run** (the `pro_rata` policy is not built yet, and this computation does not cap a cut at the "
        "account's equity); wealth pro-rata (every winner gives up the same share of its positive PnL) is the "
        "min-max optimum the fairness regret is measured against. PnL: " + P["pnl"] + ".",
        "",
        head,
        "| --- |" + " ---: |" * len(pols),
        row("shortfall to socialize", lambda t: _u(t["needed"])),
        row("taken from counterparties", lambda t: _u(t["taken"])),
        row("tracking `Σ│H − B│`", lambda t: _u(t["tracking"])),
        row("overshoot", lambda t: _u(t["overshoot"])),
        row("fairness regret `Σ│m − m*│·B`", lambda t: _u(t["fairness_regret"])),
        row("tracking + fairness", lambda t: _u(t["tracking"] + t["fairness_regret"])),
        row("largest share of a trader's positive PnL taken (`max_pct`)", lambda t: _pct(t["max_pct"])),
        row("traders touched (trader-events)", lambda t: f"{t['traders_touched']} ({t['cuts']})"),
        row("notional force-closed", lambda t: _u(t["notional_closed"])),
        row("cuts of positions with no positive PnL: count, amount",
            lambda t: f"{t['no_pnl_cuts']['count']}, {_u(t['no_pnl_cuts']['amount'])}"),
        row("order inversions (pairs)",
            lambda t: f"{t['order_inversions']['count']} of {t['order_inversions']['pairs']}"),
        "",
        "Per event (report.json has every field of every event):",
        "",
        "| step | bankrupt | shortfall | " + " | ".join(f"{P['policies'][p]}: taken, max_pct" for p in pols) + " |",
        "| ---: | --- | ---: |" + " ---: |" * len(pols),
    ]
    for e in P["events"][:40]:
        lines.append(f"| {e['step']} | `{e['account'][:10]}` | {_u(e['queue']['needed'])} | "
                     + " | ".join(f"{_u(e[p]['taken'])}, {_pct(e[p]['max_pct'])}" for p in pols) + " |")
    if len(P["events"]) > 40:
        lines.append(f"| … | {len(P['events']) - 40} more events in report.json | | " + " | " * (len(pols) - 1) + " |")
    return lines + ["", "The haircut distribution per policy: `adl_policies.png`.", ""]


def plot_haircut_shares(r: dict, path: Path) -> None:
    """Per policy, the share of positive PnL each cut winner gave up, sorted (one point per
    trader-event with a cut): where the loss lands, and how unevenly."""
    P = r.get("adl_policies")
    if not P or not P["events"]:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    for p, name in P["policies"].items():
        shares = sorted(P["haircut_shares"][p], reverse=True)
        if shares:
            ax.step(range(1, len(shares) + 1), [100 * s for s in shares], where="post", lw=2,
                    label=f"{name}: {len(shares)} cuts, max {100 * shares[0]:.1f} %")
    ax.set_xscale("log")
    ax.set_xlabel("cut winners, largest share first (trader-events)")
    ax.set_ylabel("share of positive PnL taken, %")
    ax.set_title(f"{r['scenario']['name']}: ADL haircut distribution per policy "
                 f"({len(P['events'])} ADL events)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fund_curve(r: dict) -> tuple[list[int], list[int]]:
    """The insurance fund's curve as plotted: per step its low during the step's liquidations
    (before the keeper's sweep refills it), then its end, so the report's low is on the curve."""
    steps = r["steps"]
    xs, ys = [steps[0]["step"]], [steps[0]["fund"]]
    for s in steps[1:]:
        xs += [s["step"], s["step"]]
        ys += [s["fund_low"], s["fund"]]
    return xs, ys


def plot_waterfall(r: dict, path: Path, adl_marks: list[tuple[int, int, str]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = r["steps"]
    xs = [s["step"] for s in steps]
    names = r["scenario"]["markets"]
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(11, 10), sharex=True,
                                        gridspec_kw={"height_ratios": [3, 2, 1.3]})
    colors = ["#f7931a", "#627eea", "#2ca02c", "#9467bd"]
    adl_steps = sorted({k for k, _, _ in adl_marks})
    for m, name in enumerate(names):
        base = steps[0]["prices"][m]
        ax1.plot(xs, [100 * (s["prices"][m] / base - 1) for s in steps], color=colors[m % 4], lw=2, label=name)
    for k in adl_steps:
        for ax in (ax1, ax2, ax3):
            ax.axvline(k, color="red", alpha=0.25, lw=3)
    ax1.set_ylabel("price change, %")
    ax1.axhline(0, color="grey", lw=0.5)
    ax1.legend(loc="lower left")
    a, n = r["adl"], r["naive_comparison"]
    ax1.set_title(f"{r['scenario']['name']}, {r['scenario']['traders']} traders. Red bands: steps with ADL\n"
                  f"ADL: {a['traders_deleveraged']} traders gave up {a['haircuts'] / 1e6:,.0f} USDC = the shortfall "
                  f"(overshoot {a['overshoot'] / 1e6:,.0f}); naive whole-position ADL: {n['traders_touched']} traders, "
                  f"overshoot {n['overshoot'] / 1e6:,.0f} USDC", fontsize=11)
    fx, fy = fund_curve(r)
    vault = [s["vault_equity"] / 1e6 for s in steps]
    ax2.plot(fx, [y / 1e6 for y in fy], color="#d62728", lw=2, label="insurance fund (USDC)")
    F = r["insurance_fund"]
    ax2.plot([F["low_step"]], [F["low"] / 1e6], "o", color="#d62728")
    ax2.annotate(f"low {F['low'] / 1e6:,.0f} (step {F['low_step']})", (F["low_step"], F["low"] / 1e6),
                 textcoords="offset points", xytext=(6, 6), fontsize=9, color="#d62728")
    ax2.set_ylabel("insurance fund, USDC")
    ax2.set_ylim(bottom=0)
    ax2b = ax2.twinx()
    ax2b.plot(xs, vault, color="#1f77b4", lw=2, label="LP vault equity (USDC)")
    ax2b.set_ylabel("vault equity, USDC")
    h1, l1 = ax2.get_legend_handles_labels()
    h2, l2 = ax2b.get_legend_handles_labels()
    ax2.legend(h1 + h2, l1 + l2, loc="center right")
    for ax in (ax2, ax2b):
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    liq = [s["liquidations"] for s in steps]
    dl = [s["deleveraged"] for s in steps]
    ax3.bar([x - 0.2 for x in xs], liq, width=0.4, color="grey", label="liquidations")
    ax3.bar([x + 0.2 for x in xs], dl, width=0.4, color="red", label="ADL counterparties")
    ax3.set_ylabel("count")
    ax3.set_xlabel("price step")
    ax3.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)



__all__ = ["PHASES", "build_report", "fund_curve", "plot_haircut_shares", "plot_waterfall", "render_md", "write_report"]
