"""Bad debt (SPEC 6.2) and the hand-over to ADL (6.3): the fund pays first, up to its money
(what it is owed and not yet swept, then its balance); ADL socializes exactly what is left.
Table-driven over the fund's money."""

from __future__ import annotations

import pytest

from perpvault.units import price, size, usdc
from tests.waterfall.books import BTC, ETH, fill, fund
from tests.waterfall.spec import (
    assert_reverts,
    assert_waterfall_sound,
    donate,
    equity_of,
    events,
    notional,
    pro_rata,
    sizes,
    walk_price,
)

CRASH = price(53_000)


@pytest.fixture
def bankrupt(system, chain, taker, maker, others):
    """1 BTC long at 60,000 (0.6 from maker, 0.4 from others[0]) with 6,100 margin, at 53,000."""
    a8 = others[0]
    margins = {taker: fund(system, taker, usdc(6_100)), maker: fund(system, maker, usdc(5_000)),
               a8: fund(system, a8, usdc(10_000))}
    fill(system, chain, taker, maker, BTC, size("0.6"), price(60_000), margins, margins)
    fill(system, chain, taker, a8, BTC, size("0.4"), price(60_000), margins, margins)
    walk_price(system, BTC, CRASH)
    deficit = -equity_of(margins[taker], size(1), usdc(60_000), CRASH)
    assert deficit == usdc(930)
    return deficit


FUNDS = [
    # name, the fund's money (dues + donations) relative to the deficit; None: dues only
    ("exactly_sufficient", 0),
    ("one_atom_short", -1),
    ("ample", usdc(1_070)),
    ("dues_only", None),
]


@pytest.mark.parametrize("case,offset", FUNDS, ids=[f[0] for f in FUNDS])
def test_bad_debt__fund_covers_up_to_its_money(system, bankrupt, liquidator, taker, maker, others, case, offset):
    deficit = bankrupt
    dues = system.clearinghouse.insurance_due()
    assert dues == usdc(21)  # the fund's half of the fills' fees (7 bp of 60,000): already its money
    balance = 0 if offset is None else deficit + offset - dues
    donate(system, balance)
    covered = min(dues + balance, deficit)
    from_dues = min(dues, deficit)
    shortfall = deficit - covered
    before = sizes(system)
    result = liquidator.liquidate(taker)
    r = result.receipt
    assert [e.amount for e in events(r, "BadDebtCovered")] == ([covered] if covered else [])
    assert [e.amount for e in events(r, "ShortfallSocialized")] == ([shortfall] if shortfall else [])
    (liq,) = events(r, "Liquidated")
    assert (liq.size, liq.price, liq.penalty, liq.keeper_reward) == (-size(1), CRASH, 0, 0)  # no equity, no penalty
    ch = system.clearinghouse
    if shortfall == 0:
        # No ADL: the vault takes the position at mark.
        assert result.counterparties == [] and liq.to_vault
        assert not events(r, "Deleveraged")
        assert ch.positions(system.vault, BTC).size == size(1)
    else:
        assert result.counterparties == [maker.address, others[0].address] and not liq.to_vault
        haircuts = [d.haircut for d in events(r, "Deleveraged")]
        assert haircuts == pro_rata(shortfall, [size("0.6"), size("0.4")])
        if case == "one_atom_short":
            assert haircuts == [0, 1]  # ADL of exactly one atom
    assert system.fund.available() == balance - (covered - from_dues)
    assert system.fund.total_out() == covered - from_dues  # the dues paid first
    assert_waterfall_sound(system, r, taker, before)


@pytest.fixture
def bankrupt_twice(system, chain, taker, maker, others):
    """1 BTC long from maker at 60,000 and 10 ETH long from others[0] at 3,000, 9,800 margin;
    BTC falls to 53,000 and ETH to 2,700: equity 9,755 - 7,000 - 3,000 = -245."""
    a8 = others[0]
    margins = {taker: fund(system, taker, usdc(9_800)), maker: fund(system, maker, usdc(10_000)),
               a8: fund(system, a8, usdc(10_000))}
    fill(system, chain, taker, maker, BTC, size(1), price(60_000), margins, margins)
    fill(system, chain, taker, a8, ETH, size(10), price(3_000), margins, margins)
    walk_price(system, BTC, CRASH)
    walk_price(system, ETH, price(2_700))
    assert system.clearinghouse.equity(taker) == -usdc(245)
    return usdc(245)


@pytest.mark.parametrize("fund_money", [None, usdc(245) - 1], ids=["dues_only", "fund_one_atom_short"])
def test_bad_debt__two_markets__shortfall_split_by_notional(
    system, bankrupt_twice, liquidator, taker, maker, others, fund_money
):
    dues = system.clearinghouse.insurance_due()
    assert dues == usdc("31.5")  # half of 7 bp of 90,000 of fills
    if fund_money is None:
        fund_money = dues
    donate(system, fund_money - dues)
    shortfall = bankrupt_twice - fund_money
    n_btc, n_eth = notional(size(1), CRASH), notional(size(10), price(2_700))
    split = pro_rata(shortfall, [n_btc, n_eth])
    before = sizes(system)
    result = liquidator.liquidate(taker)
    r = result.receipt
    assert events(r, "ShortfallSocialized")[0].amount == shortfall
    liqs = events(r, "Liquidated")
    assert [(e.market, e.size) for e in liqs] == [(BTC, -size(1)), (ETH, -size(10))]
    dl = events(r, "Deleveraged")
    if fund_money == dues:
        assert split == [141_443_750, 72_056_250]
        assert result.counterparties == [maker.address, others[0].address]
        assert [(d.market, d.counterparty, d.haircut) for d in dl] == [
            (BTC, maker.address, split[0]), (ETH, others[0].address, split[1])]
        assert [e.to_vault for e in liqs] == [False, False]
    else:
        # One atom: BTC's share floors to 0, so the vault takes BTC at mark; ETH carries the atom.
        assert split == [0, 1]
        assert result.counterparties == [others[0].address]
        assert [(d.market, d.counterparty, d.haircut) for d in dl] == [(ETH, others[0].address, 1)]
        assert [e.to_vault for e in liqs] == [True, False]
    assert_waterfall_sound(system, r, taker, before)


def test_bad_debt__two_markets__same_counterparties__ranked_as_the_contract_reaches_them(
    system, chain, liquidator, keeper, taker, maker, others
):
    """Both shorts hold both markets. The contract scores a counterparty when it reaches it, so
    in ETH a short already deleveraged in BTC is ranked on its new equity. Here that flips the
    ETH order: before the liquidation a8 leads ETH's queue (lower equity, same ETH position);
    after maker has paid its BTC haircut (0.9 of BTC's share) maker leads. The keeper replays
    the BTC step; the naive list from the pre-liquidation queue reverts."""
    a8 = others[0]
    margins = {taker: fund(system, taker, usdc(9_800)), maker: fund(system, maker, usdc(8_000)),
               a8: fund(system, a8, usdc(15_200))}
    fill(system, chain, taker, maker, BTC, size("0.9"), price(60_000), margins, margins)
    fill(system, chain, taker, a8, BTC, size("0.1"), price(60_000), margins, margins)
    for short in (maker, a8):
        fill(system, chain, taker, short, ETH, size(5), price(3_000), margins, margins)
    walk_price(system, BTC, price(50_000))
    walk_price(system, ETH, price(2_700))
    ch = system.clearinghouse
    assert -ch.equity(taker) == usdc(3_245)  # 9,755 - 10,000 - 3,000
    shortfall = usdc(3_245) - ch.insurance_due()  # the fund's dues (half the fills' fees) pay first
    # ETH scores: same pnl% and ETH value, so the lower equity leads: a8 (17,695.8) < maker (18,486.2).
    assert ch.equity(a8) == margins[a8] + usdc(1_000 + 1_500) < ch.equity(maker) == margins[maker] + usdc(9_000 + 1_500)
    assert list(system.lens.adl_queue(ETH, False, 8)) == [a8.address, maker.address]
    split = pro_rata(shortfall, [notional(size(1), price(50_000)), notional(size(10), price(2_700))])
    btc_haircuts = pro_rata(split[0], [9, 1])
    # After BTC, maker's equity falls by its haircut and fee far more than a8's: maker leads ETH.
    assert ch.equity(maker) - btc_haircuts[0] < ch.equity(a8) - btc_haircuts[1]
    assert_reverts(ch, "liquidate", (taker, [maker, a8, a8, maker]), keeper, "ch: adl order")
    before = sizes(system)
    result = liquidator.liquidate(taker)
    r = result.receipt
    assert result.counterparties == [maker.address, a8.address, maker.address, a8.address]
    dl = events(r, "Deleveraged")
    assert [(d.market, d.haircut) for d in dl] == [(BTC, btc_haircuts[0]), (BTC, btc_haircuts[1])] + [
        (ETH, h) for h in pro_rata(split[1], [1, 1])]
    assert_waterfall_sound(system, r, taker, before)
