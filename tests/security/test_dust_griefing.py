"""Griefing the insurance fund through dust positions that go bankrupt.

An attacker opens many tiny, fully levered longs (each its own account) against one colluding
short, the oracle drops, and every long is liquidated with bad debt. What the tests pin down:

* each dust liquidation's fund cover is exactly that account's shortfall after the close at
  mark (``-equity``, capped at the fund), the account ends at exactly zero, and a bankrupt
  account pays no fee, penalty or keeper reward (there is no equity to take them from);
* over the whole attack the fund (its balance plus what the clearinghouse owes it) loses no
  more than the **real** bad debt, the exact rational sum of the accounts' shortfalls: the
  mark value is floored against the account, so the fund may cover an atom of rounding per
  account, but the attacker's own fills paid the fund at least that much in fees and
  rounding dust;
* the attacker (the longs plus the colluding short) gains no more than the fund lost, and
  loses outright when nothing went bankrupt;
* a keeper's reward is ``floor(penalty x keeper_share)`` of a penalty capped at the account's
  equity: zero for a bankrupt account, zero for a dust one, never more than the penalty, so
  liquidating one's own dust positions through a second account (liquidate-farming) loses.

A market has a minimum position notional that voluntary trades respect (10 USDC by default; the
ADL queue is what it protects: tests/security/test_attack_dust_adl.py), but the owner may list a
market without one and a position shrinks below any minimum when its price falls. These tests
run markets with min_notional = 0, where a 1-wei position is legal, and show the fund does not
need a minimum: what a dust attack costs the attacker is fees (each side of each fill pays at
least one atom) and gas.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import ape
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from perpvault.chain.deploy import DEFAULT_MARKETS, DEFAULT_RISK, deploy
from perpvault.keeper import plan_liquidation
from perpvault.model import Revert
from perpvault.units import PPM, usdc
from tests.security.conftest import open_book
from tests.security.model_world import KEEPER, UPDATER, B, exchange
from tests.utils.checks import assert_invariants
from tests.utils.spec import VALUE_UNIT, fee
from tests.utils.trading import fund_account, set_price, trade

BTC = 0
ORACLE0 = DEFAULT_MARKETS[BTC].initial_price
IMR = DEFAULT_MARKETS[BTC].imr
MAKER_FEE = DEFAULT_MARKETS[BTC].maker_fee
TAKER_FEE = DEFAULT_MARKETS[BTC].taker_fee
PENALTY = DEFAULT_MARKETS[BTC].liquidation_penalty
KEEPER_SHARE = DEFAULT_RISK[1]


@pytest.fixture(scope="module")
def dust_book(owner, oracle_updater, calm_markets, maker, taker, trader, lp, stranger, chain):
    """`book` on markets without a minimum position notional (min_notional = 0)."""
    s = deploy(owner, oracle_updater, markets=tuple(replace(m, min_notional=0) for m in calm_markets))
    return open_book(s, owner, maker, taker, trader, lp, stranger, chain)


def dust_account(i: int) -> str:
    return "0x" + f"{0xd0 + i:02x}" * 20


def real_equity(ex, account: str) -> Fraction:
    """margin + q x mark - open notional, exactly (no floor): the account's true equity."""
    pos = ex.ch.positions_of(account, BTC)
    return ex.ch.margin(account) + Fraction(pos.size * ex.ch.mark_price(BTC), VALUE_UNIT) - pos.open_notional


def fund_holds(ex) -> int:
    """Everything the fund has or is owed: its balance plus the clearinghouse's insurance_due."""
    return ex.w.fund.available() + ex.ch.insurance_due


def liquidate(ex, account: str, keeper: str = KEEPER) -> dict:
    """Run the waterfall on `account` (with the keeper's ADL list if the fund runs out); the
    model's events by name."""
    cps = plan_liquidation(ex, account, keeper).counterparties
    ex.liquidate(keeper, account, cps)
    events: dict = {}
    for name, *fields in ex.last_events:
        events.setdefault(name, []).append(fields)
    return events


# --- breadth: Hypothesis over the model -------------------------------------------------------

# 1 wei .. 1e-5 BTC (notional up to 0.6 USDC), mostly large enough to carry a whole atom of loss.
dust = st.lists(st.one_of(st.integers(1, 10**8), st.integers(10**8, 10**13)), min_size=1, max_size=8)


@settings(max_examples=120, deadline=None)
@given(sizes=dust, slack=st.integers(0, 3), crash=st.integers(120_000, 300_000), fund=st.integers(0, 50))
def test_dust_bankruptcies__fund_pays_at_most_the_real_bad_debt__attacker_gains_less__model(sizes, slack, crash, fund):
    ex = exchange(margins={B: usdc(100_000)}, min_notional=0)
    if fund:
        ex.donate(KEEPER, fund)  # a tiny fund: some shortfalls go on to ADL
    holds0 = fund_holds(ex)
    deposits: dict[str, int] = {}
    for i, q in enumerate(sizes):
        d = dust_account(i)
        # Just enough margin for 10x at the oracle plus the taker fee, and `slack` atoms.
        need = fee(q, ORACLE0, IMR) + fee(q, ORACLE0, TAKER_FEE) + slack
        ex.mint(d, need)
        ex.approve(d, ex.ch.address)
        ex.deposit(d, need)
        try:
            ex.fill(B, d, BTC, q, ORACLE0)
        except Revert as exc:
            assert exc.reason == "ch: insufficient margin"
            continue
        deposits[d] = need
    attacker = [*deposits, B]
    put_in = usdc(100_000) + sum(deposits.values())  # B's margin and every dust deposit

    ex.set_price(UPDATER, BTC, ORACLE0 * (PPM - crash) // PPM)

    real_bad_debt = Fraction(0)
    for d in deposits:
        if not ex.is_liquidatable(d):
            continue
        equity = ex.equity(d)
        real = real_equity(ex, d)
        fund_left = fund_holds(ex)  # dues first, then the balance (SPEC 6.2)
        keeper_margin = ex.margin(KEEPER)
        events = liquidate(ex, d)
        covered = sum(amount for _, amount in events.get("BadDebtCovered", []))
        penalties = [f[5] for f in events["Liquidated"]]
        rewards = [f[6] for f in events["Liquidated"]]
        if equity < 0:
            real_bad_debt += max(-real, Fraction(0))
            assert covered == min(-equity, fund_left)  # exactly its shortfall, no more
            assert -real <= -equity < -real + 1  # the integer shortfall is the real one, rounded up < 1 atom
            assert penalties == [0] and rewards == [0]  # nothing to take a penalty from
        else:
            assert covered == 0
        assert all(r == p * KEEPER_SHARE // PPM <= p for p, r in zip(penalties, rewards))
        assert ex.margin(KEEPER) - keeper_margin == sum(rewards)
        assert ex.margin(d) == 0 and ex.position(d, BTC)[0] == 0  # ends at exactly zero
        assert ex.conservation_gap() == 0

    event(f"bankrupt dust accounts liquidated: {'some' if real_bad_debt else 'none'}")
    event(f"ADL needed: {'yes' if fund_holds(ex) == 0 and real_bad_debt else 'no'}")
    # The fund lost no more than the real bad debt, rounding included.
    assert fund_holds(ex) - holds0 >= -real_bad_debt
    # The attacker's accounts together gained no more than the fund lost (the fees they paid
    # went to the fund and the vault; with no bad debt the fund only gained, so they lost).
    gain = sum(ex.equity(a) for a in attacker) - put_in
    assert gain <= holds0 - fund_holds(ex)
    if deposits and not real_bad_debt:
        assert gain < 0


@settings(max_examples=60, deadline=None)
@given(q=st.one_of(st.integers(1, 10**9), st.integers(10**9, 10**15)), drop=st.integers(55_000, 90_000))
def test_liquidate_farming__own_dust_through_a_second_account__loses__model(q, drop):
    """The attacker holds a long and liquidates it from its own keeper account: the pair pays
    the taker fee and the penalty and earns back only keeper_share of the penalty."""
    d = dust_account(0)
    ex = exchange(margins={B: usdc(100_000), KEEPER: usdc(1)}, min_notional=0)
    need = fee(q, ORACLE0, IMR) + fee(q, ORACLE0, TAKER_FEE) + 1  # + the buyer's rounding atom
    ex.mint(d, need)
    ex.approve(d, ex.ch.address)
    ex.deposit(d, need)
    ex.fill(B, d, BTC, q, ORACLE0)
    crashed = ORACLE0 * (PPM - drop) // PPM
    ex.set_price(UPDATER, BTC, crashed)
    if not ex.is_liquidatable(d):
        event("not liquidatable (sub-atom dust)")
        return
    equity = ex.equity(d)
    pair = equity + ex.equity(KEEPER)
    events = liquidate(ex, d)
    (_, _, _, _, _, penalty, reward, _), *_ = events["Liquidated"]
    assert reward == penalty * KEEPER_SHARE // PPM <= penalty
    event(f"keeper reward: {'zero' if reward == 0 else 'positive'}")
    if fee(q, crashed, PENALTY) * KEEPER_SHARE < PPM:  # dust (notional under ~400 atoms): no reward at all
        assert reward == 0
    after = ex.equity(d) + ex.equity(KEEPER)
    assert after < pair if equity > 0 else after <= pair  # farming one's own liquidation loses


# --- concrete cases on chain --------------------------------------------------------------------


def test_dust_positions_on_chain__each_cover_is_its_shortfall__no_reward__fund_loses_no_more(
    dust_book, maker, keeper, owner, accounts, chain
):
    """Three dust longs (notional 60, 6,000 and 600,000 atoms, odd sizes) at 10x against the maker, a 30% crash:
    each liquidation's BadDebtCovered is exactly -equity, no penalty or reward, each account
    ends at zero, and the fund loses no more than the real (exact rational) bad debt."""
    s = dust_book
    ch, fund = s.clearinghouse, s.fund
    fund_account(s, owner, usdc(1_000), deposit=False)
    s.usdc.approve(fund, 2**256 - 1, sender=owner)
    fund.donate(usdc(1_000), sender=owner)
    longs = [accounts[8], accounts[9], keeper]
    sizes = [10**9 + 7, 10**11 + 3, 10**13 + 1]
    for account, q in zip(longs, sizes):
        # 10x: the initial requirement, the taker fee and the atom the buyer's rounding costs.
        fund_account(s, account, fee(q, ORACLE0, IMR) + fee(q, ORACLE0, TAKER_FEE) + 1)
        trade(s, maker, account, BTC, q, ORACLE0, chain=chain)
    crashed = ORACLE0 * 7 // 10
    set_price(s, BTC, crashed)
    holds = fund.available() + ch.insurance_due()
    real_bad_debt = Fraction(0)
    for account, q in zip(longs, sizes):
        equity = ch.equity(account)
        pos = ch.positions(account, BTC)
        real = ch.margin(account) + Fraction(q * crashed, VALUE_UNIT) - pos.open_notional
        assert equity < 0 and -real <= -equity < -real + 1
        real_bad_debt += -real
        receipt = ch.liquidate(account, [], sender=accounts[7])
        (covered,) = [e.amount for e in receipt.events if e.event_name == "BadDebtCovered"]
        (liq,) = [e for e in receipt.events if e.event_name == "Liquidated"]
        assert covered == -equity
        assert liq.penalty == 0 and liq.keeper_reward == 0
        assert ch.margin(account) == 0 and ch.positions(account, BTC).size == 0
    lost = holds - (fund.available() + ch.insurance_due())
    # Each cover is the shortfall rounded up to the atom, but each close at mark paid the fund
    # its rounding atom back: the fund lost no more than the real bad debt.
    assert 0 < lost <= real_bad_debt
    assert_invariants(s)


def test_dust_liquidation__healthy_dust__reverts_not_liquidatable(dust_book, maker, keeper, accounts, chain):
    """A dust position above maintenance cannot be liquidated for a reward: 'ch: not liquidatable'."""
    s = dust_book
    d = accounts[8]
    fund_account(s, d, usdc(1))
    trade(s, maker, d, BTC, 10**6, ORACLE0, chain=chain)
    with ape.reverts("ch: not liquidatable"):
        s.clearinghouse.liquidate(d, [], sender=keeper)
