"""The worked example of docs/mechanism.md, number for number."""

from fractions import Fraction

from perpvault.keeper import describe, waterfall_events
from perpvault.units import price, size, usdc
from tests.waterfall.spec import assert_waterfall_sound, donate, events, fund_account, open_position, sizes, walk_price

BTC = 0


def test_worked_example__10x_long_bankrupt__fund_covers_400__two_shorts_absorb_530(
    system, chain, taker, maker, others, liquidator, keeper
):
    ch = system.clearinghouse
    short_b = others[0]
    fund_account(system, taker, usdc(6_100))
    fund_account(system, maker, usdc(5_000))
    fund_account(system, short_b, usdc(10_000))
    open_position(system, chain, taker, maker, BTC, size("0.6"), price(60_000))
    open_position(system, chain, taker, short_b, BTC, size("0.4"), price(60_000))
    # Fill fees: the long pays 5 bp (30.00), the shorts 2 bp (7.20 and 4.80).
    assert ch.margin(taker) == usdc("6070")
    assert ch.margin(maker) == usdc("4992.8")
    assert ch.margin(short_b) == usdc("9995.2")
    assert ch.insurance_due() == usdc(21)  # the fund's half of the fill fees, not yet swept
    donate(system, usdc(379))  # the fund's money: 400

    walk_price(system, BTC, price(53_000))
    assert ch.equity(taker) == usdc(-930)  # 6,070 + 1 x (53,000 - 60,000)
    assert ch.equity(maker) == usdc("9192.8")  # 4,992.80 + 0.6 x 7,000
    assert ch.equity(short_b) == usdc("12795.2")  # 9,995.20 + 0.4 x 7,000
    # Scores: pnl% 11.67% for both; effective leverage 31,800 / 9,192.80 = 3.459 vs 21,200 / 12,795.20 = 1.657.
    # Score A = 0.11667 x 3.4592 = 0.40358; score B = 0.11667 x 1.6569 = 0.19331 (WAD, truncated twice).
    score_a = Fraction(4_200, 36_000) * Fraction(31_800_000_000, 9_192_800_000)
    score_b = Fraction(2_800, 24_000) * Fraction(21_200_000_000, 12_795_200_000)
    assert abs(ch.adl_score(maker, BTC) - score_a * 10**18) < 5
    assert abs(ch.adl_score(short_b, BTC) - score_b * 10**18) < 5
    assert liquidator.adl_queue(BTC, longs=False) == [maker.address, short_b.address]

    before = sizes(system)
    result = liquidator.liquidate(taker)
    assert result.counterparties == [maker.address, short_b.address]
    r = result.receipt
    assert [(e.name) for e in result.events] == ["BadDebtCovered", "ShortfallSocialized", "Deleveraged",
                                                 "Deleveraged", "Liquidated"]
    assert events(r, "BadDebtCovered")[0].amount == usdc(400)
    assert events(r, "ShortfallSocialized")[0].amount == usdc(530)
    d1, d2 = events(r, "Deleveraged")
    assert (d1.counterparty, d1.size, d1.price, d1.haircut) == (maker.address, size("0.6"), price(53_530), usdc(318))
    assert (d2.counterparty, d2.size, d2.price, d2.haircut) == (short_b.address, size("0.4"), price(53_530), usdc(212))
    (liq,) = events(r, "Liquidated")
    assert (liq.size, liq.price, liq.penalty, liq.keeper_reward, liq.to_vault) == (-size(1), price(53_000), 0, 0, False)

    assert ch.equity(taker) == 0 and ch.margin(taker) == 0
    assert system.fund.available() == 0 and system.fund.total_out() == usdc(379)  # the dues paid 21 first
    assert ch.insurance_due() == usdc("10.6")  # the ADL's maker fees (6.36 + 4.24), owed to the fund
    # Shorts realize (60,000 - 53,530) per BTC and pay the 2 bp maker fee on the mark notional.
    assert ch.margin(maker) == usdc("4992.8") + usdc("3882") - usdc("6.36")
    assert ch.margin(short_b) == usdc("9995.2") + usdc("2588") - usdc("4.24")
    assert_waterfall_sound(system, r, taker, before)
    words = [describe(e, {taker.address: "long", maker.address: "short A",
                          short_b.address: "short B"}) for e in waterfall_events(r)]
    assert words[0] == "the insurance fund covered 400.000000 USDC of long's bad debt"
    assert "short A auto-deleveraged in market 0: short cut by 0.6 at ADL price 53,530.0000" in words[2]
