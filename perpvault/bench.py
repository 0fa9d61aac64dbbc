"""`perpvault bench gas`: the gas of every operation against its storage floor.

One place holds the measuring code; ``bench/gas.py`` and the regression guard
(``tests/bench/test_gas_regression.py``) call it.

How it measures
---------------
* Its own Anvil (``--steps-tracing`` when tracing), the system deployed by
  :func:`perpvault.chain.deploy.deploy` through the raw driver's deployer
  (:func:`perpvault.chain.raw.raw_deployer`), driven over raw JSON-RPC.
* Deterministic: fixed genesis timestamp, one second per block
  (``anvil_setBlockTimestampInterval``), accounts from fixed keys, order nonces reset per
  scenario. The same scenario gives the same gas on every run, with or without tracing,
  so the guard's numbers compare with the bench's.
* Gas: ``gasUsed`` of the receipt (after refunds). Every measured transaction is sent
  after 12 s more (a new block, funding accrues, as on a live chain) from the account
  that would really send it.
* Storage, from ``debug_traceTransaction``: the struct log gives every SLOAD/SSTORE with
  its storage context (tracked through CALL/STATICCALL/DELEGATECALL), so each distinct
  slot's first access is a cold one (2,100; checked against the step's gas cost); the
  ``prestateTracer`` diff gives each written slot's value before the transaction, so a
  net write is new (0 -> x, 20,000), changed (x -> y, 2,900) or cleared (x -> 0,
  2,900 less a 4,800 refund).
* Floor: 21,000 + calldata (16 a nonzero byte, 4 a zero byte) + 2,100 per distinct
  storage slot touched (all are cold: no access lists) + 20,000 per new slot + 2,900 per
  changed or cleared slot - 4,800 per cleared slot (refunds capped at a fifth, EIP-3529).
  It leaves out everything that is not storage: cold contract accounts (2,600 each),
  ecrecover (3,000), logs, memory and computation.

Scenarios (BTC-PERP at 60,000; fills 5 bp above the oracle so the traded EMA sits above
the index and funding flows on every touch):

* trading: deposits, withdrawals, signed-order fills that open, increase, reduce and close
  a position on both sides, settle_funding, a vault trade, an LP deposit and withdrawal;
* liquidations of a 1 BTC long: partial (equity 3% of notional), full to the vault
  (0.5%), bad debt covered by the fund (-0.5%);
* ADL of a long closed against k = 1, 2, 5, 10 shorts (equity -2% of notional, empty fund);
* scaling: the liquidations and ADL again with 10, 100 and 1,000 other open positions in
  the market (real deposits and fills).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from perpvault.paths import repo_root

BTC, ETH = 0, 1
USDC = 10**6
WAD = 10**18
FAR_EXPIRY = 2**40
GENESIS = 1_767_225_600  # 2026-01-01T00:00:00Z: fixed, so every run has the same clock
STEP = 12  # seconds before each measured transaction
MEASURE_GAS = 15_000_000  # under Osaka's 2**24 per-transaction cap (EIP-7825)

# Floor model (gas)
TX_BASE = 21_000
COLD_SLOT = 2_100
NEW_SLOT = 20_000
CHANGED_SLOT = 2_900
CLEAR_REFUND = 4_800

TARGETS = {"fill": 150_000, "full_liquidation": 250_000, "adl_per_counterparty": 60_000}
SCALING_NS = (10, 100, 1_000)
SCALING_GOAL = 1.05
GUARD_TOLERANCE = 0.10

RESULTS = repo_root() / "bench" / "results"


def write_results(stem: str, data: dict, md: str) -> None:
    """A bench script's table: bench/results/<stem>.json and .md, and say so."""
    (RESULTS / f"{stem}.json").write_text(json.dumps(data, indent=2) + "\n")
    (RESULTS / f"{stem}.md").write_text(md)
    print(f"wrote {RESULTS / stem}.md and .json")

# key -> label, in table order
OPERATIONS: dict[str, str] = {
    "deposit_first": "deposit (first: registers the account)",
    "deposit": "deposit (known account)",
    "withdraw_flat": "withdraw (no position)",
    "fill_new": "signed-order fill: new position (both sides)",
    "fill_increase": "signed-order fill: increase (both sides)",
    "settle_funding": "funding settlement on touch (settle_funding, 1 position)",
    "withdraw": "withdraw (1 open position)",
    "fill_reduce": "signed-order fill: reduce (both sides)",
    "fill_close": "signed-order fill: close (both sides)",
    "vault_trade": "vault trade (trader opens a short, vault's long grows)",
    "lp_deposit": "LP deposit (first, vault holds a position)",
    "lp_withdraw": "LP withdraw",
    "liq_partial": "partial liquidation (to the vault)",
    "liq_full_vault": "full liquidation to the vault",
    "liq_full_vault_first": "full liquidation to the vault, its first position in the market",
    "liq_fund_cover": "liquidation with fund cover (bad debt, then to the vault)",
    "adl_1": "liquidation + ADL, 1 counterparty",
    "adl_2": "liquidation + ADL, 2 counterparties",
    "adl_5": "liquidation + ADL, 5 counterparties",
    "adl_10": "liquidation + ADL, 10 counterparties",
}
ADL_KS = (1, 2, 5, 10)
SCALED_OPS = ("liq_partial", "liq_full_vault", "liq_fund_cover", "adl_1", "adl_5")
# The regression guard's subset: fast, and one of each kind.
GUARD_LIQUIDATIONS = ("liq_partial", "liq_full_vault", "adl_2")


def price(x: float | int) -> int:
    return int(round(x * 10**6)) * 10**12


def size(x: float | int) -> int:
    return int(round(x * 10**6)) * 10**12


P0 = price(60_000)
P_OPEN = P0 * 10_005 // 10_000  # 5 bp above the oracle
ETH_P0 = price(3_000)


# --- accounts ----------------------------------------------------------------------------


def _account(tag: str) -> tuple[str, bytes]:
    """A fixed key per name: the same address in every run and at every n."""
    from coincurve import PrivateKey
    from eth_hash.auto import keccak
    from eth_utils import to_checksum_address

    secret = keccak(b"perpvault-bench:" + tag.encode())
    key = PrivateKey(secret)
    return to_checksum_address(keccak(key.public_key.format(compressed=False)[1:])[-20:]), secret


# --- trace analysis ----------------------------------------------------------------------

CALL_OPS = ("CALL", "STATICCALL")
CTX_OPS = ("DELEGATECALL", "CALLCODE")
ACCOUNT_OPS = ("EXTCODESIZE", "EXTCODEHASH", "EXTCODECOPY", "BALANCE")
PRECOMPILES = {"0x" + f"{i:040x}" for i in range(1, 0x12)}


def _addr(word: str) -> str:
    return "0x" + int(word, 16).to_bytes(32, "big")[-20:].hex()


def calldata_gas(data: bytes) -> tuple[int, int]:
    zeros = data.count(0)
    return zeros, 16 * (len(data) - zeros) + 4 * zeros


@dataclass
class Measurement:
    op: str
    gas: int
    calldata_bytes: int = 0
    calldata_gas: int = 0
    traced: bool = False
    sload: int = 0  # SLOAD executions
    sload_cold: int = 0
    sstore: int = 0  # SSTORE executions
    slots_touched: int = 0  # distinct slots (each cold once)
    slots_read_only: int = 0
    slots_new: int = 0  # 0 -> x
    slots_changed: int = 0  # x -> y
    slots_cleared: int = 0  # x -> 0
    slots_rewritten: int = 0  # written, back to its value at the start
    refund: int = 0
    calls: int = 0
    oracle_calls: int = 0
    cold_accounts: int = 0
    by_contract: dict[str, dict[str, int]] = field(default_factory=dict)
    breakdown: dict[str, int] = field(default_factory=dict)
    floor: int = 0

    @property
    def ratio(self) -> float:
        return self.gas / self.floor if self.floor else 0.0

    def as_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items()}
        d["ratio"] = round(self.ratio, 3)
        d["label"] = OPERATIONS.get(self.op, self.op)
        return d


def gas_breakdown(steps: list[dict], oracle: str, gas_used: int, cd_gas: int) -> dict[str, int]:
    """Where the gas went, by kind of work, each step counted once (its own cost; a call's
    own cost is its access and memory charge; calls to the oracle are counted whole).

    Classes: intrinsic (21,000 + calldata), sload_cold, sload_warm, sstore, oracle (every
    STATICCALL to the PriceFeed, callee included), calls (other calls' own cost, ecrecover
    included), log, keccak, compute (everything else), refund (negative).
    """
    out = {
        "intrinsic": TX_BASE + cd_gas,
        "sload_cold": 0,
        "sload_warm": 0,
        "sstore": 0,
        "oracle": 0,
        "calls": 0,
        "log": 0,
        "keccak": 0,
        "compute": 0,
    }
    n = len(steps)
    # next step at the same depth, for calls
    nxt = [n] * n
    open_at: dict[int, list[int]] = {}
    for i, st in enumerate(steps):
        d = st["depth"]
        for dd in [k for k in open_at if k >= d]:
            for j in open_at.pop(dd):
                nxt[j] = i
        open_at.setdefault(d, []).append(i)
    skip_until = -1
    for i, st in enumerate(steps):
        if i < skip_until:
            continue
        op, cost = st["op"], st["gasCost"]
        if op in CALL_OPS + CTX_OPS:
            j = nxt[i]
            after = steps[j]["gas"] if j < n else steps[-1]["gas"] - steps[-1]["gasCost"]
            inclusive = st["gas"] - after
            callee = i + 1 < n and steps[i + 1]["depth"] == st["depth"] + 1
            if op == "STATICCALL" and _addr(st["stack"][-2]) == oracle:
                out["oracle"] += inclusive
                skip_until = j
                continue
            if callee:
                last = steps[j - 1]
                used = steps[i + 1]["gas"] - (last["gas"] - last["gasCost"])
                out["calls"] += inclusive - used
            else:
                out["calls"] += inclusive
        elif op == "SLOAD":
            out["sload_cold" if cost >= COLD_SLOT else "sload_warm"] += cost
        elif op == "SSTORE":
            out["sstore"] += cost
        elif op.startswith("LOG"):
            out["log"] += cost
        elif op in ("KECCAK256", "SHA3"):
            out["keccak"] += cost
        else:
            out["compute"] += cost
    out["refund"] = gas_used - sum(out.values())
    return out


def analyze(
    rpc, tx_hash: str, sender: str, to: str, data: bytes, names: dict[str, str], m: Measurement
) -> None:
    """Fill `m`'s storage columns and floor from the struct log and the prestate diff."""
    zeros, cd_gas = calldata_gas(data)
    m.calldata_bytes, m.calldata_gas = len(data), cd_gas
    trace = rpc.call(
        "debug_traceTransaction",
        [tx_hash, {"disableStorage": True, "enableMemory": False, "enableReturnData": False}],
    )
    diff = rpc.call(
        "debug_traceTransaction",
        [
            tx_hash,
            {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True, "disableCode": True}},
        ],
    )
    steps = trace["structLogs"]
    if not steps:
        raise RuntimeError("empty struct log: start Anvil with --steps-tracing")
    to = to.lower()
    ctx: dict[int, str] = {1: to}
    pending = to
    depth = 1
    first: dict[tuple[str, int], str] = {}
    final: dict[tuple[str, int], int] = {}
    warm = {sender.lower(), to} | PRECOMPILES
    oracle = next((a for a, n in names.items() if n == "PriceFeed"), "")
    per: dict[str, dict[str, int]] = {}

    def bump(addr: str, key: str, n: int = 1) -> None:
        c = per.setdefault(names.get(addr, addr), {})
        c[key] = c.get(key, 0) + n

    for st in steps:
        d = st["depth"]
        if d > depth:
            ctx[d] = pending
        depth = d
        op = st["op"]
        if op == "SLOAD":
            here = ctx[d]
            key = (here, int(st["stack"][-1], 16))
            m.sload += 1
            bump(here, "sload")
            if key not in first:
                first[key] = "r"
                m.sload_cold += 1
                bump(here, "cold_slots")
                if st["gasCost"] < COLD_SLOT:
                    raise RuntimeError(f"slot {key} first read warm ({st['gasCost']} gas)")
        elif op == "SSTORE":
            here = ctx[d]
            key = (here, int(st["stack"][-1], 16))
            m.sstore += 1
            bump(here, "sstore")
            if key not in first:
                first[key] = "w"
                bump(here, "cold_slots")
            final[key] = int(st["stack"][-2], 16)
        elif op in CALL_OPS:
            target = _addr(st["stack"][-2])
            pending = target
            m.calls += 1
            if target == oracle:
                m.oracle_calls += 1
            if target not in warm:
                warm.add(target)
                m.cold_accounts += 1
        elif op in CTX_OPS:
            target = _addr(st["stack"][-2])
            pending = ctx[d]
            m.calls += 1
            if target not in warm:
                warm.add(target)
                m.cold_accounts += 1
        elif op in ACCOUNT_OPS:
            target = _addr(st["stack"][-1])
            if target not in warm:
                warm.add(target)
                m.cold_accounts += 1
    m.refund = steps[-1].get("refund", 0)
    m.breakdown = gas_breakdown(steps, oracle, m.gas, cd_gas)

    pre = {
        a.lower(): {int(k, 16): int(v, 16) for k, v in (acc.get("storage") or {}).items()}
        for a, acc in diff.get("pre", {}).items()
    }
    post = {
        a.lower(): {int(k, 16): int(v, 16) for k, v in (acc.get("storage") or {}).items()}
        for a, acc in diff.get("post", {}).items()
    }
    for (addr, slot), value in final.items():
        if slot in pre.get(addr, {}):
            original = pre[addr][slot]
        elif slot in post.get(addr, {}):
            original = 0
        else:
            original = value  # unchanged over the transaction
        if value == original:
            m.slots_rewritten += 1
        elif original == 0:
            m.slots_new += 1
            bump(addr, "new")
        elif value == 0:
            m.slots_cleared += 1
            bump(addr, "cleared")
        else:
            m.slots_changed += 1
            bump(addr, "changed")
    m.slots_touched = len(first)
    m.slots_read_only = sum(1 for k in first if k not in final)
    m.by_contract = per
    m.traced = True
    gross = (
        TX_BASE
        + cd_gas
        + COLD_SLOT * m.slots_touched
        + NEW_SLOT * m.slots_new
        + CHANGED_SLOT * (m.slots_changed + m.slots_cleared)
    )
    m.floor = gross - min(CLEAR_REFUND * m.slots_cleared, gross // 5)


# --- the bench ---------------------------------------------------------------------------


class Bench:
    """One Anvil, the system, and the scenarios. Use as a context manager."""

    def __init__(self, *, trace: bool = True, log=print, first_takeover: bool = False):
        from perpvault.chain.deploy import deploy
        from perpvault.chain.driver import dev_accounts
        from perpvault.chain.raw import raw_deployer
        from perpvault.chain.rpc import start_anvil

        self.trace = trace
        self.log = log
        flags = ["--timestamp", str(GENESIS), "--gas-limit", "60000000"]
        if trace:
            flags.append("--steps-tracing")
        self.anvil = start_anvil(accounts=4, extra_args=tuple(flags))
        try:
            self.rpc = self.anvil.rpc()
            self.rpc.call("anvil_setBlockTimestampInterval", [1])
            self.rpc.call("anvil_autoImpersonateAccount", [True])
            keys = dev_accounts(4)
            self.s = deploy(keys[0].address, keys[1].address, via=raw_deployer(self.rpc, keys=keys))
            self._setup(first_takeover)
        except BaseException:
            self.anvil.stop()
            raise

    def _setup(self, first_takeover: bool) -> None:
        s = self.s
        self.names = {a.lower(): n for n, a in s.addresses.items()}
        self.names["0x0000000000000000000000000000000000000001"] = "ecrecover"
        ch = s.abis["Clearinghouse"]
        self.f = {
            n: ch.fn(n)
            for n in (
                "health",
                "adl_score",
                "positions",
                "liquidate",
                "deposit",
                "withdraw",
                "settle_funding",
                "margin",
            )
        }
        self.f_match = s.abis["OrderBook"].fn("match_orders")
        vault = s.abis["LiquidityVault"]
        self.f_vault = {n: vault.fn(n) for n in ("trade", "deposit", "withdraw", "balanceOf")}
        self.f_usdc = {n: s.abis["MockUSDC"].fn(n) for n in ("mint", "approve")}
        self.f_donate = s.abis["InsuranceFund"].fn("donate")
        self.f_price = s.abis["PriceFeed"].fn("set_price")
        self.ch_events = self._event_topics(s.abis["Clearinghouse"])
        self.results: dict[str, Measurement] = {}
        self.scaling: dict[str, dict[int, int]] = {}
        self.scaling_detail: dict[str, dict[int, Measurement]] = {}
        self.nonce = 0
        self.btc_price = P0
        # Base state: LP capital in the vault, a registered keeper.
        self.heartbeat()
        self.lp = self.acct("lp")
        self.mint(self.lp, 5_000_000 * USDC)
        self.send(self.lp, s.usdc, self.f_usdc["approve"].encode(s.vault, 2**256 - 1))
        self.send(self.lp, s.vault, self.f_vault["deposit"].encode(2_000_000 * USDC, self.lp))
        self.keeper = self.acct("keeper")
        self.fund(self.keeper, 1_000)
        # A live market: a standing pair of positions traded above the oracle, ten minutes of
        # funding, so the funding index, open interest and funding weight are already nonzero
        # (otherwise the first measured touch pays 20,000 for each of them).
        house_long, house_short = self.acct("house-long"), self.acct("house-short")
        self.fund(house_long, 100_000)
        self.fund(house_short, 100_000)
        self.fill(house_short, house_long, size(1))
        self.rpc.increase_time(600)
        self.heartbeat()
        self.send(self.keeper, s.clearinghouse, self.f["settle_funding"].encode(house_long))
        if first_takeover:  # measured before the vault holds anything in BTC-PERP
            self.run_liquidation("liq_full_vault_first")
        # ... and a vault that has taken over a liquidated position before: it holds 1 BTC
        # long and its loss-cap peak is recorded (otherwise every take-over measured would
        # pay for the vault's first position in the market and its first peak: 5 new slots).
        self.nonce = 100  # the same orders whether or not the first take-over was measured
        v = self._victim("house", 6_500)
        self.set_price(BTC, self._price_for(v, size(1), 0.005))
        self.send(self.keeper, s.clearinghouse, self.f["liquidate"].encode(v, []))
        assert self.call(self.f["positions"], s.vault, BTC)[0] == size(1)
        self.heartbeat()

    def _event_topics(self, abi) -> dict[str, str]:
        from eth_hash.auto import keccak

        from perpvault.chain.abi import abi_type

        out = {}
        for entry in self.s.artifacts["Clearinghouse"].abi:
            if entry.get("type") == "event":
                sig = f"{entry['name']}({','.join(abi_type(i) for i in entry['inputs'])})"
                out["0x" + keccak(sig.encode()).hex()] = entry["name"]
        return out

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.rpc.close()
        self.anvil.stop()

    # -- plumbing

    def acct(self, tag: str) -> str:
        address, secret = _account(tag)
        self.s.signer.add_key(address, secret)
        return address

    def send(self, sender: str, to: str, data: bytes, label: str = "") -> dict:
        return self.rpc.send_transaction(sender, to, data, gas=MEASURE_GAS, label=label)

    def call(self, fn, *args, to: str | None = None):
        return fn.decode(self.rpc.eth_call(to or self.s.clearinghouse, fn.encode(*args)))

    def mint(self, who: str, amount: int) -> None:
        self.send(self.s.owner, self.s.usdc, self.f_usdc["mint"].encode(who, amount))

    def fund(self, who: str, usdc: int) -> None:
        """Mint, approve the clearinghouse, deposit `usdc` whole USDC."""
        s = self.s
        self.mint(who, 2 * usdc * USDC)
        self.send(who, s.usdc, self.f_usdc["approve"].encode(s.clearinghouse, 2**256 - 1))
        self.send(who, s.clearinghouse, self.f["deposit"].encode(usdc * USDC))

    def set_price(self, market: int, p: int) -> None:
        self.send(self.s.oracle_updater, self.s.feed, self.f_price.encode(market, p))
        if market == BTC:
            self.btc_price = p

    def heartbeat(self) -> None:
        self.set_price(BTC, P0)
        self.set_price(ETH, ETH_P0)

    def match_data(
        self, maker: str, taker: str, taker_size: int, p: int, market: int = BTC
    ) -> bytes:
        from perpvault.chain.orders import Order

        self.nonce += 1
        mo = Order(maker, market, -taker_size, p, self.nonce, FAR_EXPIRY)
        to = Order(taker, market, taker_size, p, self.nonce, FAR_EXPIRY)
        return self.f_match.encode(
            mo.as_tuple(),
            self.s.signer.sign(mo),
            to.as_tuple(),
            self.s.signer.sign(to),
            abs(taker_size),
        )

    def fill(self, maker: str, taker: str, taker_size: int, p: int = P_OPEN) -> None:
        self.send(taker, self.s.order_book, self.match_data(maker, taker, taker_size, p))

    def measure(
        self, op: str, sender: str, to: str, data: bytes, record: bool = True
    ) -> tuple[Measurement, dict]:
        self.rpc.increase_time(STEP)
        receipt = self.send(sender, to, data, label=op)
        m = Measurement(op, int(receipt["gasUsed"], 16))
        m.calldata_bytes, m.calldata_gas = len(data), calldata_gas(data)[1]
        if self.trace:
            analyze(self.rpc, receipt["transactionHash"], sender, to, data, self.names, m)
        if record:
            self.results[op] = m
        self.log(
            f"  {op:16s} {m.gas:>10,d} gas"
            + (f"  floor {m.floor:>9,d}  x{m.ratio:.2f}" if m.traced else "")
        )
        return m, receipt

    def events(self, receipt: dict) -> list[tuple[str, list[str], bytes]]:
        ch = self.s.clearinghouse.lower()
        out = []
        for lg in receipt["logs"]:
            if lg["address"].lower() == ch and lg["topics"]:
                name = self.ch_events.get(lg["topics"][0], "?")
                out.append((name, lg["topics"], bytes.fromhex(lg["data"][2:])))
        return out

    def snapshot(self) -> str:
        return self.rpc.snapshot()

    def revert(self, snap: str) -> None:
        self.rpc.revert(snap)
        self.btc_price = P0

    # -- scenarios

    def run_trading(self) -> None:
        """deposit, withdraw, fills over a position's life, settle_funding, vault trade, LP."""
        s, f = self.s, self.f
        snap = self.snapshot()
        self.nonce = 0
        self.heartbeat()
        a, b = self.acct("trader-a"), self.acct("trader-b")
        self.mint(a, 100_000 * USDC)
        self.send(a, s.usdc, self.f_usdc["approve"].encode(s.clearinghouse, 2**256 - 1))
        self.measure("deposit_first", a, s.clearinghouse, f["deposit"].encode(20_000 * USDC))
        self.measure("deposit", a, s.clearinghouse, f["deposit"].encode(1_000 * USDC))
        self.measure("withdraw_flat", a, s.clearinghouse, f["withdraw"].encode(1_000 * USDC))
        self.fund(b, 20_000)
        self.measure("fill_new", a, s.order_book, self.match_data(b, a, size(0.2), P_OPEN))
        self.measure("fill_increase", a, s.order_book, self.match_data(b, a, size(0.1), P_OPEN))
        _, r = self.measure(
            "settle_funding", self.keeper, s.clearinghouse, f["settle_funding"].encode(a)
        )
        assert any(e[0] == "FundingSettled" for e in self.events(r)), (
            "settle_funding settled nothing"
        )
        self.measure("withdraw", a, s.clearinghouse, f["withdraw"].encode(1_000 * USDC))
        self.measure("fill_reduce", a, s.order_book, self.match_data(b, a, -size(0.1), P_OPEN))
        self.measure("fill_close", a, s.order_book, self.match_data(b, a, -size(0.2), P_OPEN))
        assert (
            self.call(f["positions"], a, BTC)[0] == 0 and self.call(f["positions"], b, BTC)[0] == 0
        )
        # Vault trade: c opens a short against the vault, whose long grows (1 BTC from the
        # base state's take-over, 0.2 more from d first).
        c, d = self.acct("trader-c"), self.acct("trader-d")
        self.fund(c, 20_000)
        self.fund(d, 20_000)
        vt = self.f_vault["trade"]
        self.send(d, s.vault, vt.encode(BTC, -size(0.2), 1))
        self.measure("vault_trade", c, s.vault, vt.encode(BTC, -size(0.2), 1))
        # LP: a second LP deposits into a vault that holds a position, then withdraws part.
        lp2 = self.acct("lp-2")
        self.mint(lp2, 100_000 * USDC)
        self.send(lp2, s.usdc, self.f_usdc["approve"].encode(s.vault, 2**256 - 1))
        self.measure("lp_deposit", lp2, s.vault, self.f_vault["deposit"].encode(50_000 * USDC, lp2))
        self.measure(
            "lp_withdraw", lp2, s.vault, self.f_vault["withdraw"].encode(10_000 * USDC, lp2, lp2)
        )
        self.revert(snap)

    def _price_for(self, account: str, q: int, frac: float, offset: int = 0) -> int:
        """The BTC price at which `account` (one long of `q`) has equity = frac x notional
        - offset (atoms)."""
        eq = self.call(self.f["health"], account)[0]
        cur = self.btc_price
        # E(P) = eq + q (P - cur) / 1e30 ; want E(P) = frac q P / 1e30 - offset
        base = cur * 10**30 // 10**30 - (eq + offset) * 10**30 // q
        return int(base / (1 - frac))

    def _victim(self, tag: str, margin_usdc: int) -> str:
        v, mk = self.acct(f"{tag}-victim"), self.acct(f"{tag}-maker")
        self.fund(v, margin_usdc)
        self.fund(mk, 50_000)
        self.fill(mk, v, size(1))
        return v

    def _expect(
        self, receipt: dict, *, liquidated: int, to_vault: bool, covered: bool, adl: int
    ) -> None:
        ev = self.events(receipt)
        names = [e[0] for e in ev]
        liq = [e for e in ev if e[0] == "Liquidated"]
        assert len(liq) == liquidated, names
        assert all(bool(e[2][-1]) == to_vault for e in liq), names
        assert ("BadDebtCovered" in names) == covered, names
        assert names.count("Deleveraged") == adl, names

    def run_liquidation(self, op: str, n: int | None = None) -> Measurement:
        """A 1 BTC long bought at 60,030 with 6,500 USDC, the price moved to a regime,
        liquidated."""
        snap = self.snapshot()
        self.nonce = 0
        self.heartbeat()
        frac = {
            "liq_partial": 0.03,
            "liq_full_vault": 0.005,
            "liq_full_vault_first": 0.005,
            "liq_fund_cover": -0.005,
        }[op]
        v = self._victim("liq", 6_500)
        if op == "liq_fund_cover":
            donor = self.acct("donor")
            self.mint(donor, 10_000 * USDC)
            self.send(donor, self.s.usdc, self.f_usdc["approve"].encode(self.s.fund, 2**256 - 1))
            self.send(donor, self.s.fund, self.f_donate.encode(5_000 * USDC))
        self.set_price(BTC, self._price_for(v, size(1), frac))
        m, r = self.measure(
            op,
            self.keeper,
            self.s.clearinghouse,
            self.f["liquidate"].encode(v, []),
            record=n is None,
        )
        if op == "liq_partial":
            self._expect(r, liquidated=1, to_vault=True, covered=False, adl=0)
            assert self.call(self.f["positions"], v, BTC)[0] > 0, (
                "partial liquidation closed everything"
            )
        else:
            self._expect(r, liquidated=1, to_vault=True, covered=op == "liq_fund_cover", adl=0)
            assert self.call(self.f["positions"], v, BTC)[0] == 0
        self.revert(snap)
        return m

    def run_adl(self, k: int, n: int | None = None) -> Measurement:
        """A long of 0.1 k BTC bought from k shorts, bankrupt at -2% of notional beyond what the
        fund is owed (its dues pay bad debt first; its balance is empty): closed by ADL against
        all k (each fully)."""
        op = f"adl_{k}"
        snap = self.snapshot()
        self.nonce = 0
        self.heartbeat()
        v = self.acct("adl-victim")
        self.fund(v, 650 * k)
        cps = [self.acct(f"adl-cp-{i}") for i in range(k)]
        for i, cp in enumerate(cps):
            self.fund(cp, 1_000 + 97 * i)  # distinct leverage: distinct ADL scores
            self.fill(cp, v, size(0.1))
        dues = self.call(self.s.abis["Clearinghouse"].fn("insurance_due"))
        self.set_price(BTC, self._price_for(v, size(0.1) * k, -0.02, offset=dues))
        from perpvault.keeper import adl_key

        order = sorted(cps, key=lambda cp: adl_key(self.call(self.f["adl_score"], cp, BTC), cp))
        m, r = self.measure(op, self.keeper, self.s.clearinghouse, self.f["liquidate"].encode(v, order),
                            record=n is None)
        self._expect(r, liquidated=1, to_vault=False, covered=dues > 0, adl=k)
        self.revert(snap)
        return m

    def add_background(self, upto: int) -> None:
        """Open positions for background accounts until `upto` of them hold one (pairs trade
        0.01-0.05 BTC at the scenarios' price; a heartbeat every 100 accounts keeps prices
        fresh)."""
        have = getattr(self, "_background", 0)
        self.nonce = 10**9 + have  # background nonces never meet a scenario's
        for i in range(have, upto, 2):
            if i % 100 == 0:
                self.heartbeat()
            long, short = self.acct(f"bg-{i}"), self.acct(f"bg-{i + 1}")
            self.fund(long, 5_000)
            self.fund(short, 5_000)
            self.fill(short, long, size(0.01 * (1 + i % 5)), P_OPEN)
        self._background = upto

    # -- runs

    def run_all(
        self, *, scaling: tuple[int, ...] = SCALING_NS, adl_ks: tuple[int, ...] = ADL_KS
    ) -> None:
        self.log("trading")
        self.run_trading()
        self.log("liquidations")
        for op in ("liq_partial", "liq_full_vault", "liq_fund_cover"):
            self.run_liquidation(op)
        for k in adl_ks:
            self.run_adl(k)
        for n in scaling:
            t = time.monotonic()
            self.add_background(n)
            oi = self.call(self.s.abis["Clearinghouse"].fn("markets"), BTC)[6]
            self.log(
                f"scaling: {n} other open positions in BTC-PERP "
                f"(built in {time.monotonic() - t:.1f} s; "
                f"BTC open interest {oi / WAD:.2f})"
            )
            for op in SCALED_OPS:
                m = (
                    self.run_adl(int(op[4:]), n)
                    if op.startswith("adl_")
                    else self.run_liquidation(op, n)
                )
                self.scaling.setdefault(op, {})[n] = m.gas
                self.scaling_detail.setdefault(op, {})[n] = m

    def run_guard(self) -> None:
        """The regression guard's subset: the trading scenario, partial and full liquidation, ADL
        with 2."""
        self.run_trading()
        for op in GUARD_LIQUIDATIONS:
            if op.startswith("adl_"):
                self.run_adl(int(op[4:]))
            else:
                self.run_liquidation(op)


# --- reporting ---------------------------------------------------------------------------


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=repo_root(), capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return ""


def _meta() -> dict:
    root = repo_root()
    contracts = root / "contracts"
    sources = {str(p.relative_to(contracts)): hashlib.sha256(p.read_bytes()).hexdigest()[:16]
               for p in sorted(contracts.rglob("*.vy")) if p.parts[-2] != "mocks"}
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": _git("rev-parse", "HEAD"),
        "contracts_dirty": bool(_git("status", "--porcelain", "contracts")),
        "sources_sha256": sources,
        "python": platform.python_version(),
    }


def targets(results: dict[str, Measurement]) -> list[dict]:
    out = []
    for op in ("fill_new", "fill_increase", "fill_reduce", "fill_close", "vault_trade"):
        if op in results:
            out.append(
                {
                    "target": "fill <= 150k",
                    "op": op,
                    "measured": results[op].gas,
                    "goal": TARGETS["fill"],
                }
            )
    for op in ("liq_full_vault", "liq_full_vault_first", "liq_fund_cover"):
        if op in results:
            out.append(
                {
                    "target": "full liquidation of one position <= 250k",
                    "op": op,
                    "measured": results[op].gas,
                    "goal": TARGETS["full_liquidation"],
                }
            )
    adl = {k: results[f"adl_{k}"].gas for k in ADL_KS if f"adl_{k}" in results}
    ks = sorted(adl)
    for a, b in zip(ks, ks[1:], strict=False):
        out.append(
            {
                "target": "each additional ADL counterparty <= 60k",
                "op": f"(adl_{b} - adl_{a}) / {b - a}",
                "measured": (adl[b] - adl[a]) // (b - a),
                "goal": TARGETS["adl_per_counterparty"],
            }
        )
    if len(ks) > 2:
        a, b = ks[0], ks[-1]
        out.append(
            {
                "target": "each additional ADL counterparty <= 60k",
                "op": f"(adl_{b} - adl_{a}) / {b - a}",
                "measured": (adl[b] - adl[a]) // (b - a),
                "goal": TARGETS["adl_per_counterparty"],
            }
        )
    for t in out:
        t["met"] = t["measured"] <= t["goal"]
    return out


def scaling_rows(scaling: dict[str, dict[int, int]]) -> list[dict]:
    rows = []
    for op, by_n in scaling.items():
        lo, hi = min(by_n), max(by_n)
        ratio = by_n[hi] / by_n[lo]
        rows.append(
            {
                "op": op,
                "gas": {str(n): g for n, g in sorted(by_n.items())},
                "ratio": round(ratio, 4),
                "ratio_of": f"n={hi} / n={lo}",
                "goal": SCALING_GOAL,
                "met": ratio <= SCALING_GOAL,
            }
        )
    return rows


def table_md(results: dict[str, Measurement]) -> list[str]:
    lines = [
        "| operation | gas | SSTORE ops | slots written: new (20k) / changed (2.9k) / cleared "
        "(2.9k - 4.8k refund) "
        "| distinct slots (cold, 2.1k) | SLOAD ops (cold) | calls (oracle) | calldata bytes | "
        "floor | gas / floor |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for op in OPERATIONS:
        m = results.get(op)
        if m is None:
            continue
        if m.traced:
            lines.append(
                f"| {OPERATIONS[op]} | {m.gas:,} | {m.sstore} | {m.slots_new} / {m.slots_changed} "
                f"/ {m.slots_cleared} "
                f"| {m.slots_touched} | {m.sload} ({m.sload_cold}) | {m.calls} ({m.oracle_calls}) "
                f"| {m.calldata_bytes} "
                f"| {m.floor:,} | {m.ratio:.2f} |"
            )
        else:
            lines.append(f"| {OPERATIONS[op]} | {m.gas:,} | | | | | | {m.calldata_bytes} | | |")
    return lines


def report(bench: Bench, runtime: float) -> tuple[dict, str]:
    results = bench.results
    data = {
        "meta": _meta() | {"runtime_s": round(runtime, 1), "traced": bench.trace},
        "floor_model": {
            "tx_base": TX_BASE,
            "calldata": "16 per nonzero byte, 4 per zero byte",
            "cold_slot": COLD_SLOT,
            "new_slot": NEW_SLOT,
            "changed_or_cleared_slot": CHANGED_SLOT,
            "cleared_refund": f"{CLEAR_REFUND}, capped at a fifth of the floor",
            "not_included": "cold accounts (2,600), ecrecover (3,000), logs, memory, computation",
        },
        "operations": {op: results[op].as_dict() for op in OPERATIONS if op in results},
        "scaling": scaling_rows(bench.scaling),
        "scaling_detail": {
            op: {str(n): m.as_dict() for n, m in by_n.items()}
            for op, by_n in bench.scaling_detail.items()
        },
        "targets": targets(results),
    }
    md = [
        "# Gas per operation against its storage floor",
        "",
        f"`perpvault bench gas` (= `bench/gas.py`), {data['meta']['date']}, commit "
        f"`{data['meta']['commit'][:10]}`"
        + (" (contracts modified in the working tree)" if data["meta"]["contracts_dirty"] else "")
        + f", {runtime:.0f} s. Analysis: `docs/gas.md`.",
        "",
        "Floor = 21,000 + calldata (16/4 a byte) + 2,100 per distinct storage slot touched (all "
        "cold) "
        "+ 20,000 per new slot + 2,900 per changed or cleared slot - 4,800 per cleared slot "
        "(refund, capped at 1/5). Gas is the receipt's `gasUsed` (after refunds).",
        "",
        *table_md(results),
        "",
        "## Scaling: the same liquidation with more open positions in the market",
        "",
        "| operation | "
        + " | ".join(f"n={n}" for n in SCALING_NS)
        + " | ratio n=1000 / n=10 | goal <= 1.05 |",
        "|---|" + "---:|" * (len(SCALING_NS) + 2),
    ]
    for row in data["scaling"]:
        cells = " | ".join(f"{row['gas'].get(str(n), 0):,}" for n in SCALING_NS)
        md.append(
            f"| {OPERATIONS[row['op']]} | {cells} | {row['ratio']:.4f} | "
            f"{'met' if row['met'] else 'MISSED'} |"
        )
    md += [
        "",
        "## Targets (the contracts' goals, reported, not asserted)",
        "",
        "| target | operation | measured | goal | |",
        "|---|---|---:|---:|---|",
    ]
    for t in data["targets"]:
        md.append(
            f"| {t['target']} | {t['op']} | {t['measured']:,} | {t['goal']:,} | "
            f"{'met' if t['met'] else 'MISSED'} |"
        )
    return data, "\n".join(md) + "\n"


def print_table(results: dict[str, Measurement], scaling: list[dict], tgts: list[dict]) -> None:
    print()
    print(
        f"{'operation':66s} {'gas':>10s} {'SSTORE':>6s} {'new/chg/clr':>11s} {'slots':>5s} "
        f"{'SLOAD(cold)':>12s} {'floor':>9s} {'ratio':>6s}"
    )
    for op in OPERATIONS:
        m = results.get(op)
        if m is None:
            continue
        w = f"{m.slots_new}/{m.slots_changed}/{m.slots_cleared}"
        print(
            f"{OPERATIONS[op]:66s} {m.gas:>10,d} {m.sstore:>6d} {w:>11s} {m.slots_touched:>5d} "
            f"{f'{m.sload}({m.sload_cold})':>12s} {m.floor:>9,d} {m.ratio:>6.2f}"
        )
    if scaling:
        print()
        print(
            f"{'scaling (other open positions)':66s} "
            + " ".join(f"{f'n={n}':>10s}" for n in SCALING_NS)
            + f" {'ratio':>7s}"
        )
        for row in scaling:
            print(
                f"{OPERATIONS[row['op']]:66s} "
                + " ".join(f"{row['gas'].get(str(n), 0):>10,d}" for n in SCALING_NS)
                + f" {row['ratio']:>7.4f} {'ok' if row['met'] else 'MISSED'}"
            )
    print()
    for t in tgts:
        print(
            f"target {t['target']:42s} {t['op']:22s} {t['measured']:>10,d} vs {t['goal']:>8,d}  "
            f"{'met' if t['met'] else 'MISSED'}"
        )


def run_gas(
    out_dir: Path | None = None, *, scaling: tuple[int, ...] = SCALING_NS, write: bool = True
) -> dict:
    """The whole bench: measure, print, write gas.json and gas.md."""
    start = time.monotonic()
    with Bench(trace=True, first_takeover=True) as bench:
        bench.run_all(scaling=scaling)
        runtime = time.monotonic() - start
        data, md = report(bench, runtime)
        print_table(bench.results, data["scaling"], data["targets"])
    if write:
        out = out_dir or RESULTS
        out.mkdir(parents=True, exist_ok=True)
        (out / "gas.json").write_text(json.dumps(data, indent=2) + "\n")
        (out / "gas.md").write_text(md)
        print(f"\nwrote {out / 'gas.json'} and {out / 'gas.md'} ({runtime:.0f} s)")
    return data


def measure_guard(trace: bool = False) -> dict[str, int]:
    """The regression guard's measurements (op -> gas), by the same scenarios as the bench."""
    with Bench(trace=trace, log=lambda *_: None) as bench:
        bench.run_guard()
        return {op: m.gas for op, m in bench.results.items()}


# --- CLI ---------------------------------------------------------------------------------


SCRATCH = Path("out") / "bench"  # where `perpvault bench gas` writes unless told --update


def _gas_args(parser: argparse.ArgumentParser, *, update: bool = False) -> argparse.ArgumentParser:
    parser.add_argument(
        "--scaling",
        default=",".join(map(str, SCALING_NS)),
        help="numbers of other open positions for the scaling runs (comma-separated; '' for none)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--out", type=Path, default=None,
        help=f"directory for gas.json and gas.md (default {RESULTS if update else SCRATCH}/)",
    )
    where.add_argument(
        "--update", action="store_true", default=update,
        help=f"write the committed results, {RESULTS.relative_to(RESULTS.parents[1])}/gas.*"
        + (" (the default here)" if update else ""),
    )
    where.add_argument("--no-write", action="store_true", help="print only; write nothing")
    parser.add_argument(
        "--check", action="store_true",
        help="exit 1 when a target or a scaling bound is missed (without it the table says MISSED, exit 0)",
    )
    parser.set_defaults(func=_cli_gas)
    return parser


def register(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser(
        "bench", help="benchmarks (gas)",
        description="Benchmarks that print a table and write it: `perpvault bench gas` measures every "
                    "operation's gas against its storage floor and its scaling with the number of open "
                    "positions.",
    )
    jobs = bench.add_subparsers(dest="bench_command", metavar="BENCH")
    _gas_args(
        jobs.add_parser(
            "gas",
            help=f"gas of every operation against its storage floor; writes {SCRATCH}/gas.* (--update: "
            "bench/results/)",
            description="Gas of every operation against its storage floor, its scaling with the number of "
            "other open positions, and the targets (fill <= 150k, full liquidation <= 250k, each ADL "
            f"counterparty <= 60k). Writes gas.json and gas.md to {SCRATCH}/ unless --update (the "
            "committed bench/results/) or --out DIR.",
        )
    )
    bench.set_defaults(func=lambda _args: _bench_help(bench))


def _bench_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _cli_gas(args: argparse.Namespace) -> int:
    scaling = tuple(int(x) for x in args.scaling.split(",") if x.strip())
    out = None if args.no_write else (RESULTS if args.update and args.out is None else args.out or SCRATCH)
    data = run_gas(out, scaling=scaling, write=not args.no_write)
    missed = [t["target"] + ": " + t["op"] for t in data["targets"] if not t["met"]]
    missed += [f"scaling: {row['op']}" for row in data["scaling"] if not row["met"]]
    if missed and args.check:
        print(f"missed: {'; '.join(missed)}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """bench/gas.py: the same as `perpvault bench gas`."""
    from perpvault.paths import ensure_tool_path

    ensure_tool_path()
    from perpvault.cliargs import KindParser

    parser = _gas_args(KindParser(prog="bench/gas.py", description="perpvault gas bench"), update=True)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)
