"""Positions no liquidation can reach: forged orders and margin-less fills (SPEC §4, E1).

The attack, as a review found it: a market whose price band is at least its initial margin
plus the taker fee (BTC here with a 12% band: the bounds allow up to 20%). A colluder with
20,000 USDC sells 1.5 BTC at the band's lower edge (52,800 against an oracle of 60,000) to a
fresh wallet that never deposited. The wallet's gain against the oracle (10,800) covers its
initial requirement (9,000), so the margin rule passed it; and since only depositors were
known to the risk engine, `liquidate` could never reach it. The oracle then falls 25% to
45,000: the wallet is 11,740 under water, nobody can liquidate it, the colluder closes its
short against the vault and withdraws 31,583 (+11,583), and the LPs are short the wallet's
loss (11,740): redeeming what the vault says is free reverts. The same order could name
address(0) with an empty signature (snekmate's recover returns address(0) for a signature
that is not 64 or 65 bytes long).

The rules that close it (docs/mechanism.md sections 3, 6 and 7):

* an order names a real account and carries a canonical 65-byte signature of it
  (`ob: zero account`, `ob: invalid signature`);
* an account is known to the risk engine from its first position, deposit or not;
* a fill's gain against the oracle counts nothing toward the initial requirement of a trade
  that grows risk, so no fill can hand a margin-less account risk.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import ape
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from perpvault.chain import DEFAULT_MARKETS, deploy
from perpvault.chain.orders import Order as ChainOrder
from perpvault.model import Exchange, MarketParams, Order, Revert, RiskParams
from perpvault.model.state import ZERO_ADDRESS
from perpvault.params import DEFAULT_RISK
from perpvault.units import PPM, price, size, usdc
from tests.security.model_world import KEEPER, LP, OWNER, UPDATER, A
from tests.utils.checks import assert_invariants
from tests.utils.trading import fund_account, set_price, signed

BTC = 0
ORACLE = price(60_000)
WIDE_BAND = 120_000  # 12% >= imr (10%) + taker fee (0.05%)
EDGE = ORACLE * (PPM - WIDE_BAND) // PPM  # 52,800: the band's lower edge
CRASH = price(45_000)  # the oracle falls 25% (max_jump is 30%)
COLLUDER_MARGIN = usdc(20_000)
ATTACK_SIZE = size("1.5")
LP_CAPITAL = usdc(1_000_000)
WIDE_MARKETS = (replace(DEFAULT_MARKETS[BTC], price_band=WIDE_BAND, max_funding_rate=0),)


@pytest.fixture(scope="module")
def wide(owner, oracle_updater, lp):
    """BTC-PERP with a 12% band (given at deploy, so at once), funding off, 1M in the vault."""
    s = deploy(owner, oracle_updater, markets=WIDE_MARKETS)
    s.usdc.mint(lp, LP_CAPITAL, sender=owner)
    s.usdc.approve(s.vault, 2**256 - 1, sender=lp)
    s.vault.deposit(LP_CAPITAL, lp, sender=lp)
    return s


def _reason(call) -> str | None:
    """Send `call()`; None if it was mined, else its revert reason."""
    try:
        call()
    except ape.exceptions.ContractLogicError as e:
        return e.message
    return None


@dataclass
class Outcome:
    fill_refused: str | None  # the band-edge fill's revert reason (None: it went through)
    liquidation_refused: str | None  # the keeper's try at the wallet after the crash
    colluder_gain: int  # atoms withdrawn minus atoms deposited
    lp_redeem_refused: str | None  # the LP redeeming everything the vault says is free
    lp_short: int  # what the LPs are owed that the clearinghouse does not hold


def _band_edge_attack(s, colluder, wallet, keeper, lp, chain) -> Outcome:
    ch = s.clearinghouse
    fund_account(s, colluder, COLLUDER_MARGIN)
    sell = signed(s, colluder, BTC, -ATTACK_SIZE, EDGE, chain=chain)
    buy = signed(s, wallet, BTC, ATTACK_SIZE, EDGE, chain=chain)
    fill_refused = _reason(lambda: s.order_book.match_orders(*sell, *buy, ATTACK_SIZE, sender=colluder))
    set_price(s, BTC, CRASH)
    liquidation_refused = _reason(lambda: ch.liquidate(wallet, [colluder], sender=keeper))
    if ch.position(colluder, BTC)[0] != 0:  # the colluder takes its profit off the table
        s.vault.trade(BTC, -ch.position(colluder, BTC)[0], 2 * CRASH, sender=colluder)
    ch.withdraw(ch.free_collateral(colluder), sender=colluder)
    colluder_gain = s.usdc.balanceOf(colluder) - COLLUDER_MARGIN
    # Every other account's claim is zero or negative: the vault's equity is the LPs' money.
    lp_short = max(ch.equity(s.vault) - (s.usdc.balanceOf(ch) - ch.insurance_due()), 0)
    lp_redeem_refused = _reason(lambda: s.vault.redeem(s.vault.maxRedeem(lp), lp, lp, sender=lp))
    return Outcome(fill_refused, liquidation_refused, colluder_gain, lp_redeem_refused, lp_short)


def test_band_edge_fill_of_a_wallet_that_never_deposited__is_refused_and_lps_stay_whole(
    wide, maker, stranger, keeper, lp, chain
):
    colluder, wallet = maker, stranger
    out = _band_edge_attack(wide, colluder, wallet, keeper, lp, chain)
    assert out.colluder_gain <= 0 and out.lp_short == 0 and out.lp_redeem_refused is None, out
    assert out.fill_refused == "ch: insufficient margin", out
    assert wide.clearinghouse.position(wallet, BTC)[0] == 0
    assert wide.usdc.balanceOf(lp) == LP_CAPITAL  # the LP got its capital back, to the atom
    assert_invariants(wide)


def test_zero_account_order_with_empty_signature__is_refused(wide, maker, chain):
    colluder = maker
    fund_account(wide, colluder, COLLUDER_MARGIN)
    sell = signed(wide, colluder, BTC, -ATTACK_SIZE, EDGE, chain=chain)
    forged = ChainOrder(ZERO_ADDRESS, BTC, ATTACK_SIZE, EDGE, 1, chain.pending_timestamp + 3_600)
    with ape.reverts("ob: zero account"):
        wide.order_book.match_orders(*sell, forged.as_tuple(), b"", ATTACK_SIZE, sender=colluder)
    assert wide.clearinghouse.position(ZERO_ADDRESS, BTC)[0] == 0
    assert_invariants(wide)


@pytest.mark.parametrize("length", [0, 20, 64])
def test_signature_that_is_not_65_bytes__is_refused(wide, maker, stranger, chain, length):
    colluder, wallet = maker, stranger
    fund_account(wide, colluder, COLLUDER_MARGIN)
    fund_account(wide, wallet, COLLUDER_MARGIN)
    sell = signed(wide, colluder, BTC, -size("0.1"), ORACLE, chain=chain)
    order, sig = signed(wide, wallet, BTC, size("0.1"), ORACLE, chain=chain)
    r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    short = (r + (s | (v - 27) << 255).to_bytes(32, "big"))[:length]  # 64: EIP-2098 compact
    with ape.reverts("ob: invalid signature"):
        wide.order_book.match_orders(*sell, order, short, size("0.1"), sender=colluder)
    wide.order_book.match_orders(*sell, order, sig, size("0.1"), sender=colluder)  # the 65 bytes pass
    assert_invariants(wide)


# --- the model: the same rules, with numbers ---------------------------------------------------

FRESH = "0x" + "f5" * 20  # never deposits


def _model(band: int = WIDE_BAND, colluder_margin: int = COLLUDER_MARGIN) -> Exchange:
    """The wide market in the reference model: A (the colluder) holds 20,000, FRESH nothing."""
    spec = replace(WIDE_MARKETS[0], price_band=band)
    ex = Exchange(OWNER, UPDATER, markets=[(MarketParams.of(spec.params()), ORACLE)],
                  risk=RiskParams.of(DEFAULT_RISK))
    for account in (LP, KEEPER, A):
        ex.mint(account, usdc(10_000_000))
        for spender in (ex.ch.address, ex.w.vault.address, ex.w.fund.address):
            ex.approve(account, spender)
    ex.vault_deposit(LP, LP_CAPITAL)
    ex.deposit(A, colluder_margin)
    return ex


def _order(account: str, sz: int, limit: int, nonce: int = 1) -> Order:
    return Order(account, BTC, sz, limit, nonce, 2**40)


def test_model__zero_account__refused_before_its_signature_is_looked_at():
    ex = _model()
    # Even a signature the model is told is fine cannot vouch for address(0).
    with pytest.raises(Revert, match="ob: zero account"):
        ex.match_orders(A, _order(A, -ATTACK_SIZE, EDGE), _order(ZERO_ADDRESS, ATTACK_SIZE, EDGE), ATTACK_SIZE)
    with pytest.raises(Revert, match="ob: invalid signature"):
        ex.match_orders(A, _order(A, -ATTACK_SIZE, EDGE), _order(FRESH, ATTACK_SIZE, EDGE), ATTACK_SIZE,
                        taker_signature_ok=False)


def test_model__first_position__makes_the_account_known_and_liquidatable():
    """E1 by the ledger, not by the margin rule: whatever path gives an account a position
    (here a trade without the margin check, the path the waterfall uses), the account is known
    from then on, and `liquidate` reaches it once it is below maintenance."""
    ex = _model()
    ch = ex.ch
    assert not ch.is_known(FRESH)
    ex._tx(lambda: ch._trade(FRESH, A, BTC, ATTACK_SIZE, EDGE, 0, 0, False))
    assert ch.is_known(FRESH) and ch.known.count(FRESH) == 1
    ex.set_price(UPDATER, BTC, CRASH)
    assert ch.is_liquidatable(FRESH)
    ex.liquidate(KEEPER, FRESH, [A])
    assert ch.positions_of(FRESH, BTC).size == 0 and ch.equity(FRESH) == 0


@settings(max_examples=200, deadline=None)
@given(
    band=st.one_of(st.integers(100_500, 200_000), st.integers(1_000, 200_000)),  # mostly >= imr + fee
    edge=st.one_of(st.just(PPM), st.integers(0, PPM)),  # where in the band: often its edge
    sz=st.integers(10**12, size(100)),
    sell=st.booleans(),
)
@example(band=WIDE_BAND, edge=PPM, sz=ATTACK_SIZE, sell=False)  # the review's fill
def test_model__no_fill_hands_a_margin_less_account_risk(band, edge, sz, sell):
    """Any band the bounds allow, any price inside it, either side: a wallet with no margin
    is refused by the margin rule (the fill's gain against the oracle counts nothing)."""
    ex = _model(band, colluder_margin=usdc(10_000_000))  # the colluder passes whatever it loses
    p = ORACLE - ORACLE * band * edge // PPM // PPM if not sell else ORACLE + ORACLE * band * edge // PPM // PPM
    wallet_size = -sz if sell else sz
    with pytest.raises(Revert, match="ch: insufficient margin"):
        ex.match_orders(A, _order(A, -wallet_size, p), _order(FRESH, wallet_size, p), sz)
