"""R9 (review, high): a keeper that skips the head of the ADL queue chooses who pays.

A colluding pair holds both legs of one trade: taker (1 BTC long at 60,000 on 6,100 margin)
and maker (its 1 BTC short, on 10,000). trader, honest, buys 1 BTC from the LiquidityVault, so
the vault is short 1 BTC too. BTC gaps to 45,000: taker owes 8,930 (less the fund's dues from
the fills), the fund holds nothing, so the rest, S, is socialized on the short side. The queue
puts maker first (a 1 BTC short on 10,000: leveraged) and the vault (a 1M USDC LP pool) last.

Before the fix the contract only checked that the keeper's list was sorted: the pair's keeper
listed the vault alone, the LPs paid S and the pair kept the whole of maker's gain, ending S
richer than with the honest list (tests/security/old_code/R9-keeper-skip.patch restores that
code: this test then fails at the skipping list, which passes). Now every position on the side
ranked above the last one closed must be in the list: the skipping lists revert, the only list
accepted is the queue, and maker pays S. Funding is off (`calm_system`): exact to the atom.
"""

from __future__ import annotations

from itertools import permutations

import pytest

from perpvault.chain.ape_driver import model_of
from perpvault.keeper import plan_liquidation
from perpvault.units import price, size, usdc
from tests.utils.checks import assert_invariants
from tests.utils.trading import fund_account, set_price, trade
from tests.waterfall.books import buy_from_vault
from tests.waterfall.spec import assert_reverts

BTC = 0
SKIPPED = "ch: adl skipped a higher-ranked position"


@pytest.fixture
def gapped(calm_system, chain, lp, maker, taker, trader):
    s = calm_system
    s.usdc.mint(lp, usdc(1_000_000), sender=s.owner)
    s.usdc.approve(s.vault, 2**256 - 1, sender=lp)
    s.vault.deposit(usdc(1_000_000), lp, sender=lp)
    for account, amount in ((maker, usdc(10_000)), (taker, usdc(6_100)), (trader, usdc(30_000))):
        fund_account(s, account, amount)
    trade(s, maker, taker, BTC, size(1), price(60_000), chain=chain)
    buy_from_vault(s, trader, BTC, size(1), price(60_000))
    current = price(60_000)
    while current != price(45_000):
        current = max(price(45_000), current * 3 // 4)
        set_price(s, BTC, current)
    return s


def test_r9__keeper_skips_the_queue_head__refused__the_coalition_pays_its_own_shortfall(
        gapped, keeper, lp, maker, taker, trader):
    s, ch = gapped, gapped.clearinghouse
    vault = s.vault
    # taker: 6,100 less the 30 taker fee, less 15,000 of loss; the fund's dues pay first.
    assert ch.equity(taker) == -usdc(8_930) and s.fund.available() == 0
    shortfall = usdc(8_930) - ch.insurance_due()
    assert shortfall == usdc("8893.985")
    assert ch.adl_score(maker, BTC) > ch.adl_score(vault, BTC)  # maker is the head of the queue

    # Every list but the queue's head is refused, nothing moves: the keeper cannot pick the payer.
    before = (ch.margin(maker), ch.margin(vault), ch.margin(taker), ch.positions(vault, BTC).size)
    for cps in ([vault], [vault, maker]):  # the vault's 1 BTC short covers the close alone
        assert_reverts(ch, "liquidate", (taker, cps), keeper, SKIPPED)
    assert (ch.margin(maker), ch.margin(vault), ch.margin(taker), ch.positions(vault, BTC).size) == before

    # The honest plan is the queue: maker, whose 1 BTC short covers the whole close.
    ex = model_of(s)
    plan = plan_liquidation(ex, taker.address.lower(), keeper.address.lower())
    assert plan.counterparties == [maker.address.lower()]
    maker_before = ch.equity(maker)
    vault_before = ch.equity(vault)
    r = ch.liquidate(taker, [maker], sender=keeper)
    (d,) = [e for e in r.events if e.event_name == "Deleveraged"]
    assert (d.counterparty, d.haircut) == (maker.address, shortfall)
    # taker ends at zero; maker gives up S and the maker fee on the closed 45,000 (2 bp): the
    # pair pays its own debt beyond the fund's dues. With the skip, maker kept its whole gain
    # and the LPs paid S (8,893.985 USDC): who pays was the keeper's choice.
    assert ch.equity(taker) == 0
    assert ch.equity(maker) == maker_before - shortfall - usdc(9)
    assert ch.equity(vault) == vault_before
    assert_invariants(s)


def test_r9__every_ordering_of_the_short_side__only_the_queue_passes(gapped, keeper, maker, taker, trader, stranger):
    """Lists drawn from the short side (maker, the vault) and a flat account: the queue's
    prefix is the one accepted; a sorted list that starts below the head is refused as a skip."""
    s, ch = gapped, gapped.clearinghouse
    side = [maker, s.vault]
    accepted = []
    for k in (1, 2):
        for cps in permutations(side, k):
            try:
                ch.liquidate.estimate_gas_cost(taker, list(cps), sender=keeper)
            except Exception:  # noqa: BLE001 - any revert: refused
                continue
            accepted.append([a.address for a in cps])
    assert accepted == [[maker.address], [maker.address, s.vault.address]]


def test_r9_review__the_head_withdraws_its_gain_first__pays_all_it_has_left_the_lps_the_rest(
        gapped, keeper, maker, taker):
    """The review's variant: after the gap maker withdraws its free collateral (20,488 of its
    24,988 equity, its unrealized gain: withdrawable, as on dYdX and Hyperliquid), leaving
    4,500, its initial requirement. The queue still starts at maker, and a counterparty that
    cannot pay its whole part gives up the largest part of its take it can pay: maker's equity
    goes to (almost) zero and the vault pays only the rest. (Skipping maker instead, as the
    first version of the fix did, put the whole 8,893.985 on the LPs.) What stays open: the
    gain maker withdrew before the liquidation is out of ADL's reach (mechanism.md §10)."""
    s, ch = gapped, gapped.clearinghouse
    vault = s.vault
    free = ch.free_collateral(maker)
    assert free == usdc(20_488)
    ch.withdraw(free, sender=maker)
    assert ch.equity(maker) == usdc(4_500)
    shortfall = usdc(8_930) - ch.insurance_due()
    ex = model_of(s)
    plan = plan_liquidation(ex, taker.address.lower(), keeper.address.lower())
    assert plan.counterparties == [maker.address.lower(), vault.address.lower()]
    assert_reverts(ch, "liquidate", (taker, [vault]), keeper, SKIPPED)  # maker may not be left out
    vault_before = ch.equity(vault)
    r = ch.liquidate(taker, [maker, vault], sender=keeper)
    dm, dv = [e for e in r.events if e.event_name == "Deleveraged"]
    assert (dm.counterparty, dv.counterparty) == (maker.address, vault.address)
    assert dm.haircut + dv.haircut == shortfall
    assert 0 <= ch.equity(maker) <= 5  # maker paid all it had left
    # The vault's loss is its haircut and fee, about S - 4,500: half, not all, of the shortfall.
    assert vault_before - ch.equity(vault) < shortfall - usdc(4_400)
    assert_invariants(s)


def test_r9_review__the_side_can_absorb_the_shortfall__a_list_is_accepted(gapped, keeper, maker, taker, trader):
    """The review's liveness case: the vault's short is only 0.5 BTC (trader sold half of its
    long back to it) and maker, after withdrawing its gain, cannot pay a whole 1-BTC share;
    with the all-or-nothing skip no list passed and the bankrupt stayed open. Capped, maker
    gives up the part it can pay and the vault the rest: the liquidation completes."""
    s, ch = gapped, gapped.clearinghouse
    buy_from_vault(s, trader, BTC, -size("0.5"), price(45_000))
    assert ch.positions(s.vault, BTC).size == -size("0.5")
    ch.withdraw(ch.free_collateral(maker), sender=maker)
    plan = plan_liquidation(model_of(s), taker.address.lower(), keeper.address.lower())
    r = ch.liquidate(taker, plan.counterparties, sender=keeper)
    takes = {e.counterparty: e.size for e in r.events if e.event_name == "Deleveraged"}
    assert set(takes) == {maker.address, s.vault.address} and sum(takes.values()) == size(1)
    assert ch.positions(taker, BTC).size == 0 and ch.equity(taker) == 0
    assert_invariants(s)
