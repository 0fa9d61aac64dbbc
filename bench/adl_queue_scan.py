"""What the ADL queue's completeness check costs, as a function of the side's size n.

    .venv/bin/python bench/adl_queue_scan.py              # writes bench/results/adl_queue_scan.{md,json}
    .venv/bin/python bench/adl_queue_scan.py --markets 1  # counterparties in BTC only
    .venv/bin/python bench/adl_queue_scan.py --no-write

`liquidate` checks (adl.vy `_check_complete`) that no position left on the counterparties' side
ranks above the last one it closed, unless the keeper listed it and it was skipped as not
eligible: it scores every position on that side, so its gas grows with n. The worst case per
position is the one of bench/adl_list_bound.py: each short of 0.01 BTC belongs to a distinct
account with a position in every listed market (funding accrued in each), so scoring it reads
its health over all of them. A long of k x 0.01 BTC goes bankrupt (-2% of notional, empty
fund) and is closed against the k first shorts in ADL rank order; the other n - k are scanned.

The check reads at most QUEUE_SCAN_READS position reads (a holder one, plus one per market it
holds when it is scored: 9 for these holders), so its gas stops growing where the budget ends.
Rows: k = 1 at each n (the scan's slope, then its ceiling), and k = MAX_ADL with the budget
spent (the longest list and a full scan: the worst transaction the contracts allow).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from adl_list_bound import BLOCK_GAS, ListBench, _markets  # noqa: E402

SIDES = (10, 100, 300)


class ScanBench(ListBench):
    """ListBench whose bankruptcy may be partly covered by what the fund is owed (funding dust,
    rounding): the row is still one liquidation closed by ADL against k counterparties."""

    def _expect(self, receipt: dict, *, liquidated: int, to_vault: bool, covered: bool, adl: int) -> None:
        names = [e[0] for e in self.events(receipt)]
        assert names.count("Liquidated") == liquidated and names.count("Deleveraged") == adl, names
        assert "ShortfallSocialized" in names, names




def main(argv: list[str] | None = None) -> int:
    from perpvault.bench import write_results
    from perpvault.model.constants import MAX_ADL, MAX_MARKETS, QUEUE_SCAN_READS
    from perpvault.paths import ensure_tool_path

    ensure_tool_path()
    parser = argparse.ArgumentParser(prog="bench/adl_queue_scan.py", description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=MAX_MARKETS, help="markets listed (default MAX_MARKETS)")
    parser.add_argument("--sides", default=",".join(map(str, SIDES)), help="side sizes n measured with k = 1")
    parser.add_argument("--no-worst", action="store_true", help="skip the k = MAX_ADL row with the budget spent")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/results alone")
    args = parser.parse_args(argv)
    sides = sorted({int(x) for x in args.sides.split(",") if x.strip()})
    # No fees: the fills' fee shares would be dues the fund covers a small bankruptcy with.
    markets = tuple(replace(m, maker_fee=0, taker_fee=0) for m in _markets(args.markets))
    start = time.monotonic()
    rows = []
    with ScanBench(markets) as b:
        for n in sides:
            b.add_counterparties(n)
            rows.append({"n": n, **b.run_list(1)})
        if not args.no_worst:
            # Enough holders left after the k closed to spend the whole budget.
            n = MAX_ADL + QUEUE_SCAN_READS // (1 + len(markets)) + 1
            b.add_counterparties(max(n, len(b.cps)))
            rows.append({"n": len(b.cps), **b.run_list(MAX_ADL)})
    runtime = time.monotonic() - start
    scan = [r for r in rows if r["k"] == 1 and r["fits"] and (r["n"] - 1) * (1 + len(markets)) <= QUEUE_SCAN_READS]
    slope = (scan[-1]["gas"] - scan[0]["gas"]) // (scan[-1]["n"] - scan[0]["n"]) if len(scan) > 1 else None
    data = {
        "meta": {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runtime_s": round(runtime, 1)},
        "block_gas_limit": BLOCK_GAS, "markets": len(markets), "max_adl": MAX_ADL,
        "queue_scan_reads": QUEUE_SCAN_READS, "gas_per_scanned_position": slope, "rows": rows,
    }
    md = [
        "# The ADL queue's completeness check: gas against the side's size",
        "",
        f"`bench/adl_queue_scan.py`, {data['meta']['date']}, {runtime:.0f} s. Anvil with {BLOCK_GAS:,}-gas "
        f"blocks; {len(markets)} markets listed, no fees; every short on the side is a distinct account with a "
        "position in every market (funding accrued in each). k shorts are closed, the other n - k scanned.",
        "",
        "| n positions on the side | k closed | gas | share of a 30M block |",
        "|---:|---:|---:|---:|",
    ]
    for r in rows:
        md.append(f"| {r['n']:,} | {r['k']} | {r['gas']:,} | {r['gas'] / BLOCK_GAS:.1%} |" if r["fits"]
                  else f"| {r['n']:,} | {r['k']} | does not fit ({r['reason'] or 'out of gas'}) | - |")
    if slope is not None:
        md += ["", f"Gas per scanned position: **{slope:,}** (k = 1, n = {scan[0]['n']} to {scan[-1]['n']}; "
               f"{1 + len(markets)} reads each). The check stops after QUEUE_SCAN_READS = {QUEUE_SCAN_READS:,} reads: "
               f"{QUEUE_SCAN_READS // (1 + len(markets))} such positions."]
    md = "\n".join(md) + "\n"
    print()
    print(md)
    if not args.no_write:
        write_results("adl_queue_scan" + ("" if args.markets == MAX_MARKETS else f"_{args.markets}_markets"), data, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
