"""Plan a liquidation on the reference model's own waterfall (SPEC section 6).

``Clearinghouse.liquidate(account, counterparties)`` takes the bankrupt's opposite side from
the keeper's flat list where a close cannot go to the LiquidityVault, market by market
(market-id order), and checks every counterparty: opposite side, holding a position, scores
strictly decreasing (ties by lower address); one that cannot pay its whole share gives up
the largest part it can pay, or none. It then checks that no position left on that side ranks above the
last one it closed unless it was listed and could not pay its whole share (as far as QUEUE_SCAN_READS reads of the
side reach). So the keeper must know, before it sends, which closes reach ADL and who pays, in
order: the whole head of the queue down to the last position closed.

:func:`plan_liquidation` runs the model's real ``liquidate`` (perpvault.model.clearinghouse,
the twin of the contracts) on a copy of the keeper's view of the chain, in plan mode: where the
list ends, ``_deleverage`` asks an :class:`AdlQueue` for the next counterparty. The queue ranks
the opposite side when each ``_deleverage`` starts, so the ranking sees what the waterfall did
before it (the partial attempt, an earlier market's haircuts), and names the highest-ranked
position not yet taken. A step changes only the bankrupt and that counterparty, and settling a
counterparty's funding moves it into margin without changing its equity, so the ranking made
at the start is the one the contract checks at each step (the run checks it anyway: a wrong
ranking reverts with "ch: adl order"). The contract's eligibility rule is the model's own line:
a counterparty that cannot pay its whole share gives up what it can where it stands, in the
plan as on chain, and keeps its place in the list. The caller then runs the same ``liquidate`` for real
with the list.
"""

from __future__ import annotations

import copy
import pickle
from dataclasses import dataclass, field
from typing import Any

from perpvault.keeper.tally import WaterfallEvent, model_waterfall_events
from perpvault.model.clearinghouse import Clearinghouse
from perpvault.model.constants import MAX_ADL
from perpvault.model.exchange import Exchange
from perpvault.model.maths import Revert
from perpvault.model.state import Account, addr

TOO_SHORT = "ch: adl list too short"


def adl_key(score: int, account: str) -> tuple[int, int]:
    """Sort key of the ADL queue: higher score first, ties by lower address."""
    return (-score, int(account, 16))


def adl_queue(ch: Clearinghouse, market: int, longs: bool, exclude: str | None = None) -> list[str]:
    """Every position on one side of `market` in the model, first in line first, without
    `exclude` (the bankrupt). The LiquidityVault's own position is a candidate like any other."""
    side = []
    for a, account in ch.accounts.items():
        p = account.positions.get(market)
        if a != exclude and p is not None and p.size != 0 and (p.size > 0) == longs:
            side.append((adl_key(ch.adl_score(a, market), a), a))
    return [a for _, a in sorted(side)]


@dataclass
class AdlQueue:
    """The planner `_deleverage` consults in plan mode (perpvault.model.clearinghouse.AdlPlanner)."""

    queue: list[str] = field(default_factory=list)  # the current _deleverage's opposite side, ranked
    place: dict[str, int] = field(default_factory=dict)
    cursor: int = 0  # where the current _deleverage started in the list

    def rank(self, ch: Clearinghouse, account: str, market: int, close: int, cursor: int) -> None:
        # The counterparties sit where the close goes: a bankrupt short buys back from longs.
        self.queue = adl_queue(ch, market, close > 0, exclude=account)
        self.place = {a: k for k, a in enumerate(self.queue)}
        self.cursor = cursor

    def extend(self, ch: Clearinghouse, cps: list[str]) -> None:
        # The next in line after the last one this _deleverage listed (closed, capped or skipped).
        start = self.place[cps[-1]] + 1 if len(cps) > self.cursor else 0
        if start < len(self.queue):
            cps.append(self.queue[start])


@dataclass
class Plan:
    """What `liquidate(account, counterparties)` will do: the model's run in plan mode."""

    account: str
    partial: tuple[int, int] | None  # (market, signed close) of the first attempt, if partial
    closes: dict[int, int]  # the closes of the attempt that ran last (signed, per market)
    shortfall: int  # beyond the fund: socialized by ADL
    haircuts: dict[int, int]  # the shortfall's share per closed market (of the last attempt)
    to_vault: dict[int, bool]  # per closed market (of the last attempt): the LiquidityVault took it
    counterparties: list[str] = field(default_factory=list)
    events: list[WaterfallEvent] = field(default_factory=list)  # the planned run's waterfall events
    outcome: Exchange | None = field(default=None, repr=False, compare=False)  # the copy after the run


class NoPlan(RuntimeError):
    """`liquidate(account)` cannot succeed on the keeper's view: `reason` is why the model's run
    reverted, `counterparties` the list it had built by then."""

    def __init__(self, account: str, reason: str, counterparties: list[str]):
        super().__init__(f"no liquidation plan for {account}: {reason}")
        self.account = account
        self.reason = reason
        self.counterparties = counterparties


def plan_liquidation(model: Exchange, account: Any, sender: Any) -> Plan:
    """Run `liquidate(account)` sent by `sender` on a copy of `model` (left untouched) in plan
    mode and return the plan: the counterparty list the contract accepts and what it will do.
    NoPlan when the waterfall cannot succeed (opposite side too small, not liquidatable, ...)."""
    account, sender = addr(account), addr(sender)
    ch = model.w.ch
    sizes = {m: ch.positions_of(account, m).size for m in range(ch.market_count)}
    planner = AdlQueue()
    trial = plan_copy(model, account, sender)
    trial.w.ch.planner = planner
    cps: list[str] = []
    try:
        trial.w.ch.liquidate(sender, account, cps)
    except Revert as exc:
        if exc.reason == TOO_SHORT and len(cps) >= MAX_ADL:  # one close ran through MAX_ADL entries
            raise NoPlan(account, f"needs more than MAX_ADL ({MAX_ADL}) counterparties", cps) from None
        raise NoPlan(account, exc.reason, cps) from None
    trial.w.ch.planner = None
    if len(cps) > MAX_ADL:
        raise NoPlan(account, f"needs {len(cps)} counterparties, more than MAX_ADL ({MAX_ADL})", cps)
    return _summary(account, sizes, cps, model_waterfall_events(trial.w.events), trial)


def _summary(account: str, sizes: dict[int, int], cps: list[str], events: list[WaterfallEvent],
             outcome: Exchange) -> Plan:
    """The plan's figures from the run's events. The first attempt was partial when it closed
    less than the whole position; a second (full) attempt's events follow its Liquidated."""
    liquidated = [k for k, e in enumerate(events) if e.name == "Liquidated"]
    first = events[liquidated[0]].args
    partial = None
    last = events
    if abs(first["size"]) < abs(sizes[first["market"]]):
        partial = (first["market"], first["size"])
        if len(liquidated) > 1:
            last = events[liquidated[0] + 1:]
    closes: dict[int, int] = {}
    to_vault: dict[int, bool] = {}
    cut: dict[int, int] = {}
    shortfall = 0
    for e in last:
        a = e.args
        if e.name == "Liquidated":
            closes[a["market"]] = a["size"]
            to_vault[a["market"]] = bool(a["to_vault"])
        elif e.name == "Deleveraged":
            cut[a["market"]] = cut.get(a["market"], 0) + a["haircut"]
        elif e.name == "ShortfallSocialized":
            shortfall += a["amount"]
    haircuts = {m: cut.get(m, 0) for m in closes}
    return Plan(account, partial, closes, shortfall, haircuts, to_vault, cps, events, outcome)


# --- the copy a plan runs on ------------------------------------------------------------------


def plan_scope(ch: Clearinghouse, account: str, sender: str) -> set[str]:
    """The accounts `liquidate(account)` sent by `sender` can read or write: the account, the
    sender (its reward), the LiquidityVault (the take-over), and every position opposite one of
    the account's (the ADL candidates; liquidation only shrinks the account's positions)."""
    held = ch.accounts[account].positions if account in ch.accounts else {}
    mine = {m: p.size for m, p in held.items() if p.size != 0}
    scope = {account, sender, ch.vault}
    for a, acct in ch.accounts.items():
        for m, q in mine.items():
            p = acct.positions.get(m)
            if p is not None and p.size != 0 and (p.size > 0) != (q > 0):
                scope.add(a)
                break
    return scope


class _Scoped(dict):
    """A plan copy's accounts: only those in the plan's scope. The model reads a missing account
    as empty storage, so reaching one outside the scope raises instead of planning on zeros."""

    def __init__(self, accounts: dict[str, Account], outside: frozenset[str]):
        super().__init__(accounts)
        self.outside = outside

    def get(self, key: str, default: Any = None) -> Any:
        if key in self.outside:
            raise KeyError(f"{key}: outside the liquidation plan's scope")
        return super().get(key, default)


def plan_copy(model: Exchange, account: str, sender: str) -> Exchange:
    """A copy of `model` for one plan: every contract copied, the clearinghouse's accounts only
    within :func:`plan_scope`, so a plan costs its opposite side, not the whole book."""
    w, ch = model.w, model.w.ch
    scope = plan_scope(ch, account, sender)
    # One pickle round trip: a full deep copy, ~2.5x faster than deepcopy on an opposite side.
    accounts = pickle.loads(pickle.dumps({a: ch.accounts[a] for a in scope if a in ch.accounts},
                                         pickle.HIGHEST_PROTOCOL))
    memo: dict[int, Any] = {
        id(ch.accounts): _Scoped(accounts, frozenset(ch.accounts.keys() - scope)),
        # Containers of immutable values: a shallow copy is a full copy, and far cheaper.
        id(ch.known): list(ch.known),
        id(ch.known_set): set(ch.known_set),
        id(ch.side_at): {k: list(v) for k, v in ch.side_at.items()},
        id(ch.side_slot): dict(ch.side_slot),
        id(w.token.balances): dict(w.token.balances),
        id(w.token.allowances): dict(w.token.allowances),
        id(w.vault.balances): dict(w.vault.balances),
        id(w.vault.allowances): dict(w.vault.allowances),
        id(w.book.filled): dict(w.book.filled),
        id(w.book.cancelled): set(w.book.cancelled),
        id(w.events): [],
    }
    trial = copy.copy(model)
    trial.w = copy.deepcopy(w, memo)
    trial.last_events = []
    return trial


__all__ = [
    "AdlQueue",
    "NoPlan",
    "Plan",
    "adl_key",
    "adl_queue",
    "plan_copy",
    "plan_liquidation",
    "plan_scope",
]
