"""The reference model against the chain: one diff of a :class:`~perpvault.chain.state.ChainState`
with the model, and the model loaded from a chain.

:func:`diff` is the one comparison the fuzz machine, the lockstep tests and the replay run
after their steps: every number of the state read (every account's margin, market mask,
wallet, LP shares, health and positions with their entry price and ADL score; every
market's stored state, oracle and current funding index; the clearinghouse's, fund's and
vault's balances and totals, the pause flag, the vault's loss-cap peak, the token's supply,
the known accounts and the clock) against the model's storage and views. A view that
reverts on chain must revert in the model, for the same reason.

:func:`model_from_chain` builds an :class:`~perpvault.model.Exchange` whose state is a
chain's: parameters through a driver's views, everything else from one state read, so a
fresh deployment (whatever its block timestamps) or a system mid-way is the model's exact
starting point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from perpvault.chain.state import ChainState, cut_reason
from perpvault.model import Exchange, Revert
from perpvault.model import maths as pm
from perpvault.model.exchange import Addresses
from perpvault.model.state import (
    Health,
    MarketParams,
    MarketState,
    Position,
    RiskParams,
    Round,
    addr,
)

_UNTOUCHED = Health(equity=0, initial=0, maintenance=0, notional=0)  # an account with no storage

View = Callable[..., Any]  # view(contract name, function, *args) -> the decoded value


@dataclass
class ModelViews:
    """The model's views after a step, computed once and shared by the diff and the fuzz
    machine's I4: each account's health (None where it reverts, with the reason kept) and
    the vault's totalAssets."""

    health: dict[str, Health | None]
    total_assets: int | None
    reverts: dict[str, str] = field(default_factory=dict)  # health()'s revert reason, by account

    @classmethod
    def of(cls, model: Exchange, extra: list[str] | tuple[str, ...] = ()) -> ModelViews:
        """The accounts StateReader returns: the known ones in registration order, then `extra`."""
        views = cls({}, _safe(model.w.vault.total_assets))
        for a in [*model.w.ch.known, *(x.lower() for x in extra)]:
            views.of_account(model, a)
        return views

    def of_account(self, model: Exchange, a: str) -> Health | None:
        if a not in self.health:
            ch = model.w.ch
            if (
                a not in ch.accounts
            ):  # never touched: margin 0, no positions (and no storage created)
                self.health[a] = _UNTOUCHED
            else:
                try:
                    self.health[a] = ch.health(a)
                except Revert as e:
                    self.health[a], self.reverts[a] = None, e.reason
        return self.health[a]

    def any_liquidatable(self, model: Exchange) -> bool:
        """``is_liquidatable`` of any known account (True when one cannot be evaluated)."""
        for a in model.w.ch.known:
            h = self.of_account(model, a)
            if h is None or (h.maintenance != 0 and h.equity < pm.to_int(h.maintenance)):
                return True
        return False


def _safe(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Revert:
        return None


def diff(model: Exchange, state: ChainState, views: ModelViews | None = None) -> list[str]:
    """Every number of `state` the model disagrees with, one readable line each (empty: they agree).

    `views`: the model's views for this state if already computed (:class:`ModelViews`).
    """
    out: list[str] = []
    w = model.w
    ch = w.ch
    token = w.token
    if views is None:
        views = ModelViews.of(model)
    if state.timestamp != w.now:
        out.append(f"MODEL clock: chain {state.timestamp} != model {w.now}")
    if len(state.markets) != ch.market_count:
        out.append(f"MODEL market_count: chain {len(state.markets)} != model {ch.market_count}")
    known = [a for a in state.accounts.values() if a.known]
    if [a.address.lower() for a in known] != ch.known:
        out.append(f"MODEL known accounts: chain {[a.address for a in known]} != model {ch.known}")
    for acct in state.accounts.values():
        a = acct.address.lower()
        m_acct = ch.accounts.get(a)
        pairs = [
            ("margin", acct.margin, m_acct.margin if m_acct else 0),
            ("market_mask", acct.market_mask, m_acct.market_mask if m_acct else 0),
            ("wallet", acct.wallet, token.balance_of(a)),
            ("vault shares", acct.shares, w.vault.balance_of(a)),
        ]
        out += [f"MODEL {what}({a}): chain {c} != model {m}" for what, c, m in pairs if c != m]
        h = views.of_account(model, a)
        chain_health = (
            None
            if acct.health is None
            else (
                acct.health.equity,
                acct.health.initial,
                acct.health.maintenance,
                acct.health.notional,
            )
        )
        model_health = None if h is None else (h.equity, h.initial, h.maintenance, h.notional)
        if chain_health != model_health:
            out.append(
                f"MODEL health({a}) (equity, initial, maintenance, notional): chain {chain_health} "
                f"!= model {model_health}"
            )
        elif h is None and acct.revert_reason != cut_reason(views.reverts.get(a, "")):
            reason = views.reverts.get(a)
            out.append(
                f"MODEL health({a}) reverts: chain {acct.revert_reason!r} != model {reason!r}"
            )
        for mk, p in enumerate(acct.positions):
            mp = m_acct.positions.get(mk) if m_acct else None
            mt = (mp.size, mp.open_notional, mp.funding_index) if mp else (0, 0, 0)
            if p.stored != mt:
                out.append(f"MODEL position({a},{mk}): chain {p.stored} != model {mt}")
                continue
            if p.size == 0:
                continue
            entry = ch.position(a, mk)[2]
            if p.entry_price != entry:
                out.append(f"MODEL entry price({a},{mk}): chain {p.entry_price} != model {entry}")
            # Clearinghouse.adl_score with the health computed once: _score is exactly this.
            score = (
                None
                if h is None
                else pm.adl_score(p.size, p.open_notional, ch._price(mk), h.equity)
            )
            if p.adl_score != score:
                out.append(f"MODEL adl_score({a},{mk}): chain {p.adl_score} != model {score}")
    feed = w.feed.address
    for mk, ms in enumerate(state.markets):
        mm = ch.markets[mk]
        stored = (
            mm.funding_index,
            mm.last_funding_time,
            mm.funding_price,
            mm.funding_pool,
            mm.funding_weight,
            mm.open_interest,
        )
        if ms.stored != stored:
            out.append(f"MODEL market({mk}): chain {ms.stored} != model {stored}")
        if ms.oracle.lower() != feed:
            out.append(f"MODEL market({mk}) oracle: chain {ms.oracle} != model {feed}")
        index = _safe(lambda mk=mk: ch.funding_index(mk))
        if ms.funding_index_now != index:
            out.append(f"MODEL funding_index({mk}): chain {ms.funding_index_now} != model {index}")
    pairs = [
        ("insurance_due", state.insurance_due, ch.insurance_due),
        ("clearinghouse balance", state.clearinghouse_balance, token.balance_of(ch.address)),
        ("fund balance", state.fund_balance, token.balance_of(w.fund.address)),
        ("vault balance", state.vault_balance, token.balance_of(w.vault.address)),
        ("fund total_in", state.fund_total_in, w.fund.total_in),
        ("fund total_out", state.fund_total_out, w.fund.total_out),
        ("vault totalSupply", state.vault_total_supply, w.vault.total_supply),
        ("vault totalAssets", state.vault_total_assets, views.total_assets),
        ("paused", state.paused, ch.paused),
        ("vault_peak_share_value", state.vault_peak_share_value, ch.vault_peak_share_value),
        ("vault_peak_time", state.vault_peak_time, ch.vault_peak_time),
        ("token totalSupply", state.token_total_supply, token.total_supply),
    ]
    out += [f"MODEL {what}: chain {c} != model {m}" for what, c, m in pairs if c != m]
    return out


def model_from_chain(
    state: ChainState, view: View, system: Any, *, model: type[Exchange] = Exchange
) -> Exchange:
    """The model of `system` as `state` (one read of it) shows it: parameters, oracle rounds
    and settings through `view` (``view("Clearinghouse", "params", 0)``: a driver's
    :meth:`~perpvault.chain.driver.Driver.view`, or :func:`perpvault.chain.ape_driver.ape_view`),
    every balance and position from `state`. `model`: the Exchange class to build."""
    n_markets = len(state.markets)
    rounds = [tuple(view("PriceFeed", "latest", m)) for m in range(n_markets)]
    ex = model(
        system.owner,
        system.oracle_updater,
        markets=[
            (MarketParams.of(tuple(view("Clearinghouse", "params", m))), int(rounds[m][0]))
            for m in range(n_markets)
        ],
        risk=RiskParams.of(tuple(view("Clearinghouse", "risk"))),
        now=state.timestamp,
        addresses=Addresses(
            token=addr(system.usdc),
            feed=addr(system.feed),
            fund=addr(system.fund),
            clearinghouse=addr(system.clearinghouse),
            vault=addr(system.vault),
            order_book=addr(system.order_book),
        ),
        oracle_max_age=int(view("PriceFeed", "max_age")),
        oracle_max_jump=int(view("PriceFeed", "max_jump")),
        delay=int(view("PriceFeed", "delay")),
        vault_spread=int(view("LiquidityVault", "spread")),
    )
    w = ex.w
    for m, (price, updated_at) in enumerate(rounds):
        w.feed.rounds[m] = Round(price=int(price), updated_at=int(updated_at))
        s = state.markets[m]
        w.ch.markets[m] = MarketState(*s.stored)
    w.ch.paused = state.paused
    w.ch.insurance_due = state.insurance_due
    w.ch.vault_peak_share_value = state.vault_peak_share_value
    w.ch.vault_peak_time = state.vault_peak_time
    w.ch.known = [a.address.lower() for a in state.known()]
    w.ch.known_set = set(w.ch.known)
    for a in state.known():
        acct = w.ch.acct(a.address.lower())
        acct.margin = a.margin
        acct.market_mask = a.market_mask
        acct.positions = {
            m: Position(*p.stored) for m, p in enumerate(a.positions) if p.stored != (0, 0, 0)
        }
    w.ch.load_sides(lambda key: view("Clearinghouse", "side_count", key),
                    lambda key, slot: view("Clearinghouse", "side_at", key, slot))
    balances = {a.address.lower(): a.wallet for a in state.accounts.values()}
    balances |= {
        w.ch.address: state.clearinghouse_balance,
        w.fund.address: state.fund_balance,
        w.vault.address: state.vault_balance,
    }
    w.token.balances = {a: b for a, b in balances.items() if b}
    w.token.total_supply = state.token_total_supply
    w.fund.total_in = state.fund_total_in
    w.fund.total_out = state.fund_total_out
    w.vault.total_supply = state.vault_total_supply
    w.vault.balances = {a.address.lower(): a.shares for a in state.accounts.values() if a.shares}
    _pending_changes_from_chain(ex, view, n_markets)
    return ex


def _pending_changes_from_chain(ex: Exchange, view: View, n_markets: int) -> None:
    """The timelocks' state (the Clearinghouse's and the PriceFeed's): each delay, the feed's
    updater, and every announced change with its eta (a pending market change binds new risk
    at its stricter imr, so a plan must know it)."""
    ch = ex.w.ch
    ch.timelock.delay = int(view("Clearinghouse", "delay"))
    ch.timelock.pending_delay = int(view("Clearinghouse", "pending_delay"))
    ch.timelock.pending_delay_eta = int(view("Clearinghouse", "pending_delay_eta"))
    feed = ex.w.feed
    feed.updater = addr(view("PriceFeed", "updater"))
    for name in ("delay", "pending_delay", "pending_delay_eta"):
        setattr(feed.timelock, name, int(view("PriceFeed", name)))
    feed.pending_updater = addr(view("PriceFeed", "pending_updater"))
    for name in ("pending_updater_eta", "pending_max_age", "pending_max_jump", "pending_bounds_eta"):
        setattr(feed, name, int(view("PriceFeed", name)))
    for m in range(n_markets):
        eta = int(view("Clearinghouse", "pending_params_eta", m))
        if eta:
            ch.pending_params[m] = MarketParams.of(tuple(view("Clearinghouse", "pending_params", m)))
            ch.pending_params_eta[m] = eta
    eta = int(view("Clearinghouse", "pending_risk_eta"))
    if eta:
        ch.pending_risk = RiskParams.of(tuple(view("Clearinghouse", "pending_risk")))
        ch.pending_risk_eta = eta


__all__ = ["ModelViews", "View", "diff", "model_from_chain"]
