"""The differential state machine: the contracts on Anvil and the reference model
side by side, every balance compared and I1-I10 checked after every step.

One :class:`Harness` per process: one Anvil, the system deployed by a
:class:`perpvault.chain.driver.Driver` (raw JSON-RPC; ape for the bench's baseline), the
set-up (traders funded, LP capital, a small insurance fund) done in lockstep on chain and
in the model, then an ``evm_snapshot``. Every Hypothesis example starts by reverting to
that snapshot and unpickling the model taken there.

Speed (docs/fuzzing.md): each transaction is sent before the model runs its side and its
receipt read after (``Rpc.start``), and the one-call state read likewise overlaps the
model's views (:class:`~perpvault.chain.compare.ModelViews`: each account's health computed
once per step, for the comparison and for I4). Nothing is compared less:
:func:`perpvault.chain.compare.diff` checks every number of the read (the one diff the
lockstep tests and the replay run too).

Time is explicit: every transaction is stamped ``model.now + 1`` (plus any time the
``time_passes`` rule added) with ``evm_setNextBlockTimestamp``, so the chain's block times
and the model's clock never drift and a shrunk sequence replays exactly.

Every rule takes plain values (no ``st.data()``), so Hypothesis prints a falsifying example
as calls that can be pasted into a test (see :func:`regression_test`).
"""

from __future__ import annotations

import copy
import os
import pickle
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import event as _h_event
from hypothesis import note as _h_note
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from perpvault.chain.compare import ModelViews, diff, model_from_chain
from perpvault.chain.driver import FAR_EXPIRY, Driver
from perpvault.chain.invariants import check_invariants
from perpvault.chain.logs import LogDecoder
from perpvault.chain.orders import Order as ChainOrder
from perpvault.chain.raw import open_raw
from perpvault.chain.rpc import AnvilProcess, TxReverted
from perpvault.chain.state import ChainState
from perpvault.keeper import plan_liquidation
from perpvault.model import Exchange, Order, Revert
from perpvault.model.maths import ahead as pm_ahead
from perpvault.model.maths import fee as requirement
from perpvault.model.state import MarketParams, RiskParams

PPM = 1_000_000
USDC = 10**6

# Roles by dev-account index.
OWNER, UPDATER, KEEPER = 0, 1, 2
LPS = (3, 9)
TRADERS = (4, 5, 6, 7, 8, 9)
WALLET = 10_000_000 * USDC
MARGIN = 40_000 * USDC
LP_CAPITAL = 400_000 * USDC
DONATION = 100 * USDC
WATERFALL = ("Liquidated", "BadDebtCovered", "ShortfallSocialized", "Deleveraged")
MAX_JUMP_STEP = 250_000  # oracle walks stay inside the feed's 30% max jump


def event(value: str) -> None:
    """hypothesis.event, and nothing outside a test (a pasted regression sequence)."""
    try:
        _h_event(value)
    except InvalidArgument:
        pass


def note(value: str) -> None:
    try:
        _h_note(value)
    except InvalidArgument:
        pass


class Violation(AssertionError):
    """An invariant or model disagreement; `ids` names which (I1..I10, MODEL)."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        self.ids = sorted({line.split(":", 1)[0].split()[0] for line in lines})
        super().__init__("\n".join(lines))


@dataclass
class Stats:
    """Campaign counters, shared by every example of one process."""

    steps: int = 0
    checks: int = 0
    rules: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    events: Counter = field(default_factory=Counter)  # waterfall events seen on chain
    examples: int = 0
    first_failure: int | None = None  # steps run when the first violation was seen
    on_step: Callable[[], None] | None = None


STATS = Stats()


# --- the harness: one Anvil, one deployment, the post-setup snapshot -------------------------


class Harness:
    """One chain with the system deployed and set up, and the model of it; see the module docstring.

    `backend` "raw" (the fuzzer: perpvault.chain.raw over JSON-RPC, its own Anvil) or "ape"
    (the same chain side through ape's contract objects, perpvault.chain.ape_driver: the bench's
    baseline). The raw client is strict: if the node dies, the next call raises
    :class:`~perpvault.chain.rpc.NodeUnreachable` and the campaign restarts the harness.
    """

    def __init__(
        self, mutant: str | None = None, anvil: AnvilProcess | None = None, backend: str = "raw"
    ):
        artifacts = None
        if mutant:
            from perpvault.fuzz.mutants import mutant_artifacts

            artifacts = mutant_artifacts(mutant)
        self.mutant = mutant
        self.backend = backend
        if backend == "raw":
            self.driver, self.anvil = open_raw(anvil, artifacts=artifacts, strict=True)
        elif backend == "ape":
            from perpvault.chain.ape_driver import open_ape

            self.driver, self.anvil = open_ape(anvil, artifacts=artifacts)
        else:
            raise ValueError(f"backend must be 'raw' or 'ape', not {backend!r}")
        try:
            self._prepare()
        except BaseException:
            if anvil is None:  # ours: do not leave it running
                self.close()
            raise

    def _prepare(self) -> None:
        d = self.driver
        self.system = d.system
        self.addr = [a.address for a in d.accounts]
        self.low = [a.lower() for a in self.addr]
        self.logs = LogDecoder(self.system.artifacts)
        # Every block is stamped exactly one second after the previous one (also after evm_revert):
        # chain and model clocks advance together without an RPC per transaction.
        d.set_block_interval(1)
        # The model of the freshly deployed system: same addresses, parameters and clocks.
        self.model = model_from_chain(d.read(), d.view, self.system, model=FastExchange)
        self.minted = 0
        self._setup()
        self.base_state = self.driver.read()
        # The model at the snapshot, pickled once: every example unpickles it (~5x cheaper than
        # deepcopy).
        self._base_model = pickle.dumps(self.model, pickle.HIGHEST_PROTOCOL)
        self.base_minted = self.minted
        self.snapshot = d.snapshot()

    @property
    def rpc(self) -> Any:
        """The raw backend's JSON-RPC client."""
        return self.driver.rpc

    # lockstep without checks, for the set-up
    def _both(self, chain: Callable[[], Any], model: Callable[[Exchange], Any]) -> None:
        self.model.at(self.model.now + 1)
        chain()
        model(self.model)

    def _setup(self) -> None:
        d, a, s = self.driver, self.addr, self.system
        for i in sorted(set(TRADERS) | set(LPS) | {OWNER}):
            self._both(lambda i=i: d.mint(a[i], WALLET), lambda m, i=i: m.mint(a[i], WALLET))
            self.minted += WALLET
            for spender in (s.clearinghouse, s.vault, s.fund):
                self._both(
                    lambda i=i, sp=spender: d.approve(a[i], sp),
                    lambda m, i=i, sp=spender: m.approve(a[i], sp),
                )
        for i in TRADERS:
            self._both(lambda i=i: d.deposit(a[i], MARGIN), lambda m, i=i: m.deposit(a[i], MARGIN))
        self._both(
            lambda: d.vault_deposit(a[LPS[0]], LP_CAPITAL),
            lambda m: m.vault_deposit(a[LPS[0]], LP_CAPITAL),
        )
        self._both(lambda: d.donate(a[OWNER], DONATION), lambda m: m.donate(a[OWNER], DONATION))

    def reset(self) -> Exchange:
        """Chain back to the post-setup snapshot; a fresh copy of the model taken there."""
        self.driver.revert(self.snapshot)
        self.snapshot = self.driver.snapshot()
        return pickle.loads(self._base_model)

    def close(self) -> None:
        try:
            self.driver.close()
        finally:
            self.anvil.stop()


class FastExchange(Exchange):
    """The reference model with a cheaper rollback copy (pickle is ~2x faster than deepcopy
    on the model's world); same transactions, same results."""

    def _tx(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        saved = pickle.dumps(self.w, pickle.HIGHEST_PROTOCOL)
        self.w.events = []
        try:
            result = fn(*args, **kwargs)
        except Revert:
            self.w = pickle.loads(saved)
            self.last_events = []
            raise
        self.last_events = self.w.events
        self.w.events = []
        self.tx_count += 1
        return result


def _drain(finish: Callable[[], Any]) -> None:
    """Collect the reply of a request in flight when the step failed before reading it, so the
    connection is ready for the next one; its own errors are secondary to the one being raised."""
    try:
        finish()
    except Exception:  # noqa: BLE001 - the original exception is re-raised by the caller
        pass


def peek(fn: Callable[[], Any]) -> Any:
    """Run model views directly: they write nothing except empty storage for an unknown
    account's margin, which callers avoid (Exchange._view deep-copies the world every call)."""
    return fn()


def maintenance_of(model: Exchange, positions: Any) -> int:
    """MMR of a chain-read account at the model's prices and parameters (chain numbers, model
    prices)."""
    ch = model.w.ch
    total = 0
    for m, p in enumerate(positions):
        if p.size:
            total += requirement(p.size, model.w.feed.rounds[m].price, ch.params[m].mmr)
    return total


# --- the machine -------------------------------------------------------------------------------


_HARNESS: Harness | None = None


def set_harness(h: Harness | None) -> None:
    global _HARNESS
    _HARNESS = h


def get_harness() -> Harness:
    global _HARNESS
    if _HARNESS is None:
        _HARNESS = Harness(os.environ.get("PERPVAULT_FUZZ_MUTANT") or None)
    return _HARNESS


traders = st.integers(0, len(TRADERS) - 1)
markets = st.integers(0, 1)
usdc = lambda lo, hi: st.integers(lo, hi).map(lambda x: x * USDC)  # noqa: E731

INVALID = (
    "deposit_zero",
    "withdraw_zero",
    "withdraw_too_much",
    "self_match",
    "outside_band",
    "liquidate_healthy",
    "params_not_owner",
    "params_out_of_bounds",
    "price_not_updater",
    "price_jump",
    "vault_zero_size",
    "redeem_too_much",
    "risk_out_of_bounds",
)


class PerpMachine(RuleBasedStateMachine):
    """Chain and model in lockstep (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.h = get_harness()
        self.model = self.h.reset()
        self.d: Driver = self.h.driver
        self.a = self.h.addr
        self.low = self.h.low
        self.pending = 0
        self.nonce = 1
        self.open_orders: list[tuple[ChainOrder, ChainOrder]] = []
        self.minted = self.h.base_minted
        # I3 running totals since the base snapshot
        self.net_deposits = 0
        self.swept = 0
        self.covered = 0
        self.base_books = _books(self.h.base_state)
        self.prev: ChainState = self.h.base_state
        self.ctx: dict[str, Any] = {}
        STATS.examples += 1

    # -- lockstep ------------------------------------------------------------------------------

    def _tick(self) -> int:
        t = self.model.now + 1 + self.pending
        if self.pending:
            self.h.driver.set_next_block_timestamp(t)
        self.pending = 0
        self.model.at(t)
        return t

    def _send(
        self,
        label: str,
        tx: tuple[str, str, bytes],
        model: Callable[[Exchange], Any],
        *,
        tick: bool = True,
    ) -> tuple[bool, str | None, list]:
        """One transaction (sender, to, calldata) on both sides; their outcomes (ok / revert
        reason) must agree. The model runs while the node mines (Rpc.start)."""
        if tick:
            self._tick()
        pending = self.h.driver.start_tx(*tx, label)
        try:
            model(self.model)
            m_err = None
        except Revert as e:
            m_err = e.reason
        except BaseException:
            _drain(pending.receipt)
            raise
        try:
            receipt = pending.receipt()
            c_err = None
        except TxReverted as e:
            receipt, c_err = None, e.reason
        logs = self.h.logs.decode(receipt)
        for name, f in logs:
            if name in WATERFALL:
                STATS.events[name] += 1
            if name == "Deposited":
                self.net_deposits += f["amount"]
            elif name == "Withdrawn":
                self.net_deposits -= f["amount"]
            elif name == "InsuranceSwept":
                self.swept += f["amount"]
            elif name == "BadDebtCovered":
                self.covered += f["amount"]
        STATS.outcomes[f"{label}: {c_err or 'ok'}"] += 1
        note(f"{label}: {c_err or 'ok'}")
        if c_err != m_err:
            self.ctx.setdefault("violations", []).append(
                f"MODEL outcome of {label}: chain {c_err or 'ok'} != model {m_err or 'ok'}"
            )
        if "expect_revert" in self.ctx and c_err is None:
            self.ctx.setdefault("violations", []).append(f"INVALID {label} was accepted on chain")
        self.ctx.setdefault("logs", []).extend(logs)
        return c_err is None, c_err, logs

    def _s(self) -> Any:
        return self.h.system

    def _count(self, name: str) -> None:
        STATS.rules[name] += 1
        event(name)

    def _price(self, market: int) -> int:
        return self.model.w.feed.rounds[market].price

    # -- rules ---------------------------------------------------------------------------------

    @initialize(
        lev=st.lists(st.integers(1, 9), min_size=3, max_size=3),
        market=markets,
        long_first=st.booleans(),
    )
    def open_book(self, lev: list[int], market: int, long_first: bool) -> None:
        """Every example starts with three leveraged pairs (1x-9x of the margin), so price moves
        reach liquidation, bad debt and ADL within a short example."""
        for pair, x in enumerate(lev):
            self.fill(
                maker=2 * pair,
                taker=2 * pair + 1,
                market=(market + pair) % 2,
                notional=MARGIN * x,
                buy=(pair % 2 == 0) == long_first,
                offset=0,
                partial=PPM,
            )

    @rule(who=traders, amount=usdc(1, 20_000))
    def deposit(self, who: int, amount: int) -> None:
        self._count("deposit")
        a, s = self.a[TRADERS[who]], self._s()
        self._send(
            "deposit", (a, s.clearinghouse, s.calls.deposit(amount)), lambda m: m.deposit(a, amount)
        )

    @rule(who=traders, amount=usdc(1, 60_000))
    def withdraw(self, who: int, amount: int) -> None:
        self._count("withdraw")
        a, s = self.a[TRADERS[who]], self._s()
        self._send(
            "withdraw",
            (a, s.clearinghouse, s.calls.withdraw(amount)),
            lambda m: m.withdraw(a, amount),
        )

    def _match(
        self, label: str, maker_o: ChainOrder, taker_o: ChainOrder, fill_size: int, sender: str
    ) -> bool:
        s = self._s()
        data = s.calls.match_orders(
            maker_o.as_tuple(),
            s.signer.sign(maker_o),
            taker_o.as_tuple(),
            s.signer.sign(taker_o),
            fill_size,
        )
        self._begin_trade([maker_o.account, taker_o.account])
        ok, _, _ = self._send(
            label,
            (sender, s.order_book, data),
            lambda m: m.match_orders(
                sender, Order.of(maker_o.as_tuple()), Order.of(taker_o.as_tuple()), fill_size
            ),
            tick=False,
        )
        return ok

    @rule(
        maker=traders,
        taker=traders,
        market=markets,
        notional=usdc(100, 400_000),
        buy=st.booleans(),
        offset=st.integers(-900, 900),
        partial=st.integers(200_000, 1_000_000),
    )
    def fill(
        self,
        maker: int,
        taker: int,
        market: int,
        notional: int,
        buy: bool,
        offset: int,
        partial: int,
    ) -> None:
        """Signed orders at a price within the band (offset: thousandths of the band), partially
        filled."""
        self._count("fill")
        if maker == taker:
            taker = (taker + 1) % len(TRADERS)
        self._tick()
        oracle = self._price(market)
        band = self.model.w.ch.params[market].price_band
        price = oracle * (PPM * 1000 + band * offset) // (PPM * 1000)
        size = max(notional * 10**30 // price, 1) * (1 if buy else -1)
        fill_size = max(abs(size) * partial // PPM, 1)
        mo = ChainOrder(self.a[TRADERS[maker]], market, -size, price, self.nonce, FAR_EXPIRY)
        to = ChainOrder(self.a[TRADERS[taker]], market, size, price, self.nonce + 1, FAR_EXPIRY)
        self.nonce += 2
        if self._match("fill", mo, to, fill_size, self.a[TRADERS[taker]]) and fill_size < abs(size):
            self.open_orders.append((mo, to))

    @precondition(lambda self: self.open_orders)
    @rule(k=st.integers(0, 7), partial=st.integers(100_000, 1_000_000))
    def fill_again(self, k: int, partial: int) -> None:
        """Fill more of a partially filled pair (may overfill: then both sides must reject it
        alike)."""
        self._count("fill_again")
        mo, to = self.open_orders[k % len(self.open_orders)]
        self._tick()
        self._match("fill_again", mo, to, max(abs(to.size) * partial // PPM, 1), self.a[KEEPER])

    @rule(who=traders, market=markets, notional=usdc(100, 300_000), buy=st.booleans())
    def vault_trade(self, who: int, market: int, notional: int, buy: bool) -> None:
        self._count("vault_trade")
        a = self.a[TRADERS[who]]
        self._tick()
        oracle = self._price(market)
        size = max(notional * 10**30 // oracle, 1) * (1 if buy else -1)
        limit = oracle * 105 // 100 if buy else oracle * 95 // 100
        s = self._s()
        self._begin_trade([a, s.vault])
        self._send(
            "vault_trade",
            (a, s.vault, s.calls.vault_trade(market, size, limit)),
            lambda m: m.vault_trade(a, market, size, limit),
            tick=False,
        )

    @rule(lp=st.integers(0, len(LPS) - 1), amount=usdc(1, 200_000))
    def lp_deposit(self, lp: int, amount: int) -> None:
        self._count("lp_deposit")
        a = self.a[LPS[lp]]
        s = self._s()
        self._tick()
        self._begin_vault()
        self._send(
            "lp_deposit",
            (a, s.vault, s.calls.vault_deposit(amount, a)),
            lambda m: m.vault_deposit(a, amount),
            tick=False,
        )

    @rule(lp=st.integers(0, len(LPS) - 1), frac=st.integers(1, 1_000_000))
    def lp_redeem(self, lp: int, frac: int) -> None:
        self._count("lp_redeem")
        a = self.a[LPS[lp]]
        shares = self.model.w.vault.balance_of(a.lower()) * frac // PPM
        s = self._s()
        self._tick()
        self._begin_vault()
        self._send(
            "lp_redeem",
            (a, s.vault, s.calls.vault_redeem(shares, a, a)),
            lambda m: m.vault_redeem(a, shares),
            tick=False,
        )

    @rule(who=traders, amount=usdc(1, 5_000))
    def donate(self, who: int, amount: int) -> None:
        self._count("donate")
        a = self.a[TRADERS[who]]
        s = self._s()
        self._send("donate", (a, s.fund, s.calls.donate(amount)), lambda m: m.donate(a, amount))

    def _set_price(self, label: str, market: int, price: int, sender: str | None = None) -> bool:
        s = self._s()
        sender = sender or s.oracle_updater
        ok, _, _ = self._send(
            label,
            (sender, s.feed, s.calls.set_price(market, price)),
            lambda m: m.set_price(sender, market, price),
        )
        return ok

    @rule(market=markets, move=st.integers(-20_000, 20_000))
    def oracle_step(self, market: int, move: int) -> None:
        self._count("oracle_step")
        self._set_price("oracle_step", market, max(self._price(market) * (PPM + move) // PPM, 1))

    @rule(market=markets, pct=st.integers(10, 60), up=st.booleans())
    def oracle_crash(self, market: int, pct: int, up: bool) -> None:
        """A move of pct% walked in steps the feed accepts (each at most 25%)."""
        self._count("oracle_crash")
        start = self._price(market)
        target = start * (100 + pct if up else 100 - pct) // 100
        while self._price(market) != target:
            p = self._price(market)
            step = max(
                min(target, p * (PPM + MAX_JUMP_STEP) // PPM), p * (PPM - MAX_JUMP_STEP) // PPM
            )
            if not self._set_price("oracle_crash", market, step):
                break

    @rule(seconds=st.integers(1, 7_200))
    def time_passes(self, seconds: int) -> None:
        """Time passes (funding accrues); the oracle updater refreshes every price (heartbeat)."""
        self._count("time_passes")
        self.pending += seconds
        if self.model.w.ch.paused:
            self._owner_call("unpause")
        for m in range(self.model.w.ch.market_count):
            self._set_price("heartbeat", m, self._price(m))

    @rule(who=traders)
    def settle_funding(self, who: int) -> None:
        self._count("settle_funding")
        a, k = self.a[TRADERS[who]], self.a[KEEPER]
        s = self._s()
        self._send(
            "settle_funding",
            (k, s.clearinghouse, s.calls.settle_funding(a)),
            lambda m: m.settle_funding(k, a),
        )

    @rule()
    def sweep(self) -> None:
        self._count("sweep")
        k = self.a[KEEPER]
        s = self._s()
        self._send(
            "sweep",
            (k, s.clearinghouse, s.calls.sweep_to_insurance),
            lambda m: m.sweep_to_insurance(k),
        )

    def _liquidatable(self) -> list[str]:
        ch = self.model.w.ch
        return peek(lambda: [a for a in ch.known if ch.is_liquidatable(a)])

    def _liquidate(
        self, label: str, account: str, cps: list[str], keeper: str
    ) -> tuple[bool, str | None]:
        s = self._s()
        self.ctx["liquidated"] = account
        self.ctx["cps"] = list(cps)
        ok, reason, _ = self._send(
            label,
            (keeper, s.clearinghouse, s.calls.liquidate(account, cps)),
            lambda m: m.liquidate(keeper, account, cps),
            tick=False,
        )
        return ok, reason

    @rule(k=st.integers(0, 15), self_liquidate=st.booleans(), probe_same_side=st.booleans())
    def liquidate(self, k: int, self_liquidate: bool, probe_same_side: bool) -> None:
        """Liquidate an account (a liquidatable one when there is one) with the keeper's ADL list,
        planned on the model by perpvault.keeper's planner. `probe_same_side` first sends the list
        with a same-side account in it, which both sides must reject alike."""
        self._count("liquidate")
        self._tick()
        targets = self._liquidatable()
        known = self.model.w.ch.known
        account = targets[k % len(targets)] if targets else known[k % len(known)]
        keeper = account if self_liquidate and account in self.low else self.a[KEEPER].lower()
        event(f"liquidate: {'liquidatable' if targets else 'healthy'} target")
        try:
            cps = plan_liquidation(self.model, account, keeper).counterparties if targets else []
        except (RuntimeError, KeyError, ZeroDivisionError, ValueError) as e:
            note(f"keeper plan failed: {e}")
            event("liquidate: no plan")
            cps = []
        if cps and probe_same_side:
            ch = self.model.w.ch
            market = next(
                m for m in range(ch.market_count) if ch.positions_of(account, m).size != 0
            )
            side = ch.positions_of(account, market).size > 0
            same = [
                a
                for a in known
                if a != account
                and ch.positions_of(a, market).size != 0
                and (ch.positions_of(a, market).size > 0) == side
            ]
            if same:
                event("liquidate: same-side probe")
                self._liquidate("liquidate_same_side", account, [same[0]] + cps, keeper)
                self.ctx.pop("liquidated", None)
                self._tick()
        if cps:
            event("liquidate: with ADL list")
        self.ctx["pre_liquidation"] = self._pre_equities()
        ch = self.model.w.ch
        self.ctx["pre_scores"] = peek(
            lambda: {
                (a, m): ch.adl_score(a, m)
                for a in ch.known
                for m in range(ch.market_count)
                if ch.positions_of(a, m).size != 0
            }
        )
        self._liquidate("liquidate", account, cps, keeper)

    def _pre_equities(self) -> dict[str, int | None]:
        ch = self.model.w.ch

        def eq(a: str) -> int | None:
            try:
                return ch.equity(a)
            except Revert:
                return None

        return peek(lambda: {a: eq(a) for a in ch.known})

    @rule(
        market=markets,
        which=st.sampled_from(["mmr", "imr", "fees", "penalty", "band", "funding", "skew_scale", "min_notional"]),
        x=st.integers(0, 1_000_000),
    )
    def announce_market_params(self, market: int, which: str, x: int) -> None:
        """The owner announces a change inside the hard bounds (x picks the value); it applies
        through `apply_pending` once the delay has passed."""
        self._count("announce_market_params")
        p = copy.copy(self.model.w.ch.params[market])
        if which == "mmr":
            p.mmr = 5_000 + x * (min(p.imr - 1, 500_000) - 5_000) // PPM
        elif which == "imr":
            p.imr = p.mmr + 1 + x * (1_000_000 - p.mmr - 1) // PPM
        elif which == "fees":
            p.maker_fee, p.taker_fee = x % 10_001, (x // 7) % 10_001
        elif which == "penalty":
            p.liquidation_penalty = x % 100_001
        elif which == "band":
            p.price_band = 1 + x % 200_000
        elif which == "funding":
            p.max_funding_rate = x * (10**18 // 3600 // 100) // PPM
        elif which == "min_notional":
            p.min_notional = x * 50  # 0 .. 50 USDC
        else:
            p.skew_scale = 10**18 + x * x * 10**12  # 1 .. 1M base units: from nearly always at the cap to nearly off
        self._params(market, p)

    def _params(self, market: int, p: MarketParams, sender: str | None = None) -> None:
        s = self._s()
        sender = sender or s.owner
        data = (
            s.abis["Clearinghouse"].fn("announce_market_params").encode(market, tuple(vars(p).values()))
        )
        self._send(
            "announce_market_params",
            (sender, s.clearinghouse, data),
            lambda m: m.announce_market_params(sender, market, p),
        )

    @rule(
        which=st.sampled_from(["buffer", "keeper", "fee_share", "drawdown", "window"]),
        x=st.integers(0, 1_000_000),
    )
    def announce_risk_params(self, which: str, x: int) -> None:
        self._count("announce_risk_params")
        r = copy.copy(self.model.w.ch.risk)
        if which == "buffer":
            r.liquidation_buffer = 10_000 + x * 990_000 // PPM
        elif which == "keeper":
            r.keeper_share = x // 2
        elif which == "fee_share":
            r.fund_fee_share = x
        elif which == "drawdown":
            r.vault_max_drawdown = max(1, min(x, PPM - 1))
        else:
            r.vault_window = 1 + x * (30 * 86400 - 1) // PPM
        self._risk(r)

    def _risk(self, r: RiskParams, sender: str | None = None) -> None:
        s = self._s()
        sender = sender or s.owner
        data = s.abis["Clearinghouse"].fn("announce_risk_params").encode(tuple(vars(r).values()))
        self._send(
            "announce_risk_params",
            (sender, s.clearinghouse, data),
            lambda m: m.announce_risk_params(sender, r),
        )

    @rule(early=st.booleans())
    def apply_pending(self, early: bool) -> None:
        """The owner applies what is announced: `early`, now (refused unless due: the timelock
        holds on chain as in the model); otherwise after waiting out the delay, with the oracle
        refreshed. With nothing announced, both sides refuse."""
        self._count("apply_pending")
        ch, s = self.model.w.ch, self._s()
        o = s.owner
        due = [*ch.pending_params_eta.values(), *([ch.pending_risk_eta] if ch.pending_risk_eta else [])]
        if due and not early:
            self.pending += max(max(due) - self.model.now, 0)
            for m in range(ch.market_count):
                self._set_price("heartbeat", m, self._price(m))
        abi = s.abis["Clearinghouse"]
        for market in sorted(ch.pending_params_eta) or [0]:
            self._send(
                "apply_market_params",
                (o, s.clearinghouse, abi.fn("apply_market_params").encode(market)),
                lambda m, market=market: m.apply_market_params(o, market),
            )
        if ch.pending_risk_eta or not due:
            self._send(
                "apply_risk_params",
                (o, s.clearinghouse, abi.fn("apply_risk_params").encode()),
                lambda m: m.apply_risk_params(o),
            )

    @precondition(lambda self: not self.model.w.ch.paused)
    @rule()
    def pause(self) -> None:
        """The owner pauses new risk until the next `time_passes`: reductions, withdrawals and
        liquidations go on."""
        self._count("pause")
        self._owner_call("pause")

    def _owner_call(self, name: str) -> None:
        s = self._s()
        data = s.abis["Clearinghouse"].fn(name).encode()
        self._send(name, (s.owner, s.clearinghouse, data), lambda m: getattr(m, name)(s.owner))

    @rule(kind=st.sampled_from(INVALID), who=traders, market=markets)
    def invalid(self, kind: str, who: int, market: int) -> None:
        """A deliberately invalid action: must revert on chain and in the model, for the same
        reason."""
        self._count("invalid")
        event(f"invalid: {kind}")
        s, a = self._s(), self.a[TRADERS[who]]
        self.ctx["expect_revert"] = kind
        if kind == "deposit_zero":
            self._send(kind, (a, s.clearinghouse, s.calls.deposit(0)), lambda m: m.deposit(a, 0))
        elif kind == "withdraw_zero":
            self._send(kind, (a, s.clearinghouse, s.calls.withdraw(0)), lambda m: m.withdraw(a, 0))
        elif kind == "withdraw_too_much":
            # more than the whole equity (unrealized profit counts) at the withdrawal's time
            self._tick()
            amount = max(_safe(lambda: self.model.equity(a)) or 0, 0) + 1
            self._send(
                kind,
                (a, s.clearinghouse, s.calls.withdraw(amount)),
                lambda m: m.withdraw(a, amount),
                tick=False,
            )
        elif kind in ("self_match", "outside_band"):
            self._tick()
            oracle = self._price(market)
            band = self.model.w.ch.params[market].price_band
            price = oracle if kind == "self_match" else oracle * (PPM + band) // PPM + 10**18
            other = a if kind == "self_match" else self.a[TRADERS[(who + 1) % len(TRADERS)]]
            size = 10**16
            mo = ChainOrder(other, market, -size, price, self.nonce, FAR_EXPIRY)
            to = ChainOrder(a, market, size, price, self.nonce + 1, FAR_EXPIRY)
            self.nonce += 2
            self._match(kind, mo, to, size, a)
        elif kind == "liquidate_healthy":
            self._tick()
            ch = self.model.w.ch
            healthy = [x for x in ch.known if x not in self._liquidatable()]
            if not healthy:
                self.ctx.pop("expect_revert")
                return
            self._liquidate(kind, healthy[who % len(healthy)], [], self.a[KEEPER])
            self.ctx.pop("liquidated", None)
        elif kind == "params_not_owner":
            self._params(market, copy.copy(self.model.w.ch.params[market]), sender=a)
        elif kind == "params_out_of_bounds":
            p = copy.copy(self.model.w.ch.params[market])
            p.mmr = 0
            self._params(market, p)
        elif kind == "risk_out_of_bounds":
            r = copy.copy(self.model.w.ch.risk)
            r.keeper_share = 500_001
            self._risk(r)
        elif kind == "price_not_updater":
            self._set_price(kind, market, self._price(market), sender=a)
        elif kind == "price_jump":
            self._set_price(kind, market, self._price(market) * 14 // 10)
        elif kind == "vault_zero_size":
            self._send(
                kind,
                (a, s.vault, s.calls.vault_trade(market, 0, 0)),
                lambda m: m.vault_trade(a, market, 0, 0),
            )
        elif kind == "redeem_too_much":
            shares = self.model.w.vault.balance_of(a.lower()) + 10**12
            self._send(
                kind,
                (a, s.vault, s.calls.vault_redeem(shares, a, a)),
                lambda m: m.vault_redeem(a, shares),
            )

    # -- context for the invariants --------------------------------------------------------------

    def _begin_trade(self, parties: list[str]) -> None:
        """I8: each party's health at the trade's timestamp, before it."""
        ch = self.model.w.ch
        self.ctx["pre_health"] = peek(
            lambda: {
                p.lower(): _safe(lambda p=p: ch.health(p.lower()))
                for p in parties
                if p.lower() in ch.accounts
            }
        )

    def _begin_vault(self) -> None:
        """I9: the vault's assets and supply at the LP action's timestamp, before it."""
        v = self.model.w.vault
        self.ctx["pre_vault"] = (_safe(v.total_assets), v.total_supply)

    # -- after every step ------------------------------------------------------------------------

    @invariant()
    def agrees_and_holds(self) -> None:
        ctx, self.ctx = self.ctx, {}
        d = self.h.driver
        d.start_read()  # the node runs the one-call read while the model computes its views
        try:
            views = ModelViews.of(self.model, self.h.addr)
        except BaseException:
            _drain(d.finish_read)
            raise
        state = d.finish_read()
        bad = list(ctx.get("violations", []))
        bad += diff(self.model, state, views)
        bad += check_invariants(state)  # I1, I2, I5
        bad += (
            self._i3(state)
            + self._i4_i6_i7(state, ctx)
            + self._i8(state, ctx)
            + self._i9(state, ctx)
        )
        bad += self._i10(state) + self._i4_solvency(state, views)
        STATS.steps += 1
        STATS.checks += 1
        if STATS.on_step:
            STATS.on_step()
        self.prev = state
        if bad:
            if STATS.first_failure is None:
                STATS.first_failure = STATS.steps
            raise Violation(bad)

    def _i3(self, state: ChainState) -> list[str]:
        """I3: everything the accounts gained together (sum of margin - open notional, minus
        their net deposits) equals minus what went to fees, dust and funding pools (held in the
        clearinghouse: bad debt covered from the dues lowers it), minus what was swept to the
        fund, plus what the fund paid out (its total_out). And the fund pays out only to cover
        bad debt: its total_out never grew by more than the bad debt covered (the rest came
        from the dues)."""
        gained = _books(state) - self.base_books - self.net_deposits
        held = (
            state.insurance_due
            - self.h.base_state.insurance_due
            + sum(m.funding_pool for m in state.markets)
            - sum(m.funding_pool for m in self.h.base_state.markets)
        )
        paid = state.fund_total_out - self.h.base_state.fund_total_out
        out = []
        if gained != -held - self.swept + paid:
            out.append(
                f"I3: accounts gained {gained} != -(held {held}) - swept {self.swept} "
                f"+ fund paid {paid}"
            )
        if paid > self.covered:
            out.append(f"I3: the fund paid out {paid}, more than the bad debt covered {self.covered}")
        return out

    def _i4_i6_i7(self, state: ChainState, ctx: dict) -> list[str]:
        account = ctx.get("liquidated")
        logs = ctx.get("logs", [])
        if account is None or not any(n == "Liquidated" for n, _ in logs):
            return []
        out = []
        by = {a.lower(): x for a, x in state.accounts.items()}
        before = {a.lower(): x for a, x in self.prev.accounts.items()}
        eq = by[account].equity
        if eq is None or eq < 0:
            out.append(f"I4: {account} has equity {eq} after liquidate")
        for a, e0 in ctx.get("pre_liquidation", {}).items():
            e1 = by[a].equity if a in by else None
            if a != account and e0 is not None and e0 >= 0 and e1 is not None and e1 < 0:
                out.append(f"I4: liquidating {account} left {a} in debt ({e0} -> {e1})")
        shortfall = sum(f["amount"] for n, f in logs if n == "ShortfallSocialized")
        haircuts = sum(f["haircut"] for n, f in logs if n == "Deleveraged")
        if haircuts != shortfall:
            out.append(f"I6: haircuts {haircuts} != shortfall socialized {shortfall}")
        if shortfall and state.fund_balance != 0:
            out.append(
                f"I6: shortfall {shortfall} socialized while the fund still holds "
                f"{state.fund_balance}"
            )
        if shortfall and eq != 0:
            out.append(f"I6: bankrupt {account} ends at equity {eq} != 0 after ADL")
        cps = [f["counterparty"] for n, f in logs if n == "Deleveraged"]
        if cps != ctx.get("cps", [])[: len(cps)]:
            out.append(f"I7: deleveraged {cps} not the keeper's list in order {ctx.get('cps')}")
        dl = [f for n, f in logs if n == "Deleveraged"]
        first = [f["counterparty"] for f in dl if f["market"] == dl[0]["market"]] if dl else []
        scores = ctx.get("pre_scores", {})
        # Order (scores at the transaction's time; later markets may see scores an earlier ADL
        # moved).
        for a, b in zip(first, first[1:], strict=False):
            sa, sb = scores.get((a, dl[0]["market"])), scores.get((b, dl[0]["market"]))
            if sa is None or sb is None or not pm_ahead(sa, a, sb, b):
                out.append(
                    f"I7: {a} (score {sa}) deleveraged before {b} (score {sb}) in market "
                    f"{dl[0]['market']}"
                )
        for n, f in logs:
            if n != "Deleveraged":
                continue
            cp, mk = f["counterparty"], f["market"]
            q0 = before[cp].positions[mk].size if cp in before else 0
            q1 = by[cp].positions[mk].size
            qb = before[account].positions[mk].size
            if q0 == 0 or qb == 0 or (q0 > 0) == (qb > 0):
                out.append(
                    f"I7: counterparty {cp} in market {mk} was {q0} against bankrupt {qb} "
                    "(same side or flat)"
                )
            if abs(q1) > abs(q0) or (q1 != 0 and (q1 > 0) != (q0 > 0)):
                out.append(
                    f"I7: counterparty {cp} in market {mk} went {q0} -> {q1} (increased or flipped)"
                )
        return out

    def _i4_solvency(self, state: ChainState, views: ModelViews) -> list[str]:
        """I4, second half: with no liquidatable account left, the positive equities are covered
        by the clearinghouse's balance."""
        if any(a.equity is None for a in state.accounts.values()) or views.any_liquidatable(
            self.model
        ):
            return []
        positive = sum(max(a.equity, 0) for a in state.accounts.values() if a.known)
        if positive > state.clearinghouse_balance:
            return [
                f"I4: positive equities {positive} > clearinghouse balance "
                f"{state.clearinghouse_balance}"
            ]
        return []

    def _i8(self, state: ChainState, ctx: dict) -> list[str]:
        out: list[str] = []
        pre = ctx.get("pre_health")
        if not pre:
            return out
        by = {a.lower(): x for a, x in state.accounts.items()}
        prev = {x.lower(): y for x, y in self.prev.accounts.items()}
        for a, h in pre.items():
            if h is None or h.maintenance == 0 or h.equity >= h.maintenance:
                continue
            after = by.get(a)
            before = prev.get(a)
            if (
                after is None
                or before is None
                or [p.stored for p in after.positions] == [p.stored for p in before.positions]
                or after.equity is None
            ):
                continue
            m1 = maintenance_of(self.model, after.positions)
            if m1 > h.maintenance or after.equity * h.maintenance < h.equity * m1:
                out.append(
                    f"I8: {a} below maintenance (E {h.equity}, MMR {h.maintenance}) traded to "
                    f"E {after.equity}, MMR {m1}"
                )
        return out

    def _i9(self, state: ChainState, ctx: dict) -> list[str]:
        pre = ctx.get("pre_vault")
        if not pre or pre[0] is None or state.vault_total_assets is None:
            return []
        a0, s0 = pre
        a1, s1 = state.vault_total_assets, state.vault_total_supply
        if (a1 + 1) * (s0 + 10**6) < (a0 + 1) * (s1 + 10**6):
            return [f"I9: share price fell: assets/supply {a0}/{s0} -> {a1}/{s1}"]
        return []

    def _i10(self, state: ChainState) -> list[str]:
        wallets = sum(x.wallet for x in state.accounts.values())
        if wallets > self.minted:
            return [f"I10: users hold {wallets} > everything minted to them {self.minted}"]
        return []


def _books(state: ChainState) -> int:
    return sum(
        a.margin - sum(p.open_notional for p in a.positions)
        for a in state.accounts.values()
        if a.known
    )


def _safe(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Revert:
        return None


# --- regression tests from shrunk examples ----------------------------------------------------


def regression_test(steps: str, name: str = "test_regression", mutant: str | None = None) -> str:
    """Hypothesis' printed falsifying example (``state = PerpMachine()`` ... ``state.teardown()``)
    as a plain pytest function for tests/fuzz/test_regressions.py."""
    lines = [ln.strip() for ln in steps.splitlines()]
    try:
        start = next(i for i, ln in enumerate(lines) if ln.startswith("state = "))
    except StopIteration:
        start = 0
    body = []
    for ln in lines[start:]:
        if not ln.startswith("state"):
            continue
        body.append(ln)
        if ln.startswith("state.teardown()"):
            break
    if mutant is None:
        out = [
            f"def {name}(fuzz_harness):",
            "    from perpvault.fuzz.machine import PerpMachine",
            "",
        ]
        out += [f"    {ln}" for ln in body]
    else:  # a mutant's sequence proves detection: it must fail on the mutant
        out = [
            f'@pytest.mark.parametrize("mutant_harness", [{mutant!r}], indirect=True)',
            f"def {name}(mutant_harness):",
            "    from perpvault.fuzz.machine import PerpMachine, Violation",
            "",
            "    with pytest.raises(Violation):",
        ]
        out += [f"        {ln}" for ln in body]
    return "\n".join(out) + "\n"


__all__ = [
    "Harness",
    "PerpMachine",
    "STATS",
    "Stats",
    "Violation",
    "get_harness",
    "regression_test",
    "set_harness",
]
