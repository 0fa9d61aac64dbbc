"""The keeper of the risk waterfall (SPEC section 6): find liquidatable accounts, compute the
ADL counterparties the Clearinghouse will ask for, liquidate, and say what happened.

``Clearinghouse.liquidate(account, counterparties)`` never scans positions: where a close
cannot go to the LiquidityVault, it takes the bankrupt's opposite side from the keeper's
flat list, market by market (market-id order), and checks that each counterparty is on
the opposite side, holds a position, and that scores strictly decrease (ties by lower
address). So the keeper must know, before sending, exactly which closes go to ADL and how
many counterparties each consumes. :meth:`Keeper.plan` replays the contract's decisions
with the same integer maths (partial or full close, fee and penalty, fund cover, the
shortfall's split by notional, the vault's limits and loss cap, the greedy ADL cascade
including the score changes of a counterparty deleveraged in an earlier market), then
checks the plan with an ``eth_call`` dry run before sending it.

:class:`Keeper` works through ape (tests, demo). :class:`KeeperBot` is the same keeper as a
long-running bot over raw JSON-RPC that survives its node being killed and restarted
(docs/security.md, "The keeper when its node fails").
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from perpvault.model.maths import adl_score, fee, notional, trunc_div, value
from perpvault.units import PPM, fmt_usdc

# The same integer maths as the contracts: perpvault.model.maths, the twin of perp_math.vy.
_trunc_div = trunc_div


def _ceil_div(x: int, d: int) -> int:
    return -((-x) // d)

WATERFALL_EVENTS = ("Liquidated", "BadDebtCovered", "ShortfallSocialized", "Deleveraged")


def adl_key(score: int, account: str) -> tuple[int, int]:
    """Sort key of the ADL queue: higher score first, ties by lower address."""
    return (-score, int(account, 16))


# --- events in plain words --------------------------------------------------------------------


@dataclass(frozen=True)
class WaterfallEvent:
    name: str
    args: dict[str, Any]


def _size(q: int) -> str:
    return f"{abs(q) / 10**18:,.6f}".rstrip("0").rstrip(".")


def _price(p: int) -> str:
    return f"{p / 10**18:,.4f}"


def describe(event: WaterfallEvent, names: dict[str, str] | None = None) -> str:
    """One waterfall event as a sentence. `names` maps addresses to role names."""
    names = {k.lower(): v for k, v in (names or {}).items()}

    def who(address: str) -> str:
        return names.get(str(address).lower(), str(address)[:10])

    a = event.args
    if event.name == "Liquidated":
        side = "sold" if a["size"] < 0 else "bought back"
        to = "the LiquidityVault took it" if a["to_vault"] else "closed against ADL counterparties"
        return (
            f"{who(a['account'])} liquidated in market {a['market']}: {side} {_size(a['size'])} at mark "
            f"{_price(a['price'])} ({to}); penalty {fmt_usdc(a['penalty'])} USDC, of which "
            f"{fmt_usdc(a['keeper_reward'])} to keeper {who(a['keeper'])}"
        )
    if event.name == "BadDebtCovered":
        return f"the insurance fund covered {fmt_usdc(a['amount'])} USDC of {who(a['account'])}'s bad debt"
    if event.name == "ShortfallSocialized":
        return (
            f"{fmt_usdc(a['amount'])} USDC of {who(a['account'])}'s bad debt exceeded the fund "
            f"and was socialized by ADL"
        )
    if event.name == "Deleveraged":
        side = "short" if a["size"] > 0 else "long"
        return (
            f"{who(a['counterparty'])} auto-deleveraged in market {a['market']}: {side} cut by "
            f"{_size(a['size'])} at ADL price {_price(a['price'])} against bankrupt "
            f"{who(a['bankrupt'])}, giving up {fmt_usdc(a['haircut'])} USDC vs mark"
        )
    return f"{event.name}({a})"


def waterfall_events(receipt: Any) -> list[WaterfallEvent]:
    """The Liquidated / BadDebtCovered / ShortfallSocialized / Deleveraged logs of a receipt, in order."""
    out = []
    for log in receipt.events:
        if log.event_name in WATERFALL_EVENTS:
            out.append(WaterfallEvent(log.event_name, {k: v for k, v in log.event_arguments.items()}))
    return out


# --- a snapshot of what the waterfall reads ---------------------------------------------------


@dataclass
class Book:
    """One account as the waterfall sees it: equity at mark (funding included) and positions."""

    equity: int
    sizes: dict[int, int]
    bases: dict[int, int]  # open notional per market

    def apply(self, market: int, delta: int, cash: int, price: int, charge: int = 0) -> None:
        """Move the position by `delta` paying `cash` (the contract's _change_position): equity
        moves by value(q + delta) - value(q) - cash, exactly; the cost basis keeps its entry."""
        q = self.sizes.get(market, 0)
        q_new = q + delta
        on = self.bases.get(market, 0)
        if q == 0 or (q > 0) == (delta > 0):
            on_new = on + cash
        elif abs(delta) <= abs(q):
            on_new = _trunc_div(on * q_new, q)
        else:
            on_new = _trunc_div(cash * q_new, delta)
        self.equity += value(q_new, price) - value(q, price) - cash - charge
        self.sizes[market] = q_new
        self.bases[market] = on_new


@dataclass
class Plan:
    """What the keeper expects `liquidate` to do."""

    account: str
    partial: tuple[int, int] | None  # (market, signed close) of attempt 1, if partial
    closes: dict[int, int]  # the closes that ran last (signed, per market)
    shortfall: int
    haircuts: dict[int, int]
    to_vault: dict[int, bool]
    counterparties: list[str] = field(default_factory=list)


@dataclass
class Liquidation:
    """One sent liquidation: the list used, the receipt and its waterfall events."""

    account: str
    counterparties: list[str]
    receipt: Any
    events: list[WaterfallEvent]

    def describe(self, names: dict[str, str] | None = None) -> list[str]:
        return [describe(e, names) for e in self.events]


def _address(account: Any) -> str:
    return str(getattr(account, "address", account))


def dry_run(contract: Any, method: str, args: tuple, sender: Any) -> str | None:
    """`eth_call` `contract.method(*args)` from `sender`; the revert reason, or None if it passes.

    Goes through web3 directly: ape enriches every revert with a full opcode trace, which
    takes seconds on the waterfall's loops, and a keeper dry-runs often.
    """
    from web3.exceptions import ContractLogicError

    data = getattr(contract, method).encode_input(*args)
    web3 = contract.provider.web3
    try:
        web3.eth.call({"from": _address(sender), "to": contract.address, "data": data})
    except ContractLogicError as exc:
        message = str(exc.message if getattr(exc, "message", None) else exc)
        return message.removeprefix("execution reverted: ").strip()
    return None


def _pending_timestamp() -> int:
    import ape  # lazily: the maths above is usable without a chain

    return ape.chain.pending_timestamp


@dataclass
class WaterfallSnapshot:
    """Everything `liquidate` reads, taken at the block the liquidation will run in.

    Built from the chain (:meth:`Keeper.snapshot`) or from the reference model
    (:func:`snapshot_from_model`); :func:`plan_liquidation` replays the waterfall on it.
    `params`/`risk` need the contracts' field names (ape structs or the model's dataclasses).
    """

    prices: dict[int, int]
    params: dict[int, Any]
    risk: Any
    vault: str
    books: dict[str, Book]
    fund_left: int
    now: int
    peak: tuple[int, int]  # (vault_peak_equity, vault_peak_time)


def snapshot_from_model(ex: Any, accounts: set[str] | None = None) -> WaterfallSnapshot:
    """The snapshot of a reference-model `Exchange` at its current time (addresses lower-case),
    with the books of `accounts` only if given (every account otherwise)."""
    def take() -> WaterfallSnapshot:
        ch = ex.w.ch
        n = ch.market_count
        books = {}
        for a in ch.known:
            if accounts is not None and a not in accounts:
                continue
            sizes, bases = {}, {}
            for m in range(n):
                pos = ch.positions_of(a, m)
                if pos.size != 0:
                    sizes[m], bases[m] = pos.size, pos.open_notional
            books[a] = Book(ch.equity(a), sizes, bases)
        return WaterfallSnapshot(
            prices={m: ch.mark_price(m) for m in range(n)},
            params={m: copy.copy(ch.params[m]) for m in range(n)},
            risk=copy.copy(ch.risk),
            vault=ch.vault,
            books=books,
            fund_left=ex.w.fund.available(),
            now=ex.w.now,
            peak=(ch.vault_peak_equity, ch.vault_peak_time),
        )
    return ex._view(take)


def plan_liquidation(snap: WaterfallSnapshot, account: str, sender: str) -> Plan:
    """Replay the contract's waterfall for `liquidate(account, ...)` sent by `sender` on `snap`
    (which it consumes) and return the plan with the counterparties it will consume."""
    prices, params, risk, vault, books = snap.prices, snap.params, snap.risk, snap.vault, snap.books
    me = books[account]
    fund_left = snap.fund_left
    now = snap.now
    peak = list(snap.peak)
    cps: list[str] = []

    def maintenance(book: Book) -> int:
        return sum(fee(q, prices[m], params[m].mmr) for m, q in book.sizes.items() if q)

    def vault_can_take(market: int, take: int) -> bool:
        vb = books[vault]
        if now > peak[1] + risk.vault_window or vb.equity > peak[0]:
            peak[0], peak[1] = vb.equity, now
        before = vb.sizes.get(market, 0)
        after = before + take
        if abs(after) <= abs(before) and (after == 0 or (after > 0) == (before > 0)):
            return True
        if vb.equity * PPM < peak[0] * (PPM - risk.vault_max_drawdown):
            return False
        if notional(after, prices[market]) > params[market].vault_max_notional:
            return False
        initial = sum(fee(q, prices[m], params[m].imr) for m, q in vb.sizes.items() if q and m != market)
        return vb.equity >= initial + fee(after, prices[market], params[market].imr)

    def deleverage(market: int, close: int, haircut: int) -> None:
        price = prices[market]
        longs = close > 0  # counterparties sit where the close goes
        queue = sorted(
            (adl_key(adl_score(b.sizes[market], b.bases[market], price, b.equity), a), a)
            for a, b in books.items()
            if a != account and b.sizes.get(market, 0) != 0 and (b.sizes[market] > 0) == longs
        )
        total = abs(close)
        mark_leg = value(-close, price)
        left, mark_left, haircut_left = total, mark_leg, haircut
        for _, cp in queue:
            if left == 0:
                break
            b = books[cp]
            take = min(abs(b.sizes[market]), left)
            cp_mark, cp_haircut = mark_left, haircut_left
            if left - take != 0:
                cp_mark = _trunc_div(mark_leg * take, total)
                cp_haircut = haircut * take // total
            delta = -take if b.sizes[market] > 0 else take
            after = copy.deepcopy(b)
            after.apply(market, delta, cp_mark + cp_haircut, price, fee(take, price, params[market].maker_fee))
            if after.equity < 0:
                continue  # would go bankrupt: not eligible, the contract would revert
            books[cp] = after
            left -= take
            mark_left -= cp_mark
            haircut_left -= cp_haircut
            me.apply(market, -delta, -(cp_mark + cp_haircut), price)
            cps.append(cp)
        if left != 0:
            raise RuntimeError(f"not enough opposite positions in market {market} to deleverage {account}")

    def attempt(allow_partial: bool) -> Plan:
        closes: dict[int, int] = {}
        partial = _partial_close(me, prices, params, risk) if allow_partial and me.equity > 0 else None
        if partial is not None:
            closes[partial[0]] = partial[1]
        else:
            closes = {m: -q for m, q in sorted(me.sizes.items()) if q}
        room = max(me.equity, 0)
        charged = 0
        total = 0
        for m in sorted(closes):
            total += notional(closes[m], prices[m])
            f = min(fee(closes[m], prices[m], params[m].taker_fee), room)
            room -= f
            p = min(fee(closes[m], prices[m], params[m].liquidation_penalty), room)
            room -= p
            reward = 0 if sender == account else p * risk.keeper_share // PPM
            if sender in books:
                books[sender].equity += reward
            charged += f + p
        me.equity -= charged
        shortfall = 0
        if me.equity < 0:
            covered = min(-me.equity, fund_left)
            me.equity += covered
            shortfall = -me.equity
        haircuts, to_vault = {}, {}
        left = shortfall
        last = max(closes)
        for m in sorted(closes):
            part = left if m == last else shortfall * notional(closes[m], prices[m]) // total
            left -= part
            haircuts[m] = part
            taken = part == 0 and account != vault and vault_can_take(m, -closes[m])
            to_vault[m] = taken
            if taken:
                cash = -value(-closes[m], prices[m])
                books[vault].apply(m, -closes[m], -cash, prices[m])
                me.apply(m, closes[m], cash, prices[m])
            else:
                deleverage(m, closes[m], part)
        return Plan(account, partial, closes, shortfall, haircuts, to_vault)

    last_plan = attempt(True)
    if last_plan.partial is not None and me.equity < maintenance(me):
        second = attempt(False)
        second.partial = last_plan.partial
        last_plan = second
    last_plan.counterparties = cps
    return last_plan


def _partial_close(me: Book, prices: dict, params: dict, risk: Any) -> tuple[int, int] | None:
    """The contract's _partial_close: the largest-maintenance position and the size that brings
    equity to maintenance * (1 + buffer) after taker fee and penalty; None for a full close."""
    market, worst = None, 0
    for m in sorted(me.sizes):
        req = fee(me.sizes[m], prices[m], params[m].mmr)
        if me.sizes[m] and req > worst:
            market, worst = m, req
    if market is None:
        return None
    mm = sum(fee(q, prices[m], params[m].mmr) for m, q in me.sizes.items() if q)
    buffer = PPM + risk.liquidation_buffer
    gain = params[market].mmr * buffer
    cost = (params[market].taker_fee + params[market].liquidation_penalty) * PPM
    if gain <= cost:
        return None
    need = mm * buffer - me.equity * PPM
    size_abs = _ceil_div(_ceil_div(need * PPM, gain - cost) * 10**30, prices[market])
    q = me.sizes[market]
    if size_abs >= abs(q):
        return None
    return market, (-size_abs if q > 0 else size_abs)


class Keeper:
    """Finds liquidatable accounts and runs the waterfall on them with the right ADL list.

    The plan is made on the latest block and checked by a dry run before sending; funding
    accrued between the two (or a price update) can change scores, in which case the dry run
    names the reason and nothing is sent.
    """

    def __init__(self, system: Any, sender: Any):
        self.system = system
        self.ch = system.clearinghouse
        self.sender = sender

    # -- reading -------------------------------------------------------------------------------

    def known_accounts(self) -> list[str]:
        return [self.ch.account_at(i) for i in range(self.ch.account_count())]

    def liquidatable_accounts(self) -> list[str]:
        return [a for a in self.known_accounts() if self.ch.is_liquidatable(a)]

    def _book(self, account: str) -> Book:
        sizes, bases = {}, {}
        for m in range(self.ch.market_count()):
            pos = self.ch.positions(account, m)
            if pos.size != 0:
                sizes[m], bases[m] = pos.size, pos.open_notional
        return Book(self.ch.equity(account), sizes, bases)

    def adl_queue(self, market: int, longs: bool) -> list[str]:
        """Every position on one side of `market`, first in line first: (score desc, address asc).
        The LiquidityVault's own position is a candidate like any other."""
        side = []
        for a in self.known_accounts():
            q = self.ch.positions(a, market).size
            if q != 0 and (q > 0) == longs:
                side.append((adl_key(self.ch.adl_score(a, market), a), a))
        return [a for _, a in sorted(side)]

    # -- planning ------------------------------------------------------------------------------

    def snapshot(self) -> WaterfallSnapshot:
        """What the waterfall reads, from the chain's latest block (equity via the views)."""
        ch = self.ch
        n = ch.market_count()
        return WaterfallSnapshot(
            prices={m: ch.mark_price(m) for m in range(n)},
            params={m: ch.params(m) for m in range(n)},
            risk=ch.risk(),
            vault=ch.vault(),
            books={a: self._book(a) for a in self.known_accounts()},
            fund_left=self.system.fund.available(),
            now=_pending_timestamp(),
            peak=(ch.vault_peak_equity(), ch.vault_peak_time()),
        )

    def plan(self, account: str) -> Plan:
        """Replay the contract's waterfall on a snapshot and return the counterparties it will consume."""
        return plan_liquidation(self.snapshot(), _address(account), _address(self.sender))

    @staticmethod
    def _partial_close(me: Book, prices: dict, params: dict, risk: Any) -> tuple[int, int] | None:
        return _partial_close(me, prices, params, risk)

    # -- acting --------------------------------------------------------------------------------

    def counterparties(self, account: str) -> list[str]:
        """The flat ADL list `liquidate(account, ...)` needs: empty when the vault takes everything."""
        reason = dry_run(self.ch, "liquidate", (account, []), self.sender)
        if reason is None:
            return []
        if reason != "ch: adl list too short":
            raise RuntimeError(f"liquidate({account}) would revert: {reason}")
        cps = self.plan(account).counterparties
        reason = dry_run(self.ch, "liquidate", (account, cps), self.sender)
        if reason is not None:
            raise RuntimeError(f"liquidate({account}, {cps}) would revert: {reason}")
        return cps

    def liquidate(self, account: str) -> Liquidation:
        account = _address(account)
        cps = self.counterparties(account)
        receipt = self.ch.liquidate(account, cps, sender=self.sender)
        return Liquidation(account, cps, receipt, waterfall_events(receipt))

    def run(self) -> list[Liquidation]:
        """Liquidate every liquidatable account, in account order."""
        return [self.liquidate(a) for a in self.liquidatable_accounts() if self.ch.is_liquidatable(a)]


@dataclass
class Tally:
    """What each layer of the waterfall absorbed over a set of liquidations (atoms)."""

    liquidations: int = 0
    liquidated_accounts: set[str] = field(default_factory=set)
    to_vault_notional: int = 0  # closed at mark into the LiquidityVault
    to_adl_notional: int = 0  # closed against ADL counterparties
    penalties: int = 0
    keeper_rewards: int = 0
    fund_cover: int = 0  # bad debt the insurance fund paid
    socialized: int = 0  # shortfall beyond the fund, per ShortfallSocialized
    haircuts: int = 0  # what the counterparties gave up vs mark, per Deleveraged
    deleveraged: set[str] = field(default_factory=set)
    deleverage_events: int = 0

    def add(self, liquidation: Liquidation) -> None:
        self.add_events(liquidation.account, [(e.name, e.args) for e in liquidation.events])

    def add_events(self, account: str, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Count one liquidation of `account` from its waterfall events, (name, fields) in order."""
        self.liquidations += 1
        self.liquidated_accounts.add(str(account))
        for name, a in events:
            if name == "Liquidated":
                n = notional(a["size"], a["price"])
                if a["to_vault"]:
                    self.to_vault_notional += n
                else:
                    self.to_adl_notional += n
                self.penalties += a["penalty"]
                self.keeper_rewards += a["keeper_reward"]
            elif name == "BadDebtCovered":
                self.fund_cover += a["amount"]
            elif name == "ShortfallSocialized":
                self.socialized += a["amount"]
            elif name == "Deleveraged":
                self.haircuts += a["haircut"]
                self.deleveraged.add(str(a["counterparty"]).lower())
                self.deleverage_events += 1

    def lines(self) -> list[str]:
        return [
            f"liquidations: {self.liquidations}",
            f"closed into the LiquidityVault at mark: {fmt_usdc(self.to_vault_notional)} USDC notional",
            f"closed against ADL counterparties: {fmt_usdc(self.to_adl_notional)} USDC notional",
            f"penalties: {fmt_usdc(self.penalties)} USDC (keepers {fmt_usdc(self.keeper_rewards)})",
            f"bad debt covered by the insurance fund: {fmt_usdc(self.fund_cover)} USDC",
            f"shortfall socialized by ADL: {fmt_usdc(self.socialized)} USDC over "
            f"{len(self.deleveraged)} counterparties; their haircuts sum to {fmt_usdc(self.haircuts)} USDC "
            f"({'exactly the shortfall' if self.haircuts == self.socialized else 'MISMATCH'})",
        ]



# --- a keeper bot over raw JSON-RPC that survives its node ------------------------------------
#
# `Keeper` above drives the chain through ape (the tests, the demo). A keeper that runs for
# hours against a node needs to live through the node going away: `KeeperBot` talks plain
# JSON-RPC (perpvault.chain.rpc), re-reads everything it needs every round (it keeps no state
# of its own but the identity of the chain it keeps), and on a lost connection retries with
# exponential backoff. When the node answers again it checks what came back:
#
# * the Clearinghouse's code is there, unchanged: the node was restarted from a state dump
#   (anvil --load-state / --state) or only the connection dropped. It says so (and whether the
#   chain went back to an earlier block) and resumes: everything is re-read next round.
# * the code is gone or different: the node came back empty (or on another chain). It stops
#   with ChainGone and says why. Redeploying would start a new exchange without its accounts,
#   margin and positions, which is not a keeper's call to make.
#
# A liquidation that passes its dry run but reverts on chain (someone moved first) is reported
# with its decoded reason in `failures` and the log, never swallowed; the bot goes on with the
# next account.

log = logging.getLogger("perpvault.keeper")


class NodeLost(RuntimeError):
    """The node did not answer again within the bot's `give_up_after` seconds."""


class ChainGone(RuntimeError):
    """The node came back without the contracts the bot was keeping."""


@dataclass(frozen=True)
class ChainIdentity:
    chain_id: int
    genesis: str  # hash of block 0
    code_hash: str  # keccak of the Clearinghouse's runtime code ("" when there is none)
    block: int


@dataclass
class BotLiquidation:
    """One liquidation the bot sent: mined (`reason` None) or reverted on chain with `reason`."""

    account: str
    counterparties: list[str]
    tx_hash: str
    reason: str | None = None


def _transport_errors() -> tuple[type[BaseException], ...]:
    import http.client

    from perpvault.chain import rpc

    errors: tuple[type[BaseException], ...] = (OSError, ConnectionError, http.client.HTTPException)
    unreachable = getattr(rpc, "NodeUnreachable", None)  # a strict client's "node gone"
    return errors + ((unreachable,) if unreachable else ())


class KeeperBot:
    """The waterfall's keeper as a long-running bot over JSON-RPC (see the comment above).

    `sender` must be unlocked on the node (a dev account) or the node must sign for it.
    `say` receives every line the bot reports (default: the ``perpvault.keeper`` logger).
    """

    def __init__(
        self,
        url: str,
        clearinghouse: str,
        fund: str,
        sender: str,
        *,
        abis: dict[str, Any] | None = None,
        say: Any = None,
        backoff: float = 0.1,
        max_backoff: float = 2.0,
        give_up_after: float = 120.0,
        before_send: Any = None,
    ):
        from perpvault.chain.abi import load_artifacts

        if abis is None:
            abis = {n: a.functions for n, a in load_artifacts(names=("Clearinghouse", "InsuranceFund")).items()}
        self.url = url
        self.clearinghouse = clearinghouse
        self.fund = fund
        self.sender = sender
        self.ch_abi = abis["Clearinghouse"]
        self.fund_abi = abis["InsuranceFund"]
        self.say = say or log.warning
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.give_up_after = give_up_after
        self.before_send = before_send  # (account, counterparties) -> None, just before sending
        self.rpc = self._client()
        self.identity = self._identity()
        if not self.identity.code_hash:
            raise ChainGone(
                f"keeper: no Clearinghouse at {clearinghouse} on the node at {url} (chain id "
                f"{self.identity.chain_id}, block {self.identity.block}): a wrong address, or the node was "
                f"restarted empty. Restart it from its state dump (anvil --load-state / --state) or deploy first."
            )
        self.last_block = self.identity.block  # the latest block a round saw
        self.rounds = 0
        self.reconnects = 0
        self.sent: list[BotLiquidation] = []
        self.failures: list[BotLiquidation] = []

    # -- the node

    def _client(self) -> Any:
        from perpvault.chain.rpc import Rpc

        return Rpc(self.url, timeout=10.0)

    def _identity(self) -> ChainIdentity:
        from eth_utils import keccak

        code = self.rpc.call("eth_getCode", [self.clearinghouse, "latest"])
        raw = bytes.fromhex(code[2:]) if code and code != "0x" else b""
        return ChainIdentity(
            chain_id=int(self.rpc.call("eth_chainId"), 16),
            genesis=self.rpc.call("eth_getBlockByNumber", ["0x0", False])["hash"],
            code_hash="0x" + keccak(raw).hex() if raw else "",
            block=self.rpc.block_number(),
        )

    def reconnect(self, cause: BaseException) -> None:
        """Retry the node with exponential backoff until it answers (or NodeLost), then check
        what came back: resume on the same contracts, ChainGone otherwise."""
        self.say(f"keeper: lost the node at {self.url} ({type(cause).__name__}: {cause}); reconnecting")
        started = time.monotonic()
        wait = self.backoff
        attempt = 0
        while True:
            attempt += 1
            try:
                self.rpc.close()
                self.rpc = self._client()
                now = self._identity()
                break
            except _transport_errors() as exc:
                if time.monotonic() - started + wait > self.give_up_after:
                    raise NodeLost(
                        f"keeper: the node at {self.url} did not come back within {self.give_up_after:g} s "
                        f"({attempt} attempts; last error {type(exc).__name__}: {exc})"
                    ) from exc
                self.say(f"keeper: node unreachable (attempt {attempt}), retrying in {wait:.1f} s")
                time.sleep(wait)
                wait = min(wait * 2, self.max_backoff)
        self.reconnects += 1
        self._accept(now, f"node back at block {now.block} after {attempt} attempt(s)")

    def check_chain(self) -> None:
        """Start of every round: is this still the chain the bot keeps? A client can re-open a
        dropped keep-alive connection without an error, so a node restarted between two rounds
        is only seen here. Says what changed; ChainGone if the contracts are gone."""
        now = self._identity()
        if now.genesis != self.identity.genesis or now.block < self.last_block or now.code_hash != self.identity.code_hash:
            self.reconnects += 1
            self._accept(now, f"the node at {self.url} changed between two rounds: now at block {now.block}")
        else:
            self.last_block = now.block

    def _accept(self, now: ChainIdentity, what: str) -> None:
        """Resume on `now` if it still has the Clearinghouse's code (saying what changed), else ChainGone."""
        was = self.identity
        if not now.code_hash or now.code_hash != was.code_hash or now.chain_id != was.chain_id:
            how = "without the Clearinghouse" if not now.code_hash else "with different code at the Clearinghouse"
            raise ChainGone(
                f"keeper: the node at {self.url} came back {how} at {self.clearinghouse} "
                f"(chain id {now.chain_id}, block {now.block}; it was block {self.last_block}"
                f"{', same genesis' if now.genesis == was.genesis else ', new genesis'}): it was restarted empty "
                f"or on another chain. Stopping: redeploying would start a new exchange without its accounts. "
                f"Restart the node from its state dump (anvil --load-state / --state) to resume."
            )
        how = []
        if now.genesis != was.genesis:
            how.append("a new genesis (restored from a state dump)")
        if now.block < self.last_block:
            how.append(f"reset to block {now.block} from {self.last_block}: anything after the dump is gone")
        self.say(f"keeper: {what}, Clearinghouse code unchanged{'; ' + ', '.join(how) if how else ''}; resuming")
        self.identity = now
        self.last_block = now.block

    # -- reading (every round, from scratch)

    def _view(self, abi: Any, to: str, name: str, *args: Any) -> Any:
        fn = abi.fn(name)
        return fn.decode(self.rpc.eth_call(to, fn.encode(*args), label=name))

    def _ch(self, name: str, *args: Any) -> Any:
        return self._view(self.ch_abi, self.clearinghouse, name, *args)

    def known_accounts(self) -> list[str]:
        """Every account the Clearinghouse knows, checksummed."""
        from eth_utils import to_checksum_address

        return [to_checksum_address(self._ch("account_at", i)) for i in range(self._ch("account_count"))]

    def liquidatable_accounts(self) -> list[str]:
        return [a for a in self.known_accounts() if self._ch("is_liquidatable", a)]

    def snapshot(self) -> WaterfallSnapshot:
        """What the waterfall reads (addresses checksummed), for plan_liquidation."""
        from eth_utils import to_checksum_address

        from perpvault.model.state import MarketParams, RiskParams

        n = self._ch("market_count")
        books = {}
        for a in self.known_accounts():
            sizes, bases = {}, {}
            for m in range(n):
                q, open_notional, _ = self._ch("positions", a, m)
                if q:
                    sizes[m], bases[m] = q, open_notional
            books[a] = Book(self._ch("equity", a), sizes, bases)
        latest = self.rpc.timestamp()
        return WaterfallSnapshot(
            prices={m: self._ch("mark_price", m) for m in range(n)},
            params={m: MarketParams.of(self._ch("params", m)) for m in range(n)},
            risk=RiskParams.of(self._ch("risk")),
            vault=to_checksum_address(self._ch("vault")),
            books=books,
            fund_left=self._view(self.fund_abi, self.fund, "available"),
            now=max(latest + 1, int(time.time())),
            peak=(self._ch("vault_peak_equity"), self._ch("vault_peak_time")),
        )

    # -- acting

    def dry_run(self, account: str, counterparties: list[str]) -> str | None:
        from perpvault.chain.rpc import CallReverted

        data = self.ch_abi.fn("liquidate").encode(account, counterparties)
        try:
            self.rpc.eth_call(self.clearinghouse, data, sender=self.sender, label="liquidate")
        except CallReverted as exc:
            return exc.reason
        return None

    def counterparties(self, account: str) -> list[str] | None:
        """The ADL list for `account` (checked by a dry run), or None (reported) if it would revert."""
        reason = self.dry_run(account, [])
        if reason is None:
            return []
        if reason == "ch: adl list too short":
            cps = plan_liquidation(self.snapshot(), account, self.sender).counterparties
            reason = self.dry_run(account, cps)
            if reason is None:
                return cps
        self.say(f"keeper: not liquidating {account}: the dry run reverts with {reason!r}")
        return None

    def liquidate(self, account: str) -> BotLiquidation | None:
        from perpvault.chain.rpc import TxReverted

        cps = self.counterparties(account)
        if cps is None:
            return None
        if self.before_send is not None:
            self.before_send(account, cps)
        data = self.ch_abi.fn("liquidate").encode(account, cps)
        try:
            receipt = self.rpc.send_transaction(self.sender, self.clearinghouse, data, label=f"liquidate {account}")
        except TxReverted as exc:
            failed = BotLiquidation(account, cps, exc.tx_hash, exc.reason)
            self.failures.append(failed)
            self.say(f"keeper: liquidate({account}) reverted on chain: {exc.reason!r} (tx {exc.tx_hash})")
            return failed
        done = BotLiquidation(account, cps, receipt["transactionHash"])
        self.sent.append(done)
        self.say(f"keeper: liquidated {account} with {len(cps)} ADL counterparties (tx {done.tx_hash})")
        return done

    def round(self) -> list[BotLiquidation]:
        """One pass: check the chain, then liquidate every liquidatable account. Transport
        errors propagate (run() reconnects)."""
        self.check_chain()
        out = [r for a in self.liquidatable_accounts() if (r := self.liquidate(a)) is not None]
        self.rounds += 1
        self.last_block = max(self.last_block, self.rpc.block_number())
        return out

    def run(self, *, rounds: int | None = None, interval: float = 1.0, stop: Any = None) -> None:
        """Run rounds every `interval` seconds until `rounds` are done or `stop` (a
        threading.Event) is set; survive the node going away (see the class)."""
        done = 0
        while (rounds is None or done < rounds) and not (stop is not None and stop.is_set()):
            try:
                self.round()
                done += 1
            except _transport_errors() as exc:
                self.reconnect(exc)
                continue
            except (ChainGone, NodeLost):
                raise
            except Exception as exc:
                # A round cut short by the node changing under it (a read of a chain that is not
                # the one it planned on) shows in a fresh check; anything else is a real error.
                seen = self.reconnects
                try:
                    self.check_chain()
                except _transport_errors():
                    self.reconnect(exc)
                    continue
                if self.reconnects == seen:
                    raise
                continue
            if stop is not None:
                stop.wait(interval)
            else:
                time.sleep(interval)


# --- `perpvault keeper`: the bot from the command line -------------------------------------


def register(sub: Any) -> None:
    """Adds the ``keeper`` subcommand (for perpvault.cli's JOBS)."""
    p = sub.add_parser("keeper", help="run the liquidation keeper bot against a node; survives the node restarting")
    p.add_argument("--url", default="http://127.0.0.1:8545", help="the node's JSON-RPC URL")
    p.add_argument("--clearinghouse", required=True, help="the Clearinghouse's address")
    p.add_argument("--fund", required=True, help="the InsuranceFund's address")
    p.add_argument("--sender", required=True, help="the keeper's account (unlocked on the node)")
    p.add_argument("--rounds", type=int, default=None, help="stop after this many rounds (default: run until killed)")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between rounds (default 1)")
    p.add_argument("--give-up-after", type=float, default=120.0, help="seconds to wait for a lost node (default 120)")
    p.set_defaults(func=run_bot)


def run_bot(args: Any) -> int:
    """Runs the bot; exit 0 when the rounds are done, 3 when the chain is gone, 4 when the node is lost."""
    import sys

    try:
        bot = KeeperBot(args.url, args.clearinghouse, args.fund, args.sender, say=print,
                        give_up_after=args.give_up_after)
        bot.run(rounds=args.rounds, interval=args.interval)
    except ChainGone as exc:
        print(exc, file=sys.stderr)
        return 3
    except NodeLost as exc:
        print(exc, file=sys.stderr)
        return 4
    print(f"keeper: {bot.rounds} rounds, {len(bot.sent)} liquidations, {len(bot.failures)} reverted on chain")
    return 0


__all__ = [
    "BotLiquidation",
    "ChainGone",
    "ChainIdentity",
    "KeeperBot",
    "NodeLost",
    "WaterfallSnapshot",
    "plan_liquidation",
    "snapshot_from_model",
    "Keeper",
    "Tally",
    "Liquidation",
    "Plan",
    "WaterfallEvent",
    "adl_key",
    "adl_score",
    "describe",
    "dry_run",
    "waterfall_events",
]
