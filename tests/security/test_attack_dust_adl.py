"""R7: dust accounts at the head of the ADL queue freeze ADL for the shipped keeper.

The attack, as found: the attacker opens 63 dust shorts (each 10^-6 BTC, 0.06 USDC of notional,
at 10x: about 6,000 atoms of margin apiece) against an account of its own. BTC crashes, a 10x
long goes bankrupt with an empty insurance fund, and ADL must close it against the shorts in
rank order. Highly levered and in profit, the dust ranks first: the keeper's list is 63 dust
accounts and the two honest shorts, 65 entries. With `MAX_ADL = 64` the Clearinghouse's ABI
decoder refused it with a bare revert and the keeper's plan gave up, so the bankrupt account
stayed unliquidated while its debt grew, at a cost to the attacker of about 0.4 USDC (every atom
of it back once the dust is closed).

What closes it (docs/mechanism.md sections 6 and 8):

* a minimum position notional per market (10 USDC by default): a voluntary trade may not leave a
  position below it, other than flat, so the dust fills are refused with
  `ch: position below minimum notional`;
* `MAX_ADL = 128`, the largest power of two whose worst case fits a 30M-gas block
  (bench/results/adl_list_bound.md): where dust exists anyway (a market listed without a
  minimum, or positions shrunk by price moves), 63 dust accounts no longer freeze anything;
* a list longer than MAX_ADL is refused with `ch: adl list too long`, not a bare revert.
"""

from __future__ import annotations

from dataclasses import replace

import ape
import pytest
from eth_utils import to_checksum_address

from perpvault.chain import deploy
from perpvault.chain.ape_driver import model_of
from perpvault.keeper import Keeper, NoPlan, adl_key, plan_liquidation
from perpvault.keeper.bot import dry_run
from perpvault.model.constants import MAX_ADL, MAX_ADL_ARG
from perpvault.units import price, size, usdc
from tests.utils.spec import fee
from tests.utils.trading import fund_account, set_price, signed, trade

BTC = 0
DUST = 10**12  # 10^-6 BTC: 0.06 USDC at 60,000
CRASH = price(53_000)  # -11.7%: the 10x long is 930 USDC under water
BELOW_MINIMUM = "ch: position below minimum notional"


def _attack_book(markets, owner, oracle_updater, taker, maker, trader, sink):
    """A fresh deployment over `markets`: the victim (taker) long 1 BTC at 60,000 on 6,100 USDC
    (10x), bought from two honest 2x shorts, maker (0.6 BTC on 30,000) and trader (0.4 on 20,000);
    the attacker's own long account (`sink`) holds 10,000 USDC. The insurance fund is empty."""
    s = deploy(owner, oracle_updater, markets=markets)
    oracle = s.markets[BTC].initial_price
    for account, margin in ((taker, usdc(6_100)), (maker, usdc(30_000)), (trader, usdc(20_000)), (sink, usdc(10_000))):
        fund_account(s, account, margin)
    chain = ape.chain
    trade(s, maker, taker, BTC, size("0.6"), oracle, chain=chain)
    trade(s, trader, taker, BTC, size("0.4"), oracle, chain=chain)
    return s


def _fund_dust(s, account, chain) -> int:
    """`account` deposits 10x margin for a DUST short, plus the maker fee and an atom."""
    oracle = s.markets[BTC].initial_price
    deposit = fee(DUST, oracle, s.markets[BTC].imr) + fee(DUST, oracle, s.markets[BTC].maker_fee) + 1
    chain.provider.set_balance(account.address, 10**18)  # gas
    fund_account(s, account, deposit)
    return deposit


def _dust_fill(s, account, sink, chain, at: int | None = None) -> tuple:
    """match_orders arguments: `account` sells DUST to the attacker's `sink` at `at` (default:
    the initial oracle price)."""
    at = s.markets[BTC].initial_price if at is None else at
    mo, ms = signed(s, account, BTC, -DUST, at, chain=chain)
    to, ts = signed(s, sink, BTC, DUST, at, chain=chain)
    return mo, ms, to, ts, DUST


def _dust_short(s, account, sink, chain) -> int:
    """`account` opens a DUST short against `sink` at 10x; returns its deposit."""
    deposit = _fund_dust(s, account, chain)
    s.order_book.match_orders(*_dust_fill(s, account, sink, chain), sender=sink)
    return deposit


def _keepers_list(s, victim, keeper) -> list[str]:
    """The ADL list the shipped keeper's plan builds for `victim` (also when it refuses to send
    one longer than MAX_ADL: NoPlan carries the list it built)."""
    try:
        cps = plan_liquidation(model_of(s), victim, keeper).counterparties
    except NoPlan as exc:
        cps = exc.counterparties
    return [to_checksum_address(a) for a in cps]


def _queue(s, shorts) -> list[str]:
    """`shorts` in ADL rank order, from the chain's scores."""
    ch = s.clearinghouse
    return [a for _, a in sorted((adl_key(ch.adl_score(a, BTC), a.address), a.address) for a in shorts)]


def _assert_socialized_exactly(receipt, victim, ch) -> int:
    """The bankrupt account ends flat at zero and the counterparties' haircuts sum to exactly the
    shortfall; returns the shortfall."""
    (shortfall,) = [e.amount for e in receipt.events if e.event_name == "ShortfallSocialized"]
    haircuts = [e.haircut for e in receipt.events if e.event_name == "Deleveraged"]
    assert sum(haircuts) == shortfall > 0
    assert ch.positions(victim, BTC).size == 0 and ch.margin(victim) == 0
    return shortfall


# --- (a) the attack on the shipped markets: the dust cannot be opened ----------------------------


@pytest.fixture(scope="module")
def shipped_book(calm_markets, owner, oracle_updater, taker, maker, trader, accounts):
    return _attack_book(calm_markets, owner, oracle_updater, taker, maker, trader, accounts[8])


def test_r7__dust_shorts_refused__keeper_liquidates_the_bankrupt_long(
    shipped_book, accounts, taker, maker, trader, keeper, chain
):
    """The attacker tries the 63 dust shorts (0.06 USDC each, funded at 10x: 6,013 atoms apiece,
    0.38 USDC in all): every fill is refused below the 10-USDC minimum and the deposits sit idle.
    After the crash the keeper's list is the two honest shorts; the bankrupt long is liquidated
    and its 930 USDC shortfall is shared by exactly those two."""
    s, ch, sink = shipped_book, shipped_book.clearinghouse, accounts[8]
    dust = [accounts.generate_test_account() for _ in range(63)]
    deposits = sum(_fund_dust(s, d, chain) for d in dust)
    assert deposits == 63 * 6_013  # 6,000 atoms of initial margin, a 12-atom maker fee and an atom, each
    # The attacker dry-runs each fill and sends the ones that pass.
    refused = []
    for d in dust:
        fill = _dust_fill(s, d, sink, chain)
        reason = dry_run(s.order_book, "match_orders", fill, sink)
        if reason is None:
            s.order_book.match_orders(*fill, sender=sink)
        refused.append(reason)
    set_price(s, BTC, CRASH)
    assert ch.equity(taker) == usdc(6_100) - fee(size(1), price(60_000), 500) - usdc(7_000) < 0
    try:
        done = Keeper(s, keeper).liquidate(taker)
    except NoPlan as exc:
        pytest.fail(f"the keeper cannot liquidate the bankrupt long: {exc.reason} "
                    f"({len(exc.counterparties)} counterparties planned)")
    assert sorted(done.counterparties) == sorted([maker.address, trader.address])
    receipt = done.receipt
    shortfall = _assert_socialized_exactly(receipt, taker, ch)
    covered = sum(e.amount for e in receipt.events if e.event_name == "BadDebtCovered")
    assert shortfall + covered == usdc(930)  # all of -equity: the fee and penalty are capped at 0
    assert refused == [BELOW_MINIMUM] * 63
    assert all(ch.positions(d, BTC).size == 0 for d in dust)
    with ape.reverts(BELOW_MINIMUM):  # and sent (at the new price), mined reverted
        s.order_book.match_orders(*_dust_fill(s, dust[0], sink, chain, CRASH), sender=sink)


# --- where dust exists anyway (a market listed without a minimum): the list bound ----------------


@pytest.fixture(scope="module")
def dust_queue(calm_markets, owner, oracle_updater, taker, maker, trader, accounts, chain):
    """The attack book on markets without a minimum notional, with MAX_ADL - 1 dust shorts: more
    than the 63 of the finding, enough to fill a list of MAX_ADL + 1 with the two honest shorts."""
    markets = tuple(replace(m, min_notional=0) for m in calm_markets)
    s = _attack_book(markets, owner, oracle_updater, taker, maker, trader, accounts[8])
    dust = [accounts.generate_test_account() for _ in range(MAX_ADL - 1)]
    for d in dust:
        _dust_short(s, d, accounts[8], chain)
    set_price(s, BTC, CRASH)
    return s, dust


def test_r7__the_findings_list__63_dust_and_two_honest_shorts__refused_as_a_skip(dust_queue, taker, maker, trader,
                                                                                 keeper):
    """The list the old keeper built (63 dust accounts at the head, then the honest shorts: 65
    entries) leaves out the other dust shorts, which rank above the honest ones: R9's skip,
    refused since the queue's completeness is checked (it used to run)."""
    s, dust = dust_queue
    ch = s.clearinghouse
    findings_list = _queue(s, dust)[:63] + _queue(s, [maker, trader])
    assert len(findings_list) == 65
    assert dry_run(ch, "liquidate", (taker, findings_list), keeper) == "ch: adl skipped a higher-ranked position"


def test_r7__a_list_of_exactly_max_adl__runs(dust_queue, taker, maker, trader, keeper, accounts, chain):
    """One dust short buys its position back first: the queue is then MAX_ADL - 2 dust
    accounts and the two honest shorts, MAX_ADL entries: accepted."""
    s, dust = dust_queue
    ch = s.clearinghouse
    sink = accounts[8]
    mo, ms = signed(s, dust[0], BTC, DUST, CRASH, chain=chain)
    to, ts = signed(s, sink, BTC, -DUST, CRASH, chain=chain)
    s.order_book.match_orders(mo, ms, to, ts, DUST, sender=sink)
    assert ch.positions(dust[0], BTC).size == 0
    full = _queue(s, [*dust[1:], maker, trader])
    assert len(full) == MAX_ADL
    receipt = ch.liquidate(taker, full, sender=keeper)
    _assert_socialized_exactly(receipt, taker, ch)
    assert [e.counterparty for e in receipt.events if e.event_name == "Deleveraged"] == full


def test_r7__a_list_of_max_adl_plus_one__refused_with_its_reason(dust_queue, taker, maker, trader, keeper):
    """Every dust account ranks first, so the queue the keeper must follow is MAX_ADL + 1 long:
    its plan refuses to send it (NoPlan), and sent anyway the list is refused with
    `ch: adl list too long`, not a bare revert; nothing moves. (MAX_ADL - 1 positions of the
    10-USDC minimum would lock about 127 USDC of margin at 10x: what remains is the ADL policy's
    to close, not the list bound's.)"""
    s, dust = dust_queue
    ch = s.clearinghouse
    with pytest.raises(NoPlan, match="more than MAX_ADL"):
        plan_liquidation(model_of(s), taker, keeper)
    too_long = _queue(s, dust) + _queue(s, [maker, trader])
    assert len(too_long) == MAX_ADL + 1
    assert dry_run(ch, "liquidate", (taker, too_long), keeper) == "ch: adl list too long"
    with ape.reverts("ch: adl list too long"):
        ch.liquidate(taker, too_long, sender=keeper)
    assert ch.positions(taker, BTC).size == size(1)


def test_r7__a_list_beyond_the_abi_bound__still_reverts_bare(dust_queue, taker, keeper):
    """Beyond MAX_ADL_ARG (4,096) entries the ABI decoder refuses the call before the body runs."""
    s, _ = dust_queue
    assert dry_run(s.clearinghouse, "liquidate", (taker, [keeper.address] * (MAX_ADL_ARG + 1)), keeper) != (
        "ch: adl list too long"
    )
