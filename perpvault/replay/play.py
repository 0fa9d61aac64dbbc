"""Play a :class:`~perpvault.scenarios.Scenario` on a local Anvil chain and report what each
layer of the risk waterfall absorbed.

How it runs:

* the chain is driven over raw JSON-RPC (:mod:`perpvault.chain`), many transactions per block:
  after the deployment automine is off, each transaction is queued with ``eth_sendTransaction``
  (Anvil's pool is FIFO, ``--order fifo``, so the block keeps the order the model ran them in),
  and :meth:`Replay._flush` mines the block with ``evm_mine`` at the model's timestamp and reads
  every receipt back with one ``eth_getBlockReceipts``. Blocks: the set-up in blocks of up to
  1,000 transactions (Anvil's cost per block grows with its state, so 5,000 traders' 23,000
  transactions one per block took over 13 minutes), then per price step one block for the
  oracle, one per keeper pass, the fund sweep in the last;
* the reference model (:mod:`perpvault.model`, exact to the atom) runs in lockstep: every
  transaction is applied to it at its block's timestamp, and after every price step the model
  is diffed against the chain's whole state (:mod:`perpvault.chain`: StateReader.vy, 32
  accounts per eth_call, the read, diff and I1/I2/I5 check the fuzz machine runs);
* the keeper plans each liquidation on the lockstep model with
  :func:`perpvault.keeper.plan_liquidation` (the model's own ``liquidate`` in plan mode, on a
  copy of the accounts it can reach), so a plan costs no RPC; the model and the chain then run
  it and must agree. After each step's liquidations the keeper calls ``sweep_to_insurance``, so
  penalties reach the fund during the cascade.

Measured on this 2-core machine (shared with other jobs: load average 8-10 while measuring),
``time perpvault demo --traders N --no-plot`` (deploy / deposits / opening / walk):

* 500 traders: 14 s (0.5 / 1.7 / 1.2 / 9.1 s), 2,460 transactions in 51 blocks (was 26-35 s
  with one transaction per block);
* 1,000 traders: 48 s (0.6 / 6.1 / 6.2 / 33.5 s), 4,732 transactions in 53 blocks;
* 5,000 traders: 296 s (1.8 / 49.8 / 27.7 / 212.9 s), 23,117 transactions in 69 blocks; 235 s
  at load average 4. The walk is mostly Anvil answering the full state read after every step
  (5,000 accounts x 6 eth_calls) and the model's keeper plans.

A dry run (:mod:`perpvault.demo` ``--dry-run``) records every transaction (`record=True`); with
`fork_url` the local Anvil forks a remote node, which then only answers the fork's reads.

The naive ADL comparison (:mod:`perpvault.replay.naive`) is computed on the model's state at
every ADL event; the report is :mod:`perpvault.replay.report`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode

from perpvault.chain.orders import Order as ChainOrder
from perpvault.keeper import (
    NoPlan,
    Plan,
    Tally,
    adl_queue,
    model_waterfall_events,
    plan_liquidation,
)
from perpvault.keeper.tally import WATERFALL_EVENTS
from perpvault.model import Exchange, Order, Revert
from perpvault.model.exchange import Addresses
from perpvault.model.maths import notional as notional_of
from perpvault.model.state import MarketParams, RiskParams
from perpvault.replay.naive import Naive, naive_adl
from perpvault.replay.policies import MarketAdl, PolicyComparison, event_allocations, market_side
from perpvault.replay.report import build_report, plot_haircut_shares, plot_waterfall, write_report
from perpvault.scenarios import Scenario

FAR_EXPIRY = 2**40
MAX_UINT = 2**256 - 1
TX_GAS = 5_000_000  # every transaction's gas limit (fixed: no estimation round trip)
# Set-up transactions per block: Anvil's cost per block grows with its state (a state root over
# every account), so the set-up goes in few big blocks.
BLOCK_SIZE = 1_000
ANVIL_ARGS = ("--prune-history", "--order", "fifo", "--gas-limit", str(10**15))
CONTRACT_ATTR = {"MockUSDC": "usdc", "PriceFeed": "feed", "InsuranceFund": "fund", "Clearinghouse": "clearinghouse",
                 "LiquidityVault": "vault", "OrderBook": "order_book"}
# Roles by dev-account index; traders follow.
OWNER, UPDATER, KEEPER, LP = 0, 1, 2, 3
FIRST_TRADER = 4


class ReplayError(RuntimeError):
    pass


class FastExchange(Exchange):
    """The reference model without the per-transaction deep copy of the world (500 accounts make
    it the dominant cost). A revert leaves the model dirty, so the replay stops on one: every
    transaction the replay sends is expected to pass on both sides."""

    def _tx(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.w.events = []
        result = fn(*args, **kwargs)
        self.last_events = self.w.events
        self.w.events = []
        self.tx_count += 1
        return result

    def _view(self, fn: Callable[..., Any], *args: Any) -> Any:
        # The views only create empty storage for accounts never seen; the replay asks about known ones.
        return fn(*args)


def trader_keys(n: int, salt: bytes = b"perpvault replay trader") -> list[tuple[str, bytes]]:
    """`n` (checksummed address, private key) pairs, deterministic: key i = keccak(salt, i).

    Anvil's per-transaction cost grows with its number of unlocked dev accounts (measured:
    0.7 ms at 10, 3.4 ms at 2,000), and deriving BIP-44 keys costs ~8 ms each; so traders are
    plain keys, and Anvil sends their transactions through auto-impersonation."""
    from coincurve import PrivateKey
    from eth_hash.auto import keccak
    from eth_utils import to_checksum_address

    out = []
    for i in range(n):
        key = keccak(salt + i.to_bytes(8, "big"))
        pub = PrivateKey(key).public_key.format(compressed=False)[1:]
        out.append((to_checksum_address(keccak(pub)[-20:]), key))
    return out


def adl_quantile(place: int, count: int) -> int:
    """RiskLens.adl_rank's quantile: 5 = first in line, 1 = last fifth."""
    return 5 - (place - 1) * 5 // count


# --- the run ---------------------------------------------------------------------------------


@dataclass
class StepData:
    step: int
    timestamp: int
    prices: list[int]
    fund: int  # insurance fund balance after the keeper
    vault_equity: int  # LiquidityVault's equity in the clearinghouse after the keeper
    liquidations: int = 0
    adl_liquidations: int = 0
    deleveraged: int = 0
    gas: int = 0
    keeper_gas: int = 0
    waiting: int = 0  # liquidatable accounts the keeper could not plan (left for the next step)
    fund_low: int = 0  # the fund's lowest balance during the step
    swept: int = 0  # what sweep_to_insurance moved into the fund after the keeper


@dataclass
class Layers(Tally):
    """The keeper's tally of what each layer absorbed, plus the ADL quantile each
    deleveraged position was in at the time (5 = first in line)."""

    quantiles: dict = field(default_factory=lambda: {q: 0 for q in range(1, 6)})


class Replay:
    def __init__(self, scenario: Scenario, *, progress: bool = True, check_every: int = 1, chain: bool = True,
                 addresses: dict[str, Any] | None = None, sweep: bool = True, block_size: int = BLOCK_SIZE,
                 record: bool = False, fork_url: str | None = None):
        """`chain=False` plays the scenario on the reference model alone (no Anvil, no gas): the
        test compares the chain run's report with it. `addresses` (from a chain run's
        :meth:`addresses`) gives the model-only run the same accounts and contracts, so the ADL
        queue's address tie-break is the same. `sweep`: the keeper sweeps what the clearinghouse
        owes the insurance fund after every step. `block_size`: transactions per block at most.
        `record`: keep every transaction sent (from, to, function, args, gas) in `self.record`.
        `fork_url`: the local Anvil forks that node (a dry run for a remote network)."""
        self.sc = scenario
        self.sweep = sweep
        self.block_size = block_size
        self.record: list[dict] | None = [] if record else None
        self.fork_url = fork_url
        self.fork_block: int | None = None
        self._block_open = False
        self._block_txs = 0
        self._pending: list = []
        self._pending_hashes: list[str] = []
        self.blocks = 0  # blocks mined by the replay
        self.swept = 0  # what sweep_to_insurance moved into the fund
        self.chain = chain
        self._given_addresses = addresses
        self.progress = progress
        self.check_every = check_every
        self.steps: list[StepData] = []
        self.layers = Layers()
        self.naive = Naive()
        self._naive_closed: set = set()
        # The same ADL events under the other policies (perpvault.replay.policies).
        self.policies = PolicyComparison()
        self._policy_gone: dict[int, set] = {}
        self.checks: dict[str, int] = {}
        self.violations: list[str] = []
        self.timings: dict[str, float] = {}
        self.adl_marks: list[tuple[int, int, str]] = []  # (step, market, counterparty)
        self.fund_low = (0, 0)  # (balance, step)
        self.nonce = 1
        self.setup_gas = 0
        self.sent: dict[str, int] = {}  # transactions by kind (what a dry run would send)
        # Funding settled (model events): what accounts received (> 0) and paid (< 0), and the vault's net.
        self.funding = {"received": 0, "paid": 0, "vault": 0}

    # -- plumbing ------------------------------------------------------------------------------

    def _check(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks[name] = self.checks.get(name, 0) + 1
        if not ok:
            self.violations.append(f"{name}: {detail}")

    def _send(self, label: str, sender: str, contract: str, fn: str, args: tuple | Callable[[], tuple],
              model: Callable[[Exchange], Any], on_receipt: Callable[[dict], None] | None = None) -> None:
        """One transaction into the current block: applied to the model now (at the block's
        timestamp), queued for the chain, which mines the block on :meth:`_flush`.
        `on_receipt(receipt)` runs at the flush, in transaction order (in a model-only run: now,
        with a receipt of no gas). `args` may be a callable (the fills' signatures need the chain)."""
        self.sent[label] = self.sent.get(label, 0) + 1
        if not self._block_open or self._block_txs >= self.block_size:
            self._new_block()
        self._block_txs += 1
        try:
            model(self.model)
        except Revert as e:
            raise ReplayError(f"{label}: the model reverted with {e.reason!r} (t={self.model.now})") from None
        for e in self.model.last_events:
            if e[0] == "FundingSettled":
                self.funding["received" if e[3] > 0 else "paid"] += e[3]
                if e[1] == self.model.w.vault.address:
                    self.funding["vault"] += e[3]
        if not self.chain:
            # The model's stand-in address (perpvault.model.exchange.Addresses) of the contract.
            to = getattr(self.model.addresses, "token" if contract == "MockUSDC" else CONTRACT_ATTR[contract])
            if self.record is not None:
                self.record.append({"from": sender, "to": to, "contract": contract, "function": fn,
                                    "args": list(args() if callable(args) else args)})
            if on_receipt is not None:
                on_receipt({"gasUsed": "0x0", "logs": []})
            return
        to = getattr(self.system, CONTRACT_ATTR[contract])
        args = args() if callable(args) else args
        data = self.system.abis[contract].fn(fn).encode(*args)
        tx = {"from": sender, "to": to, "data": "0x" + data.hex(), "gas": hex(TX_GAS), "gasPrice": "0x0"}
        self._pending.append((tx, label, on_receipt, (contract, fn, args)))
        self._pending_hashes.append(self.rpc.call("eth_sendTransaction", [tx]))

    def _new_block(self, jump: int = 0) -> None:
        """Mine what is pending and open the next block, `1 + jump` seconds later."""
        self._flush()
        self.model.at(self.model.now + 1 + jump)
        self._block_open = True
        self._block_txs = 0

    def _flush(self) -> None:
        """Mine the open block on the chain (automine is off; Anvil orders its pool first in, first
        out, so the block holds the transactions in the order the model ran them) and hand each
        receipt to its callback. Any reverted transaction stops the replay: the model passed it."""
        self._block_open = False
        if not self.chain or not self._pending:
            return
        pending, hashes = self._pending, self._pending_hashes
        self._pending, self._pending_hashes = [], []
        self.rpc.set_next_block_timestamp(self.model.now)
        self.rpc.call("evm_mine")
        self.blocks += 1
        receipts = self.rpc.call("eth_getBlockReceipts", ["latest"])
        if [r["transactionHash"] for r in receipts] != hashes:
            raise ReplayError(f"block of {len(hashes)} transactions mined {len(receipts)} of them, or out of order")
        for receipt, (tx, label, on_receipt, (contract, fn, args)) in zip(receipts, pending):
            if receipt["status"] != "0x1":
                from perpvault.chain.rpc import decode_revert

                reason = decode_revert(self.rpc.revert_data(receipt["transactionHash"]))
                raise ReplayError(f"{label}: the chain reverted with {reason!r}, the model passed it "
                                  f"(t={self.model.now})")
            if self.record is not None:
                self.record.append({"from": tx["from"], "to": tx["to"], "contract": contract, "function": fn,
                                    "args": list(args), "gas": int(receipt["gasUsed"], 16)})
            if on_receipt is not None:
                on_receipt(receipt)

    def _refresh_oracle(self) -> None:
        """Re-post the opening prices when the set-up has run long (beyond the feed's max age)."""
        feed = self.model.w.feed
        if all(self.model.now - feed.rounds[m].updated_at < 1_800 for m in range(len(self.sc.markets))):
            return
        for m in range(len(self.sc.markets)):
            p = self.sc.prices[0][m]
            self._send("set_price (refresh)", self.addr[UPDATER], "PriceFeed", "set_price", (m, p),
                       lambda mdl: mdl.set_price(self.addr[UPDATER], m, p))

    def addresses(self) -> dict[str, Any]:
        return {"accounts": list(self.addr), "contracts": self.model.addresses}

    # -- set-up --------------------------------------------------------------------------------

    def start(self) -> None:
        from perpvault.chain.deploy import deploy
        from perpvault.chain.driver import dev_accounts
        from perpvault.chain.logs import LogDecoder
        from perpvault.chain.raw import raw_deployer
        from perpvault.chain.rpc import start_anvil

        t0 = time.perf_counter()
        n = FIRST_TRADER + len(self.sc.traders)
        traders = trader_keys(len(self.sc.traders))
        if not self.chain:
            self._start_model(n, [a for a, _ in traders])
            self.timings["deploy"] = time.perf_counter() - t0
            return
        fork = ("--fork-url", self.fork_url) if self.fork_url else ()
        self.anvil = start_anvil(accounts=10, extra_args=ANVIL_ARGS + fork)
        rpc = self.anvil.rpc()
        if self.fork_url:
            self.fork_block = rpc.block_number()
        if self.record is not None:
            self._record_deploy(rpc)
        dev = dev_accounts(10)
        self.system = deploy(dev[OWNER].address, dev[UPDATER].address, via=raw_deployer(rpc, keys=dev),
                             markets=self.sc.markets)
        self.rpc = rpc
        self.rpc.call("anvil_autoImpersonateAccount", [True])
        # From here on every block is mined by _flush: many transactions per block.
        self.rpc.call("evm_setAutomine", [False])
        for address, key in traders:
            self.system.signer.add_key(address, key)
        self.addr = [a.address for a in dev[:FIRST_TRADER]] + [a for a, _ in traders]
        self.low = [a.lower() for a in self.addr]
        self.logs = LogDecoder(self.system.artifacts)
        self.model = self._model_from_chain()
        self.names = {self.low[OWNER]: "owner", self.low[KEEPER]: "keeper", self.low[LP]: "lp",
                      self.system.vault.lower(): "vault"}
        for i, t in enumerate(self.sc.traders):
            self.names[self.low[FIRST_TRADER + i]] = t.name
        self.timings["deploy"] = time.perf_counter() - t0

    def _record_deploy(self, rpc: Any) -> None:
        """Record the deployment's transactions too (the raw deployer sends them itself)."""
        from eth_utils import to_checksum_address

        from perpvault.chain.abi import load_artifacts

        send = rpc.send_transaction
        by_selector = {f.selector: (art.name, f) for art in load_artifacts().values()
                       for fns in art.functions.functions.values() for f in fns}
        creates = {art.bytecode: art for art in load_artifacts().values()}

        def recorded(sender: str, to: str | None, data: bytes, **kw: Any) -> dict:
            receipt = send(sender, to, data, **kw)
            gas = int(receipt["gasUsed"], 16)
            if to is None:
                art = next(a for code, a in creates.items() if data.startswith(code))
                args = list(abi_decode(list(art.functions.constructor_inputs), data[len(art.bytecode):])) \
                    if art.functions.constructor_inputs else []
                entry = {"from": sender, "to": to_checksum_address(receipt["contractAddress"]), "contract": art.name,
                         "function": "constructor", "args": args, "gas": gas}
            else:
                name, fn = by_selector[data[:4]]
                entry = {"from": sender, "to": to, "contract": name, "function": fn.name,
                         "args": list(abi_decode(list(fn.inputs), data[4:])), "gas": gas}
            self.record.append(entry)
            return receipt

        rpc.send_transaction = recorded

    def _start_model(self, n: int, traders: list[str]) -> None:
        """The model of perpvault.chain.deploy with the scenario's markets, no chain."""
        from types import SimpleNamespace

        from perpvault.chain.deploy import (
            DEFAULT_RISK,
            ORACLE_MAX_AGE,
            ORACLE_MAX_JUMP,
            VAULT_SPREAD,
        )

        given = self._given_addresses
        if given:
            self.addr = list(given["accounts"])
            contracts = given["contracts"]
        else:
            from perpvault.chain.driver import dev_accounts

            self.addr = [a.address for a in dev_accounts(10)[:FIRST_TRADER]] + traders
            contracts = Addresses()
        self.low = [a.lower() for a in self.addr]
        self.model = FastExchange(
            self.addr[OWNER], self.addr[UPDATER],
            markets=[(MarketParams.of(m.params()), m.initial_price) for m in self.sc.markets],
            risk=RiskParams.of(DEFAULT_RISK), addresses=contracts, oracle_max_age=ORACLE_MAX_AGE,
            oracle_max_jump=ORACLE_MAX_JUMP, vault_spread=VAULT_SPREAD,
        )
        self.system = SimpleNamespace(vault=contracts.vault, oracle_updater=self.addr[UPDATER], clearinghouse=None)
        self.names = {}
    def read(self) -> Any:
        """The whole chain state at one block: StateReader.vy's read (perpvault.chain.state), the
        one the fuzz machine and the lockstep tests use, a page of 32 accounts per eth_call."""
        from perpvault.chain.state import StateReader

        if getattr(self, "_reader", None) is None:
            self._reader = StateReader(self.rpc, self.system,
                                       extra=[self.addr[OWNER], self.addr[KEEPER], self.addr[LP]])
        return self._reader.read()

    def _view(self, contract: str, to: str, name: str, *args: Any) -> Any:
        fn = self.system.abis[contract].fn(name)
        return fn.decode(self.rpc.eth_call(to, fn.encode(*args)))

    def _model_from_chain(self) -> Exchange:
        from perpvault.chain.compare import model_from_chain

        s = self.system
        def view(contract: str, fn: str, *args: Any) -> Any:
            return self._view(contract, s.contracts[contract], fn, *args)

        return model_from_chain(self.read(), view, s, model=FastExchange)

    def seed(self) -> None:
        """LP capital into the vault, the fund's donation, every trader's margin."""
        t0 = time.perf_counter()
        a, sc, ads = self.addr, self.sc, self._contract_addresses()
        lp, owner = a[LP], a[OWNER]
        self._send("mint lp", owner, "MockUSDC", "mint", (lp, sc.vault_deposit), lambda m: m.mint(lp, sc.vault_deposit))
        self._send("approve vault", lp, "MockUSDC", "approve", (ads.vault, MAX_UINT), lambda m: m.approve(lp,
                                                                                                          ads.vault))
        self._send("vault deposit", lp, "LiquidityVault", "deposit", (sc.vault_deposit, lp),
                   lambda m: m.vault_deposit(lp, sc.vault_deposit))
        self._send("mint owner", owner, "MockUSDC", "mint", (owner, sc.fund_donation),
                   lambda m: m.mint(owner, sc.fund_donation))
        self._send("approve fund", owner, "MockUSDC", "approve", (ads.fund, MAX_UINT), lambda m: m.approve(owner,
                                                                                                           ads.fund))
        self._send("donate", owner, "InsuranceFund", "donate", (sc.fund_donation,),
                   lambda m: m.donate(owner, sc.fund_donation))
        for i, t in enumerate(sc.traders):
            who = a[FIRST_TRADER + i]
            self._send("mint", owner, "MockUSDC", "mint", (who, t.margin), lambda m: m.mint(who, t.margin))
            self._send("approve", who, "MockUSDC", "approve", (ads.clearinghouse, MAX_UINT),
                       lambda m: m.approve(who, ads.clearinghouse))
            self._send("deposit", who, "Clearinghouse", "deposit", (t.margin,), lambda m: m.deposit(who, t.margin))
        self._flush()
        self.timings["seed"] = time.perf_counter() - t0

    def _contract_addresses(self) -> Any:
        """The contracts' addresses: the chain's, or (model-only) the model's stand-ins."""
        from types import SimpleNamespace

        if self.chain:
            s = self.system
            return SimpleNamespace(vault=s.vault, fund=s.fund, clearinghouse=s.clearinghouse)
        return self.model.addresses

    def _fill_args(self, mo: ChainOrder, to: ChainOrder, q: int) -> Callable[[], tuple]:
        def args() -> tuple:
            if not self.chain:
                return (mo.as_tuple(), "<maker signature>", to.as_tuple(), "<taker signature>", q)
            sign = self.system.signer.sign
            return (mo.as_tuple(), sign(mo), to.as_tuple(), sign(to), q)

        return args

    def open_positions(self) -> dict[str, Any]:
        """Pair longs with shorts through signed-order fills (maker: the short, at the opening
        price plus the scenario's premium); the imbalance trades against the vault."""
        t0 = time.perf_counter()
        self._refresh_oracle()
        a, sc = self.addr, self.sc
        stats = {"fills": 0, "vault_trades": 0, "fill_notional": 0, "vault_notional": 0}

        def gas(receipt: dict) -> None:
            self.setup_gas += int(receipt["gasUsed"], 16)

        for m, spec in enumerate(sc.markets):
            bias = sc.entry_premium[m] if m < len(sc.entry_premium) else 0.0
            fill_price = int(spec.initial_price * (1 + bias))
            longs = [[a[FIRST_TRADER + i], t.size(spec.initial_price)] for i, t in enumerate(sc.traders)
                     if t.market == m and t.long]
            shorts = [[a[FIRST_TRADER + i], -t.size(spec.initial_price)] for i, t in enumerate(sc.traders)
                      if t.market == m and not t.long]
            li = si = 0
            while li < len(longs) and si < len(shorts):
                self._refresh_oracle()
                lg, sh = longs[li], shorts[si]
                q = min(lg[1], sh[1])
                mo = ChainOrder(sh[0], m, -q, fill_price, self.nonce, FAR_EXPIRY)
                to = ChainOrder(lg[0], m, q, fill_price, self.nonce + 1, FAR_EXPIRY)
                self.nonce += 2
                taker = lg[0]
                self._send("fill", taker, "OrderBook", "match_orders", self._fill_args(mo, to, q),
                           lambda mdl: mdl.match_orders(taker, Order.of(mo.as_tuple()), Order.of(to.as_tuple()), q),
                           on_receipt=gas)
                stats["fills"] += 1
                stats["fill_notional"] += notional_of(q, fill_price)
                lg[1] -= q
                sh[1] -= q
                li += lg[1] == 0
                si += sh[1] == 0
            rest = [(w, q) for w, q in longs[li:] if q] + [(w, -q) for w, q in shorts[si:] if q]
            for who, q in rest:
                self._refresh_oracle()
                limit = spec.initial_price * 102 // 100 if q > 0 else spec.initial_price * 98 // 100
                self._send("vault trade", who, "LiquidityVault", "trade", (m, q, limit),
                           lambda mdl: mdl.vault_trade(who, m, q, limit), on_receipt=gas)
                stats["vault_trades"] += 1
                stats["vault_notional"] += notional_of(q, spec.initial_price)
        self._flush()
        self.timings["open"] = time.perf_counter() - t0
        return stats

    # -- the walk ------------------------------------------------------------------------------

    def _vault_equity(self) -> int:
        return self.model.w.ch.equity(self.system.vault.lower())

    def _queue(self, market: int, longs: bool, exclude: str) -> list[tuple[str, int]]:
        """One side of `market` in ADL order, with each position's size: the quantiles and the naive policy."""
        ch = self.model.w.ch
        return [(acct, abs(ch.positions_of(acct, market).size)) for acct in adl_queue(ch, market, longs, exclude)]

    def _liquidate(self, account: str, step: StepData) -> bool:
        """Plan on the model at the block's timestamp, send; the chain's events are tallied
        (and compared with the model's) when the block is mined."""
        keeper = self.low[KEEPER]
        ch = self.model.w.ch
        if not ch.is_liquidatable(account):
            return False
        try:
            plan = plan_liquidation(self.model, account, keeper)
        except NoPlan:
            step.waiting += 1
            return False
        queues: dict[int, list[tuple[str, int]]] = {}
        for m, to_vault in sorted(plan.to_vault.items()):
            if not to_vault:
                queues[m] = self._queue(m, plan.closes[m] > 0, account)
        cps = plan.counterparties
        model_events: list = []
        adl_markets = [MarketAdl(m, plan.closes[m], plan.haircuts[m], ch.mark_price(m), market_side(ch, m, q))
                       for m, q in queues.items()]

        def model_side(mdl: Exchange) -> None:
            mdl.liquidate(keeper, account, cps)
            model_events.extend(e for e in mdl.last_events if e[0] in WATERFALL_EVENTS)

        def tally(receipt: dict) -> None:
            if self.chain:
                events = [(n, f) for n, f in self.logs.decode(receipt) if n in WATERFALL_EVENTS]
            else:
                events = [(e.name, e.args) for e in model_waterfall_events(model_events)]
            self._tally(account, step, plan, queues, events, model_events, int(receipt["gasUsed"], 16))
            if plan.shortfall > 0:
                deleveraged = [f for n, f in events if n == "Deleveraged"]
                self.policies.add(step.step, account, event_allocations(plan.shortfall, adl_markets, deleveraged,
                                                                        self._policy_gone))

        self._send("liquidate", self.addr[KEEPER], "Clearinghouse", "liquidate", (self.addr_of(account), cps),
                   model_side, on_receipt=tally)
        # The naive policy is priced on the state the plan saw (the mark is the block's).
        for m, q in queues.items():
            naive_adl(q, plan.closes[m], plan.haircuts[m], self._naive_closed, self.naive, ch.mark_price(m), m)
        step.liquidations += 1
        step.fund_low = min(step.fund_low, self.model.w.fund.available())
        return True

    def addr_of(self, account: str) -> str:
        """The checksummed address of a lower-case model account."""
        from eth_utils import to_checksum_address

        return to_checksum_address(account)

    def _tally(self, account: str, step: StepData, plan: Plan, queues: dict, events: list, model_events: list,
               gas: int) -> None:
        step.gas += gas
        step.keeper_gas += gas
        L = self.layers
        L.add_events(account, events)
        self._check("events: chain == model (waterfall events per liquidation)",
                    [n for n, _ in events] == [e[0] for e in model_events],
                    f"{account}: chain {[n for n, _ in events]} != model {[e[0] for e in model_events]}")
        socialized = sum(f["amount"] for n, f in events if n == "ShortfallSocialized")
        haircuts = sum(f["haircut"] for n, f in events if n == "Deleveraged")
        places = {m: {acct: i + 1 for i, (acct, _) in enumerate(q)} for m, q in queues.items()}
        adl = False
        for name, f in events:
            if name == "Deleveraged":
                adl = True
                cp, m = f["counterparty"].lower(), f["market"]
                step.deleveraged += 1
                place = places.get(m, {}).get(cp)
                if place is not None:
                    L.quantiles[adl_quantile(place, len(queues[m]))] += 1
                self.adl_marks.append((step.step, m, cp))
        self._check("I6: haircuts == shortfall socialized (per liquidation, zero overshoot)",
                    socialized == haircuts, f"{account}: {haircuts} != {socialized}")
        self._check("keeper plan: shortfall as planned", plan.shortfall == socialized,
                    f"{account}: plan {plan.shortfall} != chain {socialized}")
        if adl:
            step.adl_liquidations += 1

    def keeper_pass(self, step: StepData) -> None:
        """Liquidate until nothing liquidatable is left (or nothing more can be planned), one
        block per pass; then sweep what the liquidations owe the insurance fund (penalties, its
        share of fees, dust) into it, so the fund's curve includes them."""
        for _ in range(50):
            ch = self.model.w.ch
            targets = [acct for acct in ch.known if ch.is_liquidatable(acct)]
            if not targets:
                break
            self._new_block()
            progress = False
            step.waiting = 0
            for acct in targets:
                progress |= self._liquidate(acct, step)
            if not progress:
                break
        if self.sweep and (step.liquidations or self.model.w.ch.insurance_due):
            before = self.model.w.fund.available()

            def swept(mdl: Exchange) -> None:
                mdl.sweep_to_insurance(self.addr[KEEPER])
                self.swept += self.model.w.fund.available() - before
                step.swept = self.model.w.fund.available() - before

            def gas(receipt: dict) -> None:
                step.gas += int(receipt["gasUsed"], 16)
                step.keeper_gas += int(receipt["gasUsed"], 16)

            self._send("sweep_to_insurance", self.addr[KEEPER], "Clearinghouse", "sweep_to_insurance", (), swept,
                       on_receipt=gas)
        self._flush()

    def walk(self) -> None:
        from perpvault.chain.compare import diff
        from perpvault.chain.invariants import check_invariants

        t0 = time.perf_counter()
        sc = self.sc
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=sc.steps, desc=f"{sc.name}: price steps", unit="step")
        fund0 = self.model.w.fund.available()
        self.fund_low = (fund0, 0)
        self.steps.append(StepData(0, self.model.now, list(sc.prices[0]), fund0, self._vault_equity(), fund_low=fund0))
        for k in range(1, sc.steps + 1):
            step = StepData(k, 0, list(sc.prices[k]), 0, 0, fund_low=self.model.w.fund.available())

            def gas(receipt: dict, step: StepData = step) -> None:
                step.gas += int(receipt["gasUsed"], 16)

            # The oracle posts every market's price in one block, `seconds_per_step` after the last.
            self._new_block(jump=sc.seconds_per_step - 1)
            for m, p in enumerate(sc.prices[k]):
                self._send("set_price", self.addr[UPDATER], "PriceFeed", "set_price", (m, p),
                           lambda mdl: mdl.set_price(self.addr[UPDATER], m, p), on_receipt=gas)
            self.keeper_pass(step)
            step.timestamp = self.model.now
            step.fund = self.model.w.fund.available()
            step.fund_low = min(step.fund_low, step.fund)
            step.vault_equity = self._vault_equity()
            if step.fund_low < self.fund_low[0]:
                self.fund_low = (step.fund_low, k)
            self.steps.append(step)
            if not self.chain:
                self._model_checks(k)
            elif k % self.check_every == 0 or k == sc.steps:
                state = self.read()
                for v in check_invariants(state):
                    self._check("I1/I2/I5 on chain", False, f"step {k}: {v}")
                self._check("I1/I2/I5 on chain", True)
                diffs = diff(self.model, state)
                self._check("model == chain (every balance, position, market)", not diffs,
                            f"step {k}: " + "; ".join(diffs[:5]))
                neg = [a.address for a in state.known() if a.equity is not None and a.equity < 0]
                self._check("I4: no account left in debt after the keeper", not neg,
                            f"step {k}: {len(neg)} accounts below zero")
            if bar:
                bar.set_postfix(liq=self.layers.liquidations, adl=len(self.layers.deleveraged))
                bar.update(1)
        if bar:
            bar.close()
        self.timings["walk"] = time.perf_counter() - t0

    def _model_checks(self, k: int) -> None:
        m = self.model
        sizes = [m.sum_sizes(i) for i in range(len(self.sc.markets))]
        self._check("I1/I2/I5 in the model", not any(sizes) and m.conservation_gap() == 0 and m.fund_gap() == 0,
                    f"step {k}: sizes {sizes}, I2 gap {m.conservation_gap()}, I5 gap {m.fund_gap()}")
        ch = m.w.ch
        neg = [a for a in ch.known if ch.equity(a) < 0]
        self._check("I4: no account left in debt after the keeper", not neg, f"step {k}: {len(neg)} below zero")

    def close(self) -> None:
        if getattr(self, "anvil", None) is not None:
            self.anvil.stop()
            self.anvil = None


# --- end to end ------------------------------------------------------------------------------


def run(scenario: Scenario, out: Path | str | None = "out", *, progress: bool = True, plot: bool = True,
        check_every: int = 1, chain: bool = True, addresses: dict | None = None,
        keep: list | None = None, **replay_kwargs: Any) -> dict[str, Any]:
    """Replay `scenario` end to end; write report.md/report.json/waterfall.png to `out` (if given).
    `chain=False`: the reference model alone. `keep`: a list the Replay object is appended to.
    `replay_kwargs` go to :class:`Replay` (sweep, block_size, record, fork_url)."""
    t0 = time.perf_counter()
    rp = Replay(scenario, progress=progress, check_every=check_every, chain=chain, addresses=addresses,
                **replay_kwargs)
    if keep is not None:
        keep.append(rp)
    try:
        rp.start()
        rp.seed()
        opened = rp.open_positions()
        if chain:
            from perpvault.chain.invariants import check_invariants

            for v in check_invariants(rp.read()):
                rp._check("I1/I2/I5 on chain", False, f"after opening: {v}")
            rp._check("I1/I2/I5 on chain", True)
        vault0 = rp._vault_equity()
        rp.walk()
    finally:
        rp.close()
    t_report = time.perf_counter()
    report = build_report(rp, opened, vault0, 0.0)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        if plot:
            plot_waterfall(report, out / "waterfall.png", rp.adl_marks)
            plot_haircut_shares(report, out / "adl_policies.png")
    timings = report["timings_s"]
    del timings["wall"]
    timings["report"] = round(time.perf_counter() - t_report, 2)
    timings["wall"] = round(time.perf_counter() - t0, 2)
    if out is not None:
        write_report(report, rp, out, plot=False)
    return report


__all__ = ["FIRST_TRADER", "Replay", "ReplayError", "StepData", "run", "trader_keys"]
