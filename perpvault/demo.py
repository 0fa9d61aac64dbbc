"""`perpvault demo`: a local Anvil chain, the whole system, and the risk waterfall at work.

By default it replays a seeded crash scenario (`--scenario oct10|whale|grind`, see
perpvault.scenarios and perpvault.replay) and writes report.md, report.json and
waterfall.png to `--out` (default out/); `--traders N` scales oct10 (the report gives the
wall-clock time of each phase). `--dry-run` sends nothing and prints every transaction the
replay would send; with `--network <ecosystem:network:provider>` (e.g. ethereum:staging:node,
ape-config.yaml) it plays on a local Anvil forking that network's node and prints the gas each
transaction used there. `--scenario story` runs the scripted walkthrough:

The story (BTC at 60,000, ETH at 3,000):

1. An LP seeds the LiquidityVault; the insurance fund gets a modest donation.
2. Traders open positions through EIP-712 signed orders and one vault trade: the vault
   sells 1.1 BTC, so it is short and funding (priced from the vault's skew) flows long -> short.
3. Eight hours pass: funding accrues and settles.
4. BTC drops 11.7% in one oracle update. The keeper runs the waterfall:
   a solvent 6.6x long is partially liquidated into the vault, a 9x long goes bankrupt and
   the insurance fund covers it, a 9.6x long goes bankrupt when the fund is nearly empty and
   ADL closes it against the most profitable, most leveraged shorts at the ADL price.
5. Every step ends with the invariant checks; the report shows what each layer absorbed.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from perpvault.cliargs import positive_int, progress_enabled, usage_error
from perpvault.scenarios import SCENARIOS
from perpvault.units import fmt_usdc, price, size, usdc

BTC, ETH = 0, 1


@dataclass
class Cast:
    owner: object
    oracle_updater: object
    keeper_bot: object
    lp: object
    steady_long: object  # 6.6x long, liquidated while still solvent
    bankrupt_long: object  # 9x long, bad debt the fund covers
    reckless_long: object  # 9.6x long, bad debt beyond the fund -> ADL
    big_short: object
    hedged_short: object
    eth_long: object

    @classmethod
    def from_accounts(cls, accounts: list) -> Cast:
        return cls(*accounts[:10])

    def names(self) -> dict[str, str]:
        return {str(getattr(self, f).address): f for f in self.__dataclass_fields__}


# While the story runs, what it says is also kept here, for `--out`/story.md.
_transcript: list[str] | None = None


def _say(text: str = "") -> None:
    print(text, flush=True)
    if _transcript is not None:
        _transcript.append(text)


def _table(system, cast: Cast) -> None:
    ch = system.clearinghouse
    names = cast.names()
    names[str(system.vault.address)] = "liquidity_vault"
    _say(f"  {'account':16s} {'equity':>14s} {'margin':>14s} {'BTC size':>10s} {'ETH size':>10s}")
    for i in range(ch.account_count()):
        account = ch.account_at(i)
        btc, eth = ch.position(account, BTC)[0], ch.position(account, ETH)[0]
        _say(
            f"  {names.get(str(account), str(account)[:10]):16s} "
            f"{fmt_usdc(ch.equity(account)):>14s} "
            f"{fmt_usdc(ch.margin(account)):>14s} {btc / 1e18:>10.4f} {eth / 1e18:>10.4f}"
        )


def _invariants(system) -> None:
    from perpvault.chain.ape_driver import assert_invariants

    assert_invariants(system)
    ch = system.clearinghouse
    _say(
        f"  invariants hold: I1 sizes sum to zero in every market, I2 books == token balance "
        f"({fmt_usdc(system.usdc.balanceOf(ch))} USDC) to the atom, I5 fund == ins - outs "
        f"({fmt_usdc(system.fund.available())} USDC)"
    )


DEFAULT_SCENARIO = "oct10"
SCENARIO_CHOICES = (*SCENARIOS, "story")


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser(
        "demo",
        help="replay a crash scenario on a local Anvil through the whole risk waterfall; write "
        "out/report.md, "
        "report.json, waterfall.png",
        description="Replay a seeded crash scenario (oct10, whale, grind) on a local Anvil chain: "
        "deploy, seed the "
        "LP vault and insurance fund, open every trader's position, walk the price path with a "
        "keeper "
        "liquidating and deleveraging after every step, check the invariants, and write the "
        "report. "
        "`--scenario story` runs the scripted 7-account walkthrough instead.",
    )
    demo.add_argument(
        "--scenario",
        default=DEFAULT_SCENARIO,
        choices=SCENARIO_CHOICES,
        metavar="NAME",
        help=f"{', '.join(SCENARIO_CHOICES[:-1])}, or story (the scripted walkthrough); default "
        f"{DEFAULT_SCENARIO}",
    )
    demo.add_argument(
        "--out",
        default="out",
        help="directory for report.md, report.json, waterfall.png, adl_policies.png (story: "
        "story.md) (default out/)",
    )
    demo.add_argument(
        "--traders", type=positive_int, default=None,
        help="number of traders, >= 1 (oct10 only; default 500)"
    )
    demo.add_argument(
        "--seed", type=int, default=None, help="scenario seed (default: the scenario's own)"
    )
    demo.add_argument("--no-plot", action="store_true", help="skip waterfall.png")
    demo.add_argument("--quiet", action="store_true",
                      help="no progress bar (there is none anyway when stderr is not a terminal)")
    demo.add_argument(
        "--dry-run",
        action="store_true",
        help="send nothing: print every transaction the replay would send (from, to, function, "
        "args; "
        "with --network, the gas each used on a local fork of that network) and write the report",
    )
    demo.add_argument(
        "--network",
        default=None,
        help="an ape network choice (e.g. ethereum:staging:node, see ape-config.yaml); only with "
        "--dry-run: the replay runs on a local Anvil forking that network's node, so the node "
        "itself receives reads only",
    )
    demo.set_defaults(func=run)


def run(args: argparse.Namespace | None = None) -> int:
    scenario = getattr(args, "scenario", "story") if args is not None else "story"
    if scenario == "story":
        return run_story(args)
    return run_scenario(args)


def _one_line(text: str, most: int = 12) -> str:
    """ape's "… Options:\\na\\nb…" on one line, the options listed up to `most`."""
    first, *options = text.splitlines()
    if not options:
        return first
    shown = ", ".join(options[:most]) + (", …" if len(options) > most else "")
    return f"{first} {shown}"


def check_arguments(args: argparse.Namespace) -> None:
    """The checks argparse cannot make, before anything runs or is written: one line and exit
    code 2 for each."""
    prog = "perpvault demo"
    if args.traders is not None and args.scenario != "oct10":
        usage_error(prog, f"--traders applies to oct10 only, not {args.scenario}")
    if args.network and not args.dry_run:
        usage_error(prog, "--network needs --dry-run: replaying on a remote network is not supported yet")
    if args.network:
        from perpvault.chain.session import network_uri

        try:
            network_uri(args.network)
        except Exception as exc:  # ape's NetworkError family, or a malformed choice
            reason = _one_line(str(exc)) or type(exc).__name__
            usage_error(prog, f"unknown network {args.network!r} ({reason}); a network is "
                              "ecosystem:network:provider, e.g. ethereum:staging:node or ethereum:local:foundry "
                              "(`ape networks list` shows every one)")


def run_scenario(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from perpvault import replay
    from perpvault.scenarios import build

    check_arguments(args)
    kwargs = {}
    if args.traders is not None:
        kwargs["traders"] = args.traders
    if args.seed is not None:
        kwargs["seed"] = args.seed
    sc = build(args.scenario, **kwargs)
    if args.dry_run:
        report = dry_run(sc, args)
    else:
        _say(
            f"== perpvault demo: scenario {sc.name} ({len(sc.traders)} traders, {sc.steps} steps) "
            "on a local Anvil"
        )
        report = replay.run(sc, Path(args.out), progress=progress_enabled(args.quiet), plot=not args.no_plot)
    out = Path(args.out)
    L, A, N, F = (
        report["layers"],
        report["adl"],
        report["naive_comparison"],
        report["insurance_fund"],
    )
    _say(
        f"  liquidations {L['liquidations']} ({L['accounts_liquidated']} accounts); into the "
        "vault at mark "
        f"{fmt_usdc(L['liquidated_at_mark_into_vault_notional'])} USDC notional"
    )
    _say(
        f"  insurance fund: covered {fmt_usdc(L['insurance_fund_cover'])}, low "
        f"{fmt_usdc(F['low'])} USDC"
    )
    _say(
        f"  ADL: {A['traders_deleveraged']} traders, shortfall "
        f"{fmt_usdc(A['uncovered_shortfall'])} = haircuts "
        f"{fmt_usdc(A['haircuts'])} (overshoot {fmt_usdc(A['overshoot'])}); naive policy overshoot "
        f"{fmt_usdc(N['overshoot'])} USDC, {N['traders_touched']} traders"
    )
    inv = report["invariants"]
    _say(
        f"  invariant checks: {sum(inv['checks'].values())} run, "
        + ("all hold" if inv["all_hold"] else f"{len(inv['violations'])} VIOLATED")
    )
    _say(
        "  time: "
        + ", ".join(
            f"{label} {report['timings_s'][k]:.1f} s"
            for k, label in replay.PHASES
            if k in report["timings_s"]
        )
    )
    _say(
        f"  wall time {report['timings_s']['wall']:.1f} s; "
        f"wrote {out / 'report.md'}, {out / 'report.json'}"
        + ("" if args.no_plot else f", {out / 'waterfall.png'}")
    )
    if not inv["all_hold"]:
        _say(json.dumps(inv["violations"][:10], indent=1))
        return 1
    return 0


def _reachable(url: str) -> int | None:
    """The node's latest block number, or None when it does not answer JSON-RPC."""
    import http.client

    from perpvault.chain.rpc import Rpc, RpcError

    rpc = Rpc(url, timeout=5.0)
    try:
        return rpc.block_number()
    except (OSError, http.client.HTTPException, RpcError, ValueError):
        return None
    finally:
        rpc.close()


def _arg(value: object) -> str:
    if isinstance(value, bytes):
        return "0x" + (value.hex() if len(value) <= 8 else value[:4].hex() + "..")
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_arg(v) for v in value) + ")"
    return str(value)


def print_transactions(transactions: list[dict]) -> None:
    """One line per transaction: index, from, to (contract), function(args), gas."""
    for i, tx in enumerate(transactions):
        gas = f"gas {tx['gas']:,}" if "gas" in tx else "gas ?"
        args = ", ".join(_arg(a) for a in tx["args"])
        _say(
            f"  {i:6d}  from {tx['from']}  to {tx['contract']} {tx['to']}  "
            f"{tx['function']}({args})  {gas}"
        )


def dry_run(sc, args: argparse.Namespace) -> dict:
    """Plan the replay without sending anything to any network. With a reachable `--network`
    node: play it on a local Anvil forking that node (the node answers the fork's reads and
    receives no transaction), recording every transaction with the gas it used there. Without
    one: play it on the reference model alone (no gas)."""
    import json
    from pathlib import Path

    from perpvault import replay

    url = block = None
    if args.network:
        from perpvault.chain.session import network_uri

        url = network_uri(args.network)
        block = _reachable(url) if url else None
    where = f"{args.network} ({url or 'no RPC URL'})" if args.network else "a local Anvil"
    if block is not None:
        _say(
            f"== perpvault demo --dry-run: scenario {sc.name} ({len(sc.traders)} traders, "
            f"{sc.steps} steps) for "
            f"{where}: played on a local fork of it at block {block}; nothing is sent to it"
        )
        report = replay.run(
            sc,
            Path(args.out),
            progress=progress_enabled(args.quiet),
            plot=not args.no_plot,
            chain=True,
            fork_url=url,
            record=True,
            keep=(kept := []),
        )
    else:
        reason = " (not reachable: no gas estimates)" if args.network else ""
        _say(
            f"== perpvault demo --dry-run: scenario {sc.name} ({len(sc.traders)} traders, "
            f"{sc.steps} steps) for "
            f"{where}{reason}; nothing is sent, the reference model plays it (contract addresses "
            "are its "
            "stand-ins: nothing is deployed)"
        )
        report = replay.run(
            sc,
            Path(args.out),
            progress=progress_enabled(args.quiet),
            plot=not args.no_plot,
            chain=False,
            record=True,
            keep=(kept := []),
        )
    from perpvault.chain.deploy import CONTRACTS

    transactions = kept[0].record
    _say(
        f"  would send {len(transactions)} transactions"
        + (
            ""
            if block is not None
            else f" (plus the deployment: {len(CONTRACTS)} contracts, their wiring and one "
            "add_market per market)"
        )
        + ":"
    )
    print_transactions(transactions)
    if block is not None:
        _say(f"  total gas {sum(t['gas'] for t in transactions):,}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "transactions.json").write_text(json.dumps(transactions, default=_arg) + "\n")
    _say(f"  wrote {out / 'transactions.json'}")
    return report


def run_story(args: argparse.Namespace | None = None) -> int:
    """The scripted walkthrough on a local Anvil; what it prints is also written to
    `--out`/story.md (default out/)."""
    from pathlib import Path

    global _transcript
    out = Path(getattr(args, "out", None) or "out")
    _transcript = []
    try:
        code = _story()
    finally:
        lines, _transcript = _transcript, None
    out.mkdir(parents=True, exist_ok=True)
    (out / "story.md").write_text("# perpvault demo: the story\n\n```\n" + "\n".join(lines) + "\n```\n")
    _say(f"wrote {out / 'story.md'}")
    return code


def _story() -> int:
    # Imported here: they pull in ape, which `perpvault --help` should not wait for.
    from perpvault.chain import deploy
    from perpvault.chain.actions import fund_account, set_price, trade
    from perpvault.chain.session import open_chain
    from perpvault.keeper import Keeper, Tally

    with open_chain() as session:
        cast = Cast.from_accounts(session.accounts)
        chain = session.chain
        _say(f"== perpvault demo: local Anvil, chain id {chain.chain_id:d}")
        system = deploy(cast.owner, cast.oracle_updater, project=session.project)
        for name, contract in system.contracts.items():
            _say(f"  {name:16s} {contract.address}")

        _say("\n== 1. liquidity: LP vault and insurance fund")
        fund_account(system, cast.lp, usdc(200_000), deposit=False)
        system.usdc.approve(system.vault, 2**256 - 1, sender=cast.lp)
        system.vault.deposit(usdc(200_000), cast.lp, sender=cast.lp)
        fund_account(system, cast.owner, usdc(1_500), deposit=False)
        system.usdc.approve(system.fund, 2**256 - 1, sender=cast.owner)
        system.fund.donate(usdc(1_500), sender=cast.owner)
        _say(
            f"  vault assets {fmt_usdc(system.vault.totalAssets())}, fund "
            f"{fmt_usdc(system.fund.available())}"
        )

        _say("\n== 2. traders open positions (signed orders, one vault trade)")
        for who, amount in [
            (cast.steady_long, 10_000),
            (cast.bankrupt_long, 10_000),
            (cast.reckless_long, 20_000),
            (cast.big_short, 40_000),
            (cast.hedged_short, 30_000),
            (cast.eth_long, 10_000),
        ]:
            fund_account(system, who, usdc(amount))
        system.vault.trade(BTC, size("1.1"), price(60_100), sender=cast.steady_long)
        trade(
            system, cast.big_short, cast.bankrupt_long, BTC, size("1.5"), price(60_030), chain=chain
        )
        trade(
            system, cast.big_short, cast.reckless_long, BTC, size("1.5"), price(60_030), chain=chain
        )
        trade(
            system,
            cast.hedged_short,
            cast.reckless_long,
            BTC,
            size("1.7"),
            price(60_030),
            chain=chain,
        )
        trade(system, cast.hedged_short, cast.eth_long, ETH, size(10), price(3_001), chain=chain)
        _table(system, cast)
        _invariants(system)

        _say("\n== 3. eight hours of funding (the vault is short 1.1 BTC: longs pay shorts)")
        chain.mine(timestamp=chain.pending_timestamp + 8 * 3600)
        set_price(system, BTC, price(60_000))
        set_price(system, ETH, price(3_000))
        for i in range(system.clearinghouse.account_count()):
            system.clearinghouse.settle_funding(
                system.clearinghouse.account_at(i), sender=cast.keeper_bot
            )
        # The index is atoms per whole base unit, scaled by 10**18.
        per_btc = system.clearinghouse.funding_index(BTC) // 10**18
        _say(f"  each BTC long paid each BTC short {fmt_usdc(per_btc)} USDC of funding")
        _table(system, cast)
        _invariants(system)

        _say("\n== 4. BTC falls 11.7% (60,000 -> 53,000); the keeper runs the waterfall")
        set_price(system, BTC, price(53_000))
        keeper = Keeper(system, cast.keeper_bot)
        names = cast.names() | {str(system.vault.address): "liquidity_vault"}
        tally = Tally()
        for liquidation in keeper.run():
            tally.add(liquidation)
            _say(f"  liquidate {names.get(str(liquidation.account), liquidation.account)}:")
            for line in liquidation.describe(names):
                _say(f"    - {line}")
        _table(system, cast)
        _invariants(system)

        _say("\n== 5. what each layer absorbed")
        for line in tally.lines():
            _say(f"  {line}")
        assert tally.haircuts == tally.socialized, "ADL must socialize exactly the shortfall"
        before = system.fund.available()
        system.clearinghouse.sweep_to_insurance(sender=cast.keeper_bot)
        _say(
            f"  penalties, the fund's fee share and rounding dust swept to the insurance fund: "
            f"{fmt_usdc(system.fund.available() - before)} USDC"
        )
        _say(
            f"  insurance fund now {fmt_usdc(system.fund.available())} USDC; "
            f"vault assets {fmt_usdc(system.vault.totalAssets())} USDC"
        )
        _invariants(system)
    return 0
