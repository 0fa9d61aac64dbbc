"""The reference model agrees with the contracts on every balance after every step.

A scripted scenario drives the chain and `perpvault.model` side by side (tests/utils/lockstep):
deposits, signed-order fills at awkward prime prices and sizes, vault trades, time passing with
funding, price moves, a partial liquidation, a full liquidation to the vault, bad debt covered
by the insurance fund, an ADL against two counterparties, a sweep and withdrawals. After every
step every stored balance and view is compared exactly, and the waterfall's events too.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from perpvault.chain.ape_driver import model_of
from perpvault.chain.deploy import DEFAULT_MARKETS
from perpvault.model import Exchange, addr
from perpvault.model.state import Round
from perpvault.units import price, size, usdc
from tests.utils.lockstep import Lockstep

BTC, ETH = 0, 1


def sim_at_price(model: Exchange, market: int, new_price: int) -> Exchange:
    """A copy of the model one second ahead with `market` priced at `new_price` (no jump check)."""
    m = copy.deepcopy(model)
    m.advance(1)
    m.w.feed.rounds[market] = Round(price=new_price, updated_at=m.now)
    return m


def search_price(
    model: Exchange, market: int, lo: int, hi: int, ok: Callable[[Exchange], bool]
) -> int:
    """The highest price in [lo, hi] where `ok` holds, when `ok` holds at `lo` and not at `hi`."""
    assert ok(sim_at_price(model, market, lo)) and not ok(sim_at_price(model, market, hi)), (
        "no threshold in range"
    )
    while hi - lo > 10**12:
        mid = (lo + hi) // 2
        if ok(sim_at_price(model, market, mid)):
            lo = mid
        else:
            hi = mid
    return lo


def equity_over_notional(m: Exchange, account: Any) -> float:
    h = m.health(account)
    return h.equity / h.notional if h.notional else float("inf")


def adl_order(m: Exchange, market: int, candidates: list[Any]) -> list[Any]:
    """Counterparties in ADL rank order: score descending, ties by lower address."""
    return sorted(candidates, key=lambda a: (-m.adl_score(a, market), int(addr(a), 16)))


def adl_prefix(m: Exchange, market: int, order: list[Any], size_: int) -> list[Any]:
    """The leading counterparties of `order` that `_deleverage` consumes for `size_` (the
    cursor moves past exactly these, so the next market's list must start right after)."""
    used, left = [], abs(size_)
    for cp in order:
        if left == 0:
            break
        used.append(cp)
        left -= min(abs(m.position(cp, market)[0]), left)
    return used


def walk_price(r: Lockstep, market: int, target: int) -> None:
    """Move the oracle to `target` in steps within the feed's max jump."""
    while True:
        current = r.model.w.feed.rounds[market].price
        limit = current * r.model.w.feed.max_jump // 10**6
        if abs(target - current) <= limit:
            r.set_price(market, target)
            return
        r.set_price(market, current - limit if target < current else current + limit)


def run_scenario(r: Lockstep, roles: dict[str, Any]) -> dict[str, Any]:
    """The scripted scenario; returns what happened, for the assertions."""
    keeper, lp, maker, taker, trader = (
        roles[k] for k in ("keeper", "lp", "maker", "taker", "trader")
    )
    levered, bankrupt = roles["levered"], roles["bankrupt"]
    m = r.model
    seen: dict[str, Any] = {}

    # LPs and traders come in.
    r.fund(lp, usdc(2_000_000), deposit=False)
    r.vault_deposit(lp, usdc(2_000_000))
    for account in (maker, taker, trader):
        r.fund(account, usdc(300_000))
    r.fund(levered, usdc(1_500))
    r.fund(keeper, usdc(50_000), deposit=False)

    # Fills at awkward prime prices and sizes; vault trades with a spread.
    r.trade(maker, taker, BTC, 123456789012345677, 60_013 * 10**18 + 7)
    r.trade(taker, trader, ETH, 1_700_000_000_000_000_003, 3_001 * 10**18 + 3)
    r.vault_trade(trader, BTC, size("0.5"))
    r.vault_trade(taker, ETH, -2_500_000_000_000_000_001)
    r.trade(taker, levered, BTC, 200_000_000_000_000_001, 60_013 * 10**18 + 7)
    r.trade(trader, maker, ETH, -333_333_333_333_333_333, 2_999 * 10**18 + 999)

    # One resting order filled in parts by two takers; overfill, cancel and a limit are refused.
    resting = r.order(maker, ETH, -size("0.05"), 3_000 * 10**18 + 1)
    r.match(resting, r.order(taker, ETH, size("0.03"), price(3_001)), size("0.03"))
    r.match(
        resting,
        r.order(trader, ETH, size("0.03"), price(3_001)),
        size("0.03"),
        revert="ob: order overfilled",
    )
    r.match(resting, r.order(trader, ETH, size("0.03"), price(3_001)), size("0.02"))
    r.match(
        resting,
        r.order(trader, ETH, size("0.03"), price(2_999)),
        size("0.01"),
        revert="ob: taker limit violated",
    )
    r.cancel(resting)
    r.match(resting, r.order(trader, ETH, size("1"), price(3_001)), 1, revert="ob: order cancelled")

    # Reverts leave both sides untouched, with the same reason.
    r.withdraw(levered, usdc(1_500), revert="ch: insufficient margin")
    r.trade(maker, taker, BTC, size("0.01"), price(66_000), revert="ch: price outside band")
    r.trade(maker, levered, BTC, size("1"), price(60_000), revert="ch: insufficient margin")
    r.vault_trade(trader, BTC, size("0.1"), price(60_000), revert="vault: limit violated")
    r.liquidate(keeper, maker, revert="ch: not liquidatable")

    # Paused: new risk stops, reductions and withdrawals go on; parameters move within bounds.
    owner = m.owner
    r.owner_call("pause", lambda s: s.clearinghouse.pause(sender=s.owner), lambda x: x.pause(owner))
    r.vault_trade(trader, ETH, size("0.2"), revert="ch: paused")
    r.vault_trade(trader, BTC, -size("0.2"))
    r.withdraw(trader, usdc(10_000))
    r.owner_call(
        "unpause", lambda s: s.clearinghouse.unpause(sender=s.owner), lambda x: x.unpause(owner)
    )
    eth_params = copy.copy(m.w.ch.params[ETH])
    eth_params.skew_scale = size("1")  # a vault position of 1 ETH puts funding at its cap
    eth_params.taker_fee = 700
    r.change_market_params(ETH, eth_params)

    # Time passes; funding accrues (from the vault's skew) and is settled lazily.
    r.advance(1_200)
    r.set_price(BTC, 60_050 * 10**18 + 11)
    r.set_price(ETH, 3_003 * 10**18 + 17)
    for account in (maker, taker, levered):
        r.settle_funding(keeper, account)
    r.advance(600)
    r.sweep(keeper)

    # A price move makes `levered` liquidatable; a partial close restores maintenance.
    p = search_price(m, BTC, price(50_000), price(60_050), lambda s: s.is_liquidatable(levered))
    r.set_price(BTC, p - price(400))
    assert m.is_liquidatable(levered)
    # Below maintenance, dYdX's rule: a reduction at a price that lowers equity / maintenance
    # is refused, one at mark (which raises it) goes through.
    mark = m.w.feed.rounds[BTC].price
    r.trade(
        maker, levered, BTC, -size("0.01"), mark * 951 // 1000, revert="ch: margin ratio worsened"
    )
    r.trade(maker, levered, BTC, -size("0.005"), mark)
    assert m.is_liquidatable(levered)
    size_before = m.position(levered, BTC)[0]
    r.liquidate(keeper, levered)
    size_after = m.position(levered, BTC)[0]
    assert 0 < size_after < size_before, "expected a partial liquidation"
    seen["partial"] = (size_before, size_after)

    # Further down: equity stays positive but a partial close cannot help: all goes to the vault.
    p = search_price(m, BTC, price(45_000), p, lambda s: equity_over_notional(s, levered) < 0.006)
    r.set_price(BTC, p)
    assert m.is_liquidatable(levered) and m.equity(levered) > 0
    r.liquidate(keeper, levered)
    assert m.position(levered, BTC)[0] == 0 and m.last_events[-1][-1] is True
    seen["full_to_vault"] = True

    # Bad debt covered by the fund: `bankrupt` opens in two markets, then BTC gaps down.
    r.fund(bankrupt, usdc(2_200))
    btc = m.w.feed.rounds[BTC].price
    r.trade(maker, bankrupt, BTC, size("0.3"), btc + 13)
    r.trade(taker, bankrupt, ETH, size("1.1"), m.w.feed.rounds[ETH].price + 17)
    gap = btc * 75 // 100
    need = -m.__class__.health(sim_at_price(m, BTC, gap), bankrupt).equity
    assert need > 0
    fund_has = m.w.fund.available() + m.w.ch.insurance_due
    r.sweep(keeper)
    if m.w.fund.available() < need + usdc(50):
        r.donate(keeper, need + usdc(50) - m.w.fund.available())
    fund_has = m.w.fund.available()
    r.set_price(BTC, gap)
    r.liquidate(keeper, bankrupt)
    covered = [e for e in m.last_events if e[0] == "BadDebtCovered"]
    assert covered and not [e for e in m.last_events if e[0] == "ShortfallSocialized"]
    assert all(e[-1] is True for e in m.last_events if e[0] == "Liquidated")
    seen["bad_debt"] = (covered[0][2], fund_has)

    # ADL: `levered` comes back with a long bigger than any one short, and BTC gaps down again;
    # the fund cannot cover, so the shortfall is socialized over two short counterparties.
    r.vault_trade(maker, BTC, size("0.35"))
    r.vault_trade(taker, BTC, size("0.1"))
    r.fund(levered, usdc(900))
    btc = m.w.feed.rounds[BTC].price
    r.trade(maker, levered, BTC, size("0.1"), btc + 3)
    r.trade(taker, levered, BTC, size("0.1"), btc + 5)
    shorts = [a for a in (maker, taker, trader) if m.position(a, BTC)[0] < 0]
    r.set_price(BTC, btc * 80 // 100)
    sim = r.sim()
    order = adl_order(sim, BTC, shorts)
    assert m.equity(levered) < 0 and m.w.fund.available() < -m.equity(levered)
    r.liquidate(keeper, levered, order[::-1], revert="ch: adl order")
    r.liquidate(keeper, levered, order[:1], revert="ch: adl list too short")
    r.liquidate(keeper, levered, [trader] + order, revert="ch: adl counterparty same side")
    r.liquidate(keeper, levered, order)
    deleveraged = [e for e in m.last_events if e[0] == "Deleveraged"]
    assert len(deleveraged) >= 2 and [e for e in m.last_events if e[0] == "ShortfallSocialized"]
    assert m.equity(levered) == 0
    seen["adl"] = deleveraged

    # ADL over two markets: the shortfall is split in proportion to notional, the last market
    # taking the remainder; each market's positions are closed against its own counterparties.
    r.fund(bankrupt, usdc(1_000))
    btc, eth = m.w.feed.rounds[BTC].price, m.w.feed.rounds[ETH].price
    r.trade(maker, bankrupt, BTC, size("0.04"), btc + 1)
    r.trade(taker, bankrupt, ETH, size("1.3"), eth + 1)
    r.set_price(BTC, btc * 82 // 100)
    r.set_price(ETH, eth * 76 // 100)
    sim = r.sim()
    btc_cps = adl_order(
        sim, BTC, [a for a in (maker, taker, trader) if sim.position(a, BTC)[0] < 0]
    )
    eth_cps = adl_order(
        sim, ETH, [a for a in (maker, taker, trader) if sim.position(a, ETH)[0] < 0]
    )
    # The cursor runs on from market to market: pass exactly the counterparties each consumes.
    btc_cps = adl_prefix(sim, BTC, btc_cps, sim.position(bankrupt, BTC)[0])
    assert m.equity(bankrupt) < 0 and m.w.fund.available() < -m.equity(bankrupt)
    r.liquidate(keeper, bankrupt, btc_cps + eth_cps)
    markets_hit = {e[3] for e in m.last_events if e[0] == "Deleveraged"}
    assert markets_hit == {BTC, ETH} and m.equity(bankrupt) == 0
    seen["adl_two_markets"] = [
        e for e in m.last_events if e[0] in ("Deleveraged", "ShortfallSocialized")
    ]

    # Close out: sweep, withdrawals, LP redemption.
    r.sweep(keeper)
    r.withdraw(maker, usdc(1_000))
    r.vault_redeem(lp, m.w.vault.balance_of(addr(lp)) // 3)
    r.vault_mint(keeper, 7_777_777_777_777)  # a second LP at a share price moved by PnL
    r.vault_deposit(keeper, usdc(1_234) + 567)
    r.vault_redeem(keeper, m.w.vault.balance_of(addr(keeper)))
    r.vault_withdraw(lp, usdc(12_345))
    return seen


@pytest.fixture
def roles(keeper, lp, maker, taker, trader, accounts) -> dict[str, Any]:
    return {
        "keeper": keeper,
        "lp": lp,
        "maker": maker,
        "taker": taker,
        "trader": trader,
        "levered": accounts[8],
        "bankrupt": accounts[9],
    }


def test_model_agrees__scripted_waterfall__every_step(system, chain, roles):
    accounts = list(roles.values())
    model = model_of(system, accounts)
    r = Lockstep(system, chain, model, accounts)
    seen = run_scenario(r, roles)
    print(f"lockstep: {r.steps} steps, {r.compared} full diffs, model == chain after each")
    assert {"partial", "full_to_vault", "bad_debt", "adl", "adl_two_markets"} <= seen.keys()
    assert r.compared > 50


def run_vault_refuses(r: Lockstep, roles: dict[str, Any]) -> dict[str, Any]:
    """The vault refuses liquidated positions: once over its notional limit, once over its loss
    cap (drawdown from its peak); both close at mark against the keeper's counterparties."""
    keeper, lp, maker, taker, trader = (
        roles[k] for k in ("keeper", "lp", "maker", "taker", "trader")
    )
    levered, bankrupt = roles["levered"], roles["bankrupt"]
    m = r.model
    seen: dict[str, Any] = {}
    r.fund(lp, usdc(100_000), deposit=False)
    r.vault_deposit(lp, usdc(100_000))
    for account in (maker, taker, trader):
        r.fund(account, usdc(300_000))
    r.fund(levered, usdc(2_000))
    r.fund(bankrupt, usdc(800))
    r.fund(keeper, usdc(1_000), deposit=False)
    r.trade(maker, levered, BTC, size("0.3"), price(60_000) + 1)
    r.vault_trade(trader, ETH, -size("10"))
    r.trade(taker, bankrupt, ETH, size("2"), price(3_000) + 3)

    # Notional limit: the vault may hold at most 1,000 USDC of BTC, so it refuses the close.
    p = search_price(m, BTC, price(50_000), price(60_000), lambda s: s.is_liquidatable(levered))
    r.set_price(BTC, p - price(50))
    r.liquidate(keeper, levered, [maker])
    liq = [e for e in m.last_events if e[0] == "Liquidated"]
    dl = [e for e in m.last_events if e[0] == "Deleveraged"]
    assert liq and liq[0][-1] is False and dl and dl[0][-1] == 0, (
        "closed at mark by ADL, no haircut"
    )
    seen["notional_limit"] = (liq, dl)
    peak = m.w.ch.vault_peak_share_value
    assert peak > 0

    # Loss cap: ETH falls, the vault (long ETH) loses more than 0.1% of its peak value per share.
    p = search_price(m, ETH, price(2_500), price(3_000), lambda s: s.is_liquidatable(bankrupt))
    r.set_price(ETH, p - price(2))
    vault = m.w.vault.address
    assert m.w.ch._vault_share_value(vault, m.equity(vault)) * 10**6 < peak * (10**6 - 1_000)
    shorts = [a for a in (maker, taker, trader) if m.position(a, ETH)[0] < 0]
    order = adl_order(r.sim(), ETH, shorts)
    r.liquidate(keeper, bankrupt, order)
    liq = [e for e in m.last_events if e[0] == "Liquidated"]
    assert liq and all(e[-1] is False for e in liq)
    seen["drawdown"] = liq
    r.advance(86_400 + 10)  # the window passes: the next check resets the peak
    for market in (BTC, ETH):
        r.set_price(market, m.w.feed.rounds[market].price)
    r.sweep(keeper)
    return seen


def test_model_agrees__vault_refuses__adl_at_mark(deploy_system, chain, roles):
    btc, eth = DEFAULT_MARKETS
    system = deploy_system(
        markets=(replace(btc, vault_max_notional=usdc(1_000)), eth),
        risk=(200_000, 200_000, 500_000, 1_000, 86_400),
    )
    accounts = list(roles.values())
    model = model_of(system, accounts)
    r = Lockstep(system, chain, model, accounts)
    seen = run_vault_refuses(r, roles)
    print(f"lockstep: {r.steps} steps, {r.compared} full diffs, model == chain after each")
    assert {"notional_limit", "drawdown"} <= seen.keys()
