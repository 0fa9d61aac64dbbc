"""How long an ADL list `Clearinghouse.liquidate` can run inside one 30M-gas block.

    .venv/bin/python bench/adl_list_bound.py              # writes bench/results/adl_list_bound.{md,json}
    .venv/bin/python bench/adl_list_bound.py --markets 2  # the default deployment's two markets only
    .venv/bin/python bench/adl_list_bound.py --no-write

The worst case per listed counterparty: every counterparty is a distinct account holding a
position in every listed market (MAX_MARKETS of them), with funding accrued in each, so the
waterfall settles MAX_MARKETS positions per counterparty, reads its health over all of them
twice (its ADL score and the no-debt check) and writes its margin and its funding indexes.
A long of k x 0.01 BTC, bought from a house account, goes bankrupt (equity -2% of notional,
less what the fund is owed: the fills' fee shares, which pay bad debt first) with an empty
insurance fund, so all of it is closed by ADL against k shorts of 0.01 BTC each,
in ADL rank order; the transaction is sent with a 30,000,000 gas limit on an Anvil whose
blocks hold 30,000,000 gas.

Two runs:

* probe: the contracts compiled with MAX_ADL raised to the largest k measured and the queue's
  completeness check down to one read (a copy of contracts/ with constants.vy edited), k = PROBE_KS: where
  the 30M block ends, and the gas per counterparty of the list alone;
* shipped: the repository's contracts at k = 16, MAX_ADL / 2 and MAX_ADL: the bound it ships
  with fits, the completeness check reading the rest of the side included
  (bench/adl_queue_scan.py prices that check and the worst list and check together).

The measuring plumbing is perpvault.bench's (accounts from fixed keys, fixed clock, raw RPC).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from perpvault.bench import FAR_EXPIRY, GENESIS, P0, Bench, price, size, write_results

BLOCK_GAS = 30_000_000
OSAKA_TX_CAP = 2**24  # EIP-7825's per-transaction cap (16,777,216), for reference
PROBE_KS = (16, 64, 128, 160, 192, 256)
CP_BTC = size(0.01)  # each counterparty's BTC short
ALT_PRICE = price(100)
ALT_NOTIONAL = 500 * 10**6  # atoms: each counterparty's long in every other market
CP_MARGIN = 2_000  # USDC; + i, so every counterparty has its own leverage and ADL score
HEARTBEAT_EVERY = 40  # counterparties between oracle heartbeats (max age 3,600 s, 1 s a block)


def _markets(n: int):
    from perpvault.params import DEFAULT_MARKETS, MarketSpec

    alts = tuple(MarketSpec(f"ALT{i}-PERP", ALT_PRICE) for i in range(2, n))
    return (DEFAULT_MARKETS + alts)[:n]


def _open_price(p: int) -> int:
    return p * 10_005 // 10_000  # 5 bp above the oracle: the traded EMA sits above, funding flows


class ListBench(Bench):
    """perpvault.bench's plumbing on an Anvil with 30M-gas blocks, over `markets`, deploying
    `contracts_dir`'s contracts."""

    def __init__(self, markets, contracts_dir: Path | None = None, log=print):
        from perpvault.chain.abi import load_artifacts
        from perpvault.chain.deploy import deploy
        from perpvault.chain.driver import dev_accounts
        from perpvault.chain.raw import raw_deployer
        from perpvault.chain.rpc import start_anvil

        self.trace = False
        self.log = log
        self.markets = markets
        flags = ["--timestamp", str(GENESIS), "--gas-limit", str(BLOCK_GAS)]
        self.anvil = start_anvil(accounts=4, extra_args=tuple(flags))
        try:
            self.rpc = self.anvil.rpc()
            self.rpc.call("anvil_setBlockTimestampInterval", [1])
            self.rpc.call("anvil_autoImpersonateAccount", [True])
            keys = dev_accounts(4)
            artifacts = load_artifacts(contracts_dir) if contracts_dir is not None else None
            self.s = deploy(keys[0].address, keys[1].address, markets=markets,
                            via=raw_deployer(self.rpc, keys=keys, artifacts=artifacts))
            s = self.s
            ch = s.abis["Clearinghouse"]
            self.f = {n: ch.fn(n) for n in ("health", "adl_score", "positions", "liquidate", "deposit",
                                            "insurance_due")}
            self.f_match = s.abis["OrderBook"].fn("match_orders")
            self.f_usdc = {n: s.abis["MockUSDC"].fn(n) for n in ("mint", "approve")}
            self.f_price = s.abis["PriceFeed"].fn("set_price")
            self.ch_events = self._event_topics(s.abis["Clearinghouse"])
            self.nonce = 0
            self.btc_price = P0
            self.heartbeat()
            self.keeper = self.acct("keeper")
            self.fund(self.keeper, 1_000)
            self.house = self.acct("house")
            self.fund(self.house, 50_000_000)
            self.cps: list[str] = []
        except BaseException:
            self.anvil.stop()
            raise

    def heartbeat(self) -> None:
        for m, spec in enumerate(self.markets):
            self.set_price(m, P0 if m == 0 else spec.initial_price)

    def trade(self, maker: str, taker: str, market: int, taker_size: int) -> None:
        from perpvault.chain.orders import Order

        p = _open_price(self.markets[market].initial_price)
        self.nonce += 1
        mo = Order(maker, market, -taker_size, p, self.nonce, FAR_EXPIRY)
        to = Order(taker, market, taker_size, p, self.nonce, FAR_EXPIRY)
        data = self.f_match.encode(mo.as_tuple(), self.s.signer.sign(mo), to.as_tuple(),
                                   self.s.signer.sign(to), abs(taker_size))
        self.send(taker, self.s.order_book, data)

    def add_counterparties(self, upto: int) -> None:
        """Counterparties until `upto` exist: each short 0.01 BTC to the house and long 500 USDC
        of every other market from it."""
        t = time.monotonic()
        for i in range(len(self.cps), upto):
            if i % HEARTBEAT_EVERY == 0:
                self.heartbeat()
            cp = self.acct(f"list-cp-{i}")
            self.fund(cp, CP_MARGIN + i)
            self.trade(cp, self.house, 0, CP_BTC)
            for m in range(1, len(self.markets)):
                self.trade(self.house, cp, m, ALT_NOTIONAL * 10**30 // self.markets[m].initial_price)
            self.cps.append(cp)
        self.log(f"  {upto} counterparties with positions in {len(self.markets)} markets "
                 f"({time.monotonic() - t:.0f} s)")

    def run_list(self, k: int) -> dict:
        """A long of k x 0.01 BTC bankrupt at -2% of notional, empty fund: liquidate with the k
        first counterparties in ADL rank order, sent with a 30M gas limit."""
        from perpvault.chain.rpc import TxReverted
        from perpvault.keeper import adl_key

        snap = self.snapshot()
        self.rpc.increase_time(600)  # funding accrues in every market: each settlement writes
        self.heartbeat()
        victim = self.acct(f"list-victim-{k}")
        self.fund(victim, 70 * k)  # ~8.6x on 600 USDC a counterparty
        self.trade(self.house, victim, 0, CP_BTC * k)
        # -2% of notional beyond what the fund is owed (the fills' fee shares pay bad debt first).
        self.set_price(0, self._price_for(victim, CP_BTC * k, -0.02, offset=self.call(self.f["insurance_due"])))
        scored = [(adl_key(self.call(self.f["adl_score"], cp, 0), cp), cp) for cp in self.cps]
        order = [cp for _, cp in sorted(scored)][:k]
        data = self.f["liquidate"].encode(victim, order)
        try:
            receipt = self.rpc.send_transaction(self.keeper, self.s.clearinghouse, data, gas=BLOCK_GAS,
                                                label=f"liquidate, {k} counterparties")
            gas, ok, reason = int(receipt["gasUsed"], 16), True, None
            self._expect(receipt, liquidated=1, to_vault=False, covered=True, adl=k)
        except TxReverted as exc:
            gas, ok, reason = None, False, exc.reason
        self.revert(snap)
        row = {"k": k, "gas": gas, "fits": ok, "reason": reason, "calldata_bytes": len(data)}
        self.log(f"  k = {k:5d}: " + (f"{gas:>12,d} gas" if ok else f"does not fit ({reason or 'out of gas'})"))
        return row


def _probe_contracts(bound: int, into: Path) -> Path:
    """A copy of contracts/ compiled with MAX_ADL = `bound` and the queue's completeness check
    down to one read (QUEUE_SCAN_READS = 1), so the probe prices the list alone."""
    from perpvault.paths import repo_root

    dst = into / "contracts"
    shutil.copytree(repo_root() / "contracts", dst)
    constants = dst / "modules" / "constants.vy"
    text, n = re.subn(r"^MAX_ADL: constant\(uint256\) = \d+$", f"MAX_ADL: constant(uint256) = {bound}",
                      constants.read_text(), flags=re.M)
    assert n == 1, "MAX_ADL not found in constants.vy"
    text, n = re.subn(r"^QUEUE_SCAN_READS: constant\(uint256\) = [\d_]+$", "QUEUE_SCAN_READS: constant(uint256) = 1",
                      text, flags=re.M)
    assert n == 1, "QUEUE_SCAN_READS not found in constants.vy"
    constants.write_text(text)
    return dst


def run(ks: tuple[int, ...], markets, contracts_dir: Path | None, log=print) -> list[dict]:
    with ListBench(markets, contracts_dir, log=log) as b:
        b.add_counterparties(max(ks))
        return [b.run_list(k) for k in ks]


def per_counterparty(rows: list[dict]) -> tuple[int, int]:
    """(gas per additional counterparty, the fixed part) from the two largest fitting runs."""
    fit = sorted((r for r in rows if r["fits"]), key=lambda r: r["k"])
    a, b = fit[-2], fit[-1]
    slope = (b["gas"] - a["gas"]) // (b["k"] - a["k"])
    return slope, b["gas"] - slope * b["k"]


def report(probe: list[dict], shipped: list[dict], n_markets: int, max_adl: int, runtime: float) -> tuple[dict, str]:
    slope, fixed = per_counterparty(probe)
    largest_block = (BLOCK_GAS - fixed) // slope
    largest_tx = (OSAKA_TX_CAP - fixed) // slope
    data = {
        "meta": {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runtime_s": round(runtime, 1)},
        "block_gas_limit": BLOCK_GAS,
        "markets": n_markets,
        "max_adl": max_adl,
        "gas_per_counterparty": slope,
        "fixed_gas": fixed,
        "largest_list_30m_block": largest_block,
        "largest_list_osaka_tx_cap": largest_tx,
        "probe": probe,
        "shipped": shipped,
    }
    md = [
        "# The longest ADL list one liquidation can run",
        "",
        f"`bench/adl_list_bound.py`, {data['meta']['date']}, {runtime:.0f} s. Anvil with "
        f"{BLOCK_GAS:,}-gas blocks; {n_markets} markets listed. Worst case: each listed counterparty is a "
        "distinct account with a position in every market (funding accrued in each); a long of k x 0.01 BTC "
        "bankrupt at -2% of notional, empty insurance fund, closed by ADL against k shorts of 0.01 BTC in ADL "
        "rank order. Gas is the receipt's `gasUsed`.",
        "",
        "## Probe (contracts compiled with MAX_ADL = the largest k, the completeness check down to one read)",
        "",
        "| k counterparties | gas | fits 30M | calldata bytes |",
        "|---:|---:|---|---:|",
    ]
    for r in probe:
        md.append(f"| {r['k']} | {r['gas']:,} | yes | {r['calldata_bytes']:,} |" if r["fits"]
                  else f"| {r['k']} | - | no ({r['reason'] or 'out of gas'}) | {r['calldata_bytes']:,} |")
    md += [
        "",
        f"Gas per additional counterparty: **{slope:,}**; fixed part {fixed:,}. Largest list in a 30M block: "
        f"**{largest_block}**; under Osaka's per-transaction cap of {OSAKA_TX_CAP:,} gas (EIP-7825): "
        f"{largest_tx}.",
        "",
        f"## Shipped contracts (MAX_ADL = {max_adl}; the completeness check reads the rest of the side)",
        "",
        "| k counterparties | gas | share of a 30M block |",
        "|---:|---:|---:|",
    ]
    for r in shipped:
        md.append(f"| {r['k']} | {r['gas']:,} | {r['gas'] / BLOCK_GAS:.1%} |" if r["fits"]
                  else f"| {r['k']} | does not fit ({r['reason'] or 'out of gas'}) | - |")
    return data, "\n".join(md) + "\n"


def main(argv: list[str] | None = None) -> int:
    from perpvault.model.constants import MAX_ADL, MAX_MARKETS
    from perpvault.paths import ensure_tool_path

    ensure_tool_path()
    parser = argparse.ArgumentParser(prog="bench/adl_list_bound.py", description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=MAX_MARKETS, help="markets listed (default MAX_MARKETS)")
    parser.add_argument("--probe", default=",".join(map(str, PROBE_KS)), help="list lengths of the probe run")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/results alone")
    args = parser.parse_args(argv)
    ks = tuple(int(x) for x in args.probe.split(",") if x.strip())
    markets = _markets(args.markets)
    start = time.monotonic()
    print(f"probe: MAX_ADL = {max(ks)}, {len(markets)} markets")
    with tempfile.TemporaryDirectory() as tmp:
        probe = run(ks, markets, _probe_contracts(max(ks), Path(tmp)))
    print(f"shipped: MAX_ADL = {MAX_ADL}")
    shipped = run(tuple(sorted({16, MAX_ADL // 2, MAX_ADL})), markets, None)
    data, md = report(probe, shipped, len(markets), MAX_ADL, time.monotonic() - start)
    print()
    print(md)
    if not args.no_write:
        write_results("adl_list_bound" + ("" if args.markets == MAX_MARKETS else f"_{args.markets}_markets"), data, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
