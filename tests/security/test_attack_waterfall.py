"""Attacks on the waterfall's layers found in review, each replayed with its numbers.

* **Unswept dues (R2).** Penalties and the fund's fee shares are the fund's money the moment
  they are charged (SPEC 6.2), but they sit in the Clearinghouse's `insurance_due` until
  someone sweeps them. Two liquidations in one block, the first charging a penalty and the
  second bankrupt: when bad debt is covered from the fund's balance alone, winners are
  haircut by ADL while the fund's money sits a call away, so the keepers' order decides who
  pays. Bad debt is covered from the dues first.
* **LP flows switch off the backstop (R3).** The vault's loss cap compared its raw equity with
  its peak: an LP who deposits before a take-over check and withdraws after it fakes a
  drawdown, the next liquidation cannot go to the vault, and an honest short is force-closed
  by ADL. The cap is measured on value per share, which LP flows do not move.
* **A pause traps exits (R5).** While paused, a trader's reduction against the vault was
  refused because it grows the vault's position, while liquidation still ran: the trader
  could not get out and was then liquidated with a penalty. A pause refuses new risk only.

Each test fails on the code before its fix (tests/security/old_code/R2-*.patch, R3-*, R5-*).
Funding is off (`calm_system`), so every number below is exact to the atom.
"""

from __future__ import annotations

import pytest

from perpvault.chain.ape_driver import model_of
from perpvault.keeper import Keeper, dry_run, plan_liquidation
from perpvault.units import PPM, price, size, usdc
from tests.utils.checks import assert_invariants
from tests.utils.trading import fund_account, set_price, trade
from tests.waterfall.spec import assert_reverts

BTC = 0
ENTRY = price(60_000)
LP_CAPITAL = usdc(1_000_000)


def _events(receipt, name: str) -> list:
    return [log for log in receipt.events if log.event_name == name]


def _walk(system, target: int) -> None:
    """Move BTC's oracle to `target` in steps the feed accepts."""
    current = system.feed.latest(BTC)[0]
    while current != target:
        current = max(min(target, current * 5 // 4), current * 3 // 4)
        set_price(system, BTC, current)


@pytest.fixture
def backstopped(calm_system, lp):
    """calm_system with an LP's 1M USDC in the vault."""
    s = calm_system
    s.usdc.mint(lp, LP_CAPITAL, sender=s.owner)
    s.usdc.approve(s.vault, 2**256 - 1, sender=lp)
    s.vault.deposit(LP_CAPITAL, lp, sender=lp)
    return s


def _share_value(system) -> int:
    """SPEC 6.2: the vault's value per share (WAD) as its ERC-4626 maths prices a share."""
    vault = system.vault
    assets = max(system.clearinghouse.equity(vault), 0) + system.usdc.balanceOf(vault)
    return (assets + 1) * 10**18 // (vault.totalSupply() + 10**6)


def _in_one_block(chain, sends: list[tuple[object, object, bytes]]) -> list:
    """Mine `sends` (sender, contract, calldata) in one block, in order; their receipts."""
    provider = chain.provider
    provider.make_request("evm_setAutomine", [False])
    try:
        hashes = [
            provider.make_request(
                "eth_sendTransaction",
                [{"from": sender.address, "to": contract.address, "data": "0x" + bytes(data).hex(),
                  "gas": hex(5_000_000)}],
            )
            for sender, contract, data in sends
        ]
        provider.make_request("evm_mine", [])
    finally:
        provider.make_request("evm_setAutomine", [True])
    receipts = [provider.get_receipt(h) for h in hashes]
    assert len({r.block_number for r in receipts}) == 1
    return receipts


# --- R2: bad debt is covered from the dues first ---------------------------------------------


def test_unswept_dues__cover_bad_debt_in_the_same_block__nobody_haircut(backstopped, chain, keeper, maker, taker,
                                                                          trader, accounts):
    """taker: 1 BTC long at 60,000 on 6,100 margin (0.6 from maker, 0.4 from a8); trader: 4 BTC
    long from maker on 30,000. At 53,000 taker is 930 in debt and trader is solvent
    (1,880) but under maintenance (10,600). In one block the keeper liquidates trader (fee 106,
    penalty capped at 1,774, 354.80 of it to the keeper: 1,525.20 more is owed to the fund,
    1,630.20 with the fills' fee shares) and then taker. The fund's balance is 0: nothing was
    swept.

    Before the fix, `cover` saw only the balance: 930 USDC socialized, haircut from maker
    (first in the ADL queue) and 1 BTC of its short force-closed, while 1,630.20 sat unswept.
    After it, the dues pay the 930: the vault takes taker's long at mark and no one is
    haircut."""
    s, ch = backstopped, backstopped.clearinghouse
    a8 = accounts[8]
    for account, amount in ((maker, usdc(60_000)), (a8, usdc(10_000)), (taker, usdc(6_100)), (trader, usdc(30_000))):
        fund_account(s, account, amount)
    trade(s, maker, taker, BTC, size("0.6"), ENTRY, chain=chain)
    trade(s, a8, taker, BTC, size("0.4"), ENTRY, chain=chain)
    trade(s, maker, trader, BTC, size(4), ENTRY, chain=chain)
    _walk(s, price(53_000))
    assert ch.equity(taker) == -usdc(930)
    assert ch.health(trader)[:3] == (usdc(1_880), usdc(21_200), usdc(10_600))
    fills_due = ch.insurance_due()
    assert fills_due == usdc(105)  # half of 7 bp on 300,000 of fills
    assert s.fund.available() == 0
    winners = {a.address: (ch.margin(a), ch.positions(a, BTC).size) for a in (maker, a8)}

    # The keeper plans both on the model, the second after the first.
    ex = model_of(s)
    ex.at(chain.pending_timestamp)
    first = plan_liquidation(ex, trader.address.lower(), keeper.address.lower()).counterparties
    ex.liquidate(keeper.address.lower(), trader.address.lower(), first)
    second = plan_liquidation(ex, taker.address.lower(), keeper.address.lower()).counterparties
    r1, r2 = _in_one_block(chain, [
        (keeper, ch, ch.liquidate.encode_input(trader, first)),
        (keeper, ch, ch.liquidate.encode_input(taker, second)),
    ])
    assert not r1.failed and not r2.failed
    (liq,) = _events(r1, "Liquidated")
    assert (liq.size, liq.penalty, liq.keeper_reward, liq.to_vault) == (-size(4), usdc(1_774), usdc("354.8"), True)
    due_at_bad_debt = fills_due + usdc(106) + usdc(1_774) - usdc("354.8")
    assert due_at_bad_debt == usdc("1630.2")

    socialized = sum(e.amount for e in _events(r2, "ShortfallSocialized"))
    haircuts = {e.counterparty: e.haircut for e in _events(r2, "Deleveraged")}
    # Before the fix: 930 USDC socialized, all of it haircut from maker (first in the queue),
    # while 1,630.20 sat unswept.
    assert socialized == 0, f"{socialized} socialized to {haircuts} while {due_at_bad_debt} sat unswept"
    assert [e.amount for e in _events(r2, "BadDebtCovered")] == [usdc(930)]
    assert not haircuts
    (liq,) = _events(r2, "Liquidated")
    assert liq.to_vault
    assert {a.address: (ch.margin(a), ch.positions(a, BTC).size) for a in (maker, a8)} == winners
    assert ch.insurance_due() == due_at_bad_debt - usdc(930)  # the dues paid it, the fund untouched
    assert s.fund.available() == 0 and s.fund.total_out() == 0
    assert ch.equity(taker) == 0
    assert_invariants(s)


# --- R3: the loss cap is per share -------------------------------------------------------------


def test_lp_deposit_then_withdraw__loss_cap_unmoved__vault_takes_the_next_liquidation(
    backstopped, chain, keeper, maker, taker, trader, stranger, accounts
):
    """taker and trader each hold 1 BTC long at 60,000 on 7,000 (maker short 2 on 50,000);
    at 55,000 both are under maintenance. The attacker (stranger) deposits 400,000 in the vault,
    liquidates trader itself (the vault takes it: the take-over check records the vault's peak),
    and redeems every share. The vault's equity is now 71% of that peak; its value per share is
    unchanged.

    Before the fix the cap compared raw equity (1,000,000 < 80% of 1,400,000): the next
    liquidation, taker's (a partial close of 0.4885 BTC), could not go to the vault and maker,
    an honest short, was force-closed by that much through ADL. After it the vault takes
    taker's long and maker keeps its short.
    What the attack cost the attacker: one atom of rounding on its deposit and redemption; it
    even keeps the 53.74 USDC keeper reward."""
    s, ch, vault = backstopped, backstopped.clearinghouse, backstopped.vault
    fund_account(s, maker, usdc(50_000))
    for account in (taker, trader):
        fund_account(s, account, usdc(7_000))
        trade(s, maker, account, BTC, size(1), ENTRY, chain=chain)
    _walk(s, price(55_000))
    assert ch.is_liquidatable(taker) and ch.is_liquidatable(trader)

    value_before = _share_value(s)
    attacker, deposit = stranger, usdc(400_000)
    s.usdc.mint(attacker, deposit, sender=s.owner)
    s.usdc.approve(vault, 2**256 - 1, sender=attacker)
    vault.deposit(deposit, attacker, sender=attacker)
    peak_equity = ch.equity(vault)
    first = Keeper(s, attacker).liquidate(trader)
    assert [e.to_vault for e in _events(first.receipt, "Liquidated")] == [True]
    reward = sum(e.keeper_reward for e in _events(first.receipt, "Liquidated"))
    vault.redeem(vault.balanceOf(attacker), attacker, attacker, sender=attacker)
    ch.withdraw(reward, sender=attacker)
    assert reward == usdc("53.737373")
    assert deposit + reward - s.usdc.balanceOf(attacker) == 1  # the round trip cost one atom
    assert ch.equity(vault) * PPM < peak_equity * (PPM - 200_000)  # raw equity: past the 20% cap
    assert _share_value(s) >= value_before - 1  # per share: unmoved (an atom of the take's rounding)

    maker_short = ch.positions(maker, BTC).size
    second = Keeper(s, keeper).liquidate(taker)
    deleveraged = {e.counterparty: e.size for e in _events(second.receipt, "Deleveraged")}
    # Before the fix: to_vault False, maker force-closed by 0.488521579436363637 BTC.
    assert not deleveraged, f"the vault refused; honest shorts ADL'd: {deleveraged}"
    assert all(e.to_vault for e in _events(second.receipt, "Liquidated"))
    assert ch.positions(maker, BTC).size == maker_short
    assert_invariants(s)


def test_lp_withdrawal_above_the_drawdown__leaves_the_backstop_on(backstopped, chain, keeper, lp, maker, taker,
                                                                     trader):
    """An honest LP taking out 30% of the vault (more than the 20% drawdown) after a take-over
    check: the next liquidation still goes to the vault."""
    s, vault = backstopped, backstopped.vault
    fund_account(s, maker, usdc(50_000))
    for account in (taker, trader):
        fund_account(s, account, usdc(7_000))
        trade(s, maker, account, BTC, size(1), ENTRY, chain=chain)
    _walk(s, price(55_000))
    Keeper(s, keeper).liquidate(trader)
    vault.withdraw(usdc(300_000), lp, lp, sender=lp)
    second = Keeper(s, keeper).liquidate(taker)
    assert second.counterparties == [] and all(e.to_vault for e in _events(second.receipt, "Liquidated"))
    assert_invariants(s)


# --- R5: a pause never refuses a reduction -----------------------------------------------------


def test_paused__reduction_against_the_vault__allowed(backstopped, chain, keeper, maker, taker):
    """taker: 1 BTC long at 60,000 on 7,000, bought from maker (the vault is flat). The owner
    pauses. taker sells 0.5 BTC to the vault (the vault goes long 0.5: its position grows).

    Before the fix: refused with `ch: paused`; BTC then falls to 55,000 and taker, stuck with
    its whole long (equity 1,970 < maintenance 2,750), is liquidated with a penalty of
    268.69 USDC (from the model of this state). After it the reduction goes through and taker
    stays healthy at 55,000."""
    s, ch, vault = backstopped, backstopped.clearinghouse, backstopped.vault
    fund_account(s, maker, usdc(50_000))
    fund_account(s, taker, usdc(7_000))
    trade(s, maker, taker, BTC, size(1), ENTRY, chain=chain)
    ch.pause(sender=s.owner)

    # What staying in costs: the model of this state, BTC at 55,000, taker liquidated.
    stuck = model_of(s)
    stuck.at(chain.pending_timestamp)
    stuck.set_price(s.oracle_updater.address.lower(), BTC, price(55_000))
    t = taker.address.lower()
    stuck.liquidate(keeper.address.lower(), t, plan_liquidation(stuck, t, keeper.address.lower()).counterparties)
    penalty = sum(e[6] for e in stuck.last_events if e[0] == "Liquidated")
    assert penalty == usdc("268.686869")  # a partial close of 0.49 BTC, 1% of it

    reduce = (BTC, -size("0.5"), 0)
    refused = dry_run(vault, "trade", reduce, taker)
    # Before the fix: refused == "ch: paused".
    assert refused is None, f"taker's reduction against the vault refused: {refused}"
    vault.trade(*reduce, sender=taker)
    assert ch.positions(taker, BTC).size == size("0.5")
    assert ch.positions(vault, BTC).size == size("0.5")
    set_price(s, BTC, price(55_000))
    assert not ch.is_liquidatable(taker)
    assert_invariants(s)


def test_paused__new_risk_against_the_vault__still_refused(backstopped, chain, maker, taker):
    """The exemption is the vault's side only: a trader growing its position against the vault
    is refused, whatever the vault's side does."""
    s, ch, vault = backstopped, backstopped.clearinghouse, backstopped.vault
    fund_account(s, maker, usdc(50_000))
    fund_account(s, taker, usdc(7_000))
    trade(s, maker, taker, BTC, size(1), ENTRY, chain=chain)
    vault.trade(BTC, size("0.1"), 2**256 - 1, sender=taker)  # the vault goes short 0.1
    ch.pause(sender=s.owner)
    # taker buys more: its long grows (the vault's short grows too).
    assert_reverts(vault, "trade", (BTC, size("0.05"), 2**256 - 1), taker, "ch: paused")
    assert ch.positions(taker, BTC).size == size("1.1")
