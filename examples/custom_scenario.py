"""A crash scenario of your own, replayed through the whole waterfall on a local Anvil.

    .venv/bin/python examples/custom_scenario.py [--out out/custom] [--model-only]

A scenario is data (perpvault.scenarios.Scenario): the markets, an oracle price path, a book
of traders (each a position opened at the first price with a leverage), what the LP vault and
the insurance fund start with. `perpvault.replay.run` plays it on a chain with the reference
model in lockstep (every balance compared after every step), runs the keeper after every
price, and writes report.md / report.json with what each layer absorbed.
"""

from __future__ import annotations

import argparse

from perpvault.params import DEFAULT_MARKETS
from perpvault.replay import run
from perpvault.scenarios import Scenario, TraderSpec
from perpvault.units import USDC, fmt_usdc, price

BTC, ETH = 0, 1


def scenario() -> Scenario:
    """BTC gaps down 14 % in one oracle update and rebounds a little; ETH drifts down 4 %."""
    btc = [60_000, 59_500, 51_000, 51_500, 52_000]
    eth = [3_000, 2_980, 2_920, 2_880, 2_900]
    book = (
        TraderSpec("degen", BTC, True, 20_000 * USDC, 9.5),  # bankrupt below ~53,700
        TraderSpec("swing", BTC, True, 50_000 * USDC, 5.0),  # 5x: the gap leaves it above maintenance
        TraderSpec("bear", BTC, False, 80_000 * USDC, 4.0),  # profits: first in the ADL queue
        TraderSpec("hedger", BTC, False, 60_000 * USDC, 2.0),
        TraderSpec("eth_bull", ETH, True, 30_000 * USDC, 6.0),
        TraderSpec("eth_bear", ETH, False, 30_000 * USDC, 6.0),
    )
    return Scenario(
        name="custom",
        seed=1,
        description="BTC -14 % in one update, a 9.5x long bankrupt, a thin insurance fund",
        markets=DEFAULT_MARKETS,
        prices=tuple((price(b), price(e)) for b, e in zip(btc, eth, strict=True)),
        traders=book,
        vault_deposit=500_000 * USDC,
        fund_donation=1_000 * USDC,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/custom", help="where report.md and report.json go")
    parser.add_argument("--model-only", action="store_true", help="the reference model alone, no chain")
    args = parser.parse_args(argv)

    report = run(scenario(), args.out, progress=False, plot=False, chain=not args.model_only)
    layers = report["layers"]
    print(f"{report['scenario']['name']}: {layers['liquidations']} liquidations of "
          f"{layers['accounts_liquidated']} accounts")
    print(f"  insurance fund covered {fmt_usdc(layers['insurance_fund_cover'])} USDC")
    print(f"  ADL haircuts           {fmt_usdc(layers['adl_haircuts'])} USDC")
    print(f"  LP vault PnL           {fmt_usdc(layers['vault_pnl'])} USDC")
    print(f"  invariants held every step: {report['invariants']['all_hold']}; report in {args.out}/report.md")


if __name__ == "__main__":
    main()
