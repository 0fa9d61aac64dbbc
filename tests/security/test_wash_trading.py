"""Wash trading to farm the LiquidityVault: round trips against the vault never pay.

A trader, or two colluding accounts A and B (one trading against the vault, the other through
signed orders at any price inside the oracle band), buy and sell until they are flat again,
with oracle moves in between. Every vault fill is at the oracle plus the spread (rounded in the
vault's favour) and pays the taker fee, so:

* the coalition's gain is at most the **exposure PnL** (what holding its net position through
  the oracle moves paid, exact rational), and strictly less once it has traded: with the oracle
  unmoved while it holds a position, its equity never rises and the vault's share price never
  falls;
* the vault loses at most that exposure PnL;
* fees go where mechanism.md section 4 says: the fund gets floor(fees x fund_fee_share) of
  every fill plus the buyer/seller rounding atom, the vault the rest of the fees.

Breadth: Hypothesis over the reference model (same integer maths as the contracts). Concrete
cases: on chain. Funding from the vault's skew: wash fills change nobody else's funding (F1).
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpvault.chain.deploy import DEFAULT_MARKETS
from perpvault.model import Order, Revert
from perpvault.units import PPM, size, usdc
from tests.security.conftest import TRADER_MARGIN
from tests.security.model_world import FEE_SHARE, KEEPER, UPDATER, A, B, C, exchange, vault_quote
from tests.utils.spec import VALUE_UNIT, fee, notional, trade_dust, value
from tests.utils.trading import signed

BTC = 0
ORACLE0 = DEFAULT_MARKETS[BTC].initial_price
MAKER_FEE = DEFAULT_MARKETS[BTC].maker_fee
TAKER_FEE = DEFAULT_MARKETS[BTC].taker_fee
BAND = DEFAULT_MARKETS[BTC].price_band


# --- the accounting the tests hold the exchange to (independent of the model's code) ----------


class Ledger:
    """What the fees and rounding of each fill owe the fund and the vault, per the spec."""

    def __init__(self) -> None:
        self.to_fund = 0  # insurance_due growth: fund's fee share + rounding atoms
        self.to_vault_fees = 0  # the vault's share of fees
        self.vault_cash = 0  # what the vault received (< 0: paid) for its own fills
        self.fees = 0

    def fill(self, q: int, p: int, maker_rate: int, taker_rate: int) -> None:
        fees = fee(q, p, maker_rate) + fee(q, p, taker_rate)
        share = fees * FEE_SHARE // PPM
        self.fees += fees
        self.to_fund += share + trade_dust(abs(q), p)
        self.to_vault_fees += fees - share

    def vault_fill(self, trader_size: int, p: int) -> None:
        """The trader buys `trader_size` (> 0) from the vault at `p`, or sells (< 0)."""
        self.fill(trader_size, p, 0, TAKER_FEE)
        # The buyer pays the value rounded up, the seller receives it rounded down.
        self.vault_cash += value(trader_size, p) if trader_size > 0 else -notional(trader_size, p)

    @property
    def coalition_pays(self) -> int:
        """Flat again, with funding off, every atom the coalition lost went to the vault or the fund."""
        return self.vault_cash + self.to_vault_fees + self.to_fund


def coalition_equity(ex, accounts=(A, B)) -> int:
    return sum(ex.equity(a) for a in accounts)


def vault_position(ex) -> int:
    return ex.position(ex.w.vault.address, BTC)[0]


# --- breadth: Hypothesis over the model -------------------------------------------------------

sizes = st.one_of(
    st.integers(1, 10**6),  # dust: fees and rounding dominate
    st.integers(1, 2 * 10**18),  # up to 2 BTC, any last digit
)
legs = st.lists(
    st.one_of(
        st.tuples(st.just("vault"), st.sampled_from([A, B]), sizes, st.booleans()),
        st.tuples(st.just("cross"), st.sampled_from([A, B]), sizes, st.integers(-BAND, BAND)),
        st.tuples(st.just("oracle"), st.integers(-50_000, 50_000)),
    ),
    min_size=1,
    max_size=12,
)


def _run(ex, plan, ledger: Ledger) -> Fraction:
    """Play `plan` on `ex` (a refused leg is skipped: the model restores its state), then close
    A and B against the vault. Returns the exposure PnL (exact)."""
    exposure = Fraction(0)
    nonce = 0
    for leg in plan:
        oracle = ex.ch.mark_price(BTC)
        try:
            if leg[0] == "oracle":
                new = oracle * (PPM + leg[1]) // PPM
                ex.set_price(UPDATER, BTC, new)
                # The coalition holds exactly what the vault does not (nobody else trades).
                exposure += Fraction(-vault_position(ex) * (new - oracle), VALUE_UNIT)
            elif leg[0] == "vault":
                _, who, q, buy = leg
                q = q if buy else -q
                p = vault_quote(oracle, buy)
                ex.vault_trade(who, BTC, q, 2**256 - 1 if buy else 0)
                ledger.vault_fill(q, p)
            else:
                _, taker, q, offset = leg
                maker = B if taker == A else A
                p = oracle * (PPM + offset) // PPM
                nonce += 1
                mo = Order(maker, BTC, -q, p, nonce, 2**40)
                to = Order(taker, BTC, q, p, nonce, 2**40)
                ex.match_orders(taker, mo, to, q)
                ledger.fill(q, p, MAKER_FEE, TAKER_FEE)
        except Revert:
            continue
    oracle = ex.ch.mark_price(BTC)
    for who in (A, B):
        q = ex.position(who, BTC)[0]
        if q:
            ex.vault_trade(who, BTC, -q, 0 if q > 0 else 2**256 - 1)
            ledger.vault_fill(-q, vault_quote(oracle, q < 0))
    assert ex.position(A, BTC)[0] == ex.position(B, BTC)[0] == vault_position(ex) == 0
    return exposure


@settings(max_examples=150, deadline=None)
@given(plan=legs)
def test_round_trips__coalition_gains_at_most_its_exposure__vault_loses_at_most_it__model(plan):
    ex = exchange(min_notional=0)  # dust legs: rounding at its finest
    before = coalition_equity(ex)
    assets, supply, due = ex.total_assets(), ex.w.vault.total_supply, ex.ch.insurance_due
    ledger = Ledger()

    exposure = _run(ex, plan, ledger)

    gain = coalition_equity(ex) - before
    assert gain <= exposure
    if ledger.fees:
        assert gain < exposure, "a round trip that paid fees cannot break even against the oracle"
    assert ex.w.vault.total_supply == supply
    assert ex.total_assets() - assets >= -exposure
    # Fees and rounding went exactly where the spec says; flat again, nothing else moved.
    assert ex.ch.insurance_due - due == ledger.to_fund
    assert ex.total_assets() - assets == ledger.vault_cash + ledger.to_vault_fees
    assert gain == -ledger.coalition_pays
    assert ex.conservation_gap() == 0 and ex.sum_sizes(BTC) == 0


@settings(max_examples=100, deadline=None)
@given(plan=st.lists(st.one_of(
    st.tuples(st.just("vault"), st.sampled_from([A, B]), sizes, st.booleans()),
    st.tuples(st.just("cross"), st.sampled_from([A, B]), sizes, st.integers(-BAND, BAND)),
), min_size=1, max_size=12))
def test_round_trips__oracle_unmoved__coalition_never_gains__share_price_never_falls__model(plan):
    ex = exchange(min_notional=0)  # dust legs: rounding at its finest
    before = coalition_equity(ex)
    assets, supply = ex.total_assets(), ex.w.vault.total_supply
    ledger = Ledger()

    assert _run(ex, plan, ledger) == 0

    assert coalition_equity(ex) - before == -ledger.coalition_pays
    assert coalition_equity(ex) <= before
    # Share price = total_assets / total_supply, supply unchanged: assets never fall.
    assert ex.w.vault.total_supply == supply
    assert ex.total_assets() - assets == ledger.vault_cash + ledger.to_vault_fees >= 0


# --- concrete cases on chain --------------------------------------------------------------------


def _lp_assets(system, lp) -> int:
    return system.vault.convertToAssets(system.vault.balanceOf(lp))


def test_vault_round_trip__trader_pays_spread_and_fees__vault_and_fund_get_them(book, trader, lp):
    s = book
    ch, vault = s.clearinghouse, s.vault
    q = size("1.234567891234567891")  # any last digit: rounding shows
    buy, sell = vault_quote(ORACLE0, True), vault_quote(ORACLE0, False)
    assets, lp_assets, due = vault.totalAssets(), _lp_assets(s, lp), ch.insurance_due()

    vault.trade(BTC, q, buy, sender=trader)
    vault.trade(BTC, -q, sell, sender=trader)

    ledger = Ledger()
    ledger.vault_fill(q, buy)
    ledger.vault_fill(-q, sell)
    paid = notional(q, buy) - value(q, sell) + fee(q, buy, TAKER_FEE) + fee(q, sell, TAKER_FEE)
    assert ch.positions(trader, BTC).size == 0
    assert ch.margin(trader) == TRADER_MARGIN - paid
    assert vault.totalAssets() - assets == ledger.vault_cash + ledger.to_vault_fees > 0
    assert ch.insurance_due() - due == ledger.to_fund
    assert paid == ledger.coalition_pays  # nothing lost, nothing made
    assert _lp_assets(s, lp) > lp_assets  # the LP's share price rose


def test_colluders__vault_leg_and_band_edge_signed_fills__cannot_extract(book, maker, trader, lp, chain):
    """trader (A) buys from the vault, sells to maker (B) by signed orders at the top of the band,
    and B sells it back to the vault: B overpaid A by exactly what A gained, and the pair is
    down by the spread and every fee; the vault's assets only rose."""
    s = book
    ch, vault = s.clearinghouse, s.vault
    q = size("0.75")
    top = ORACLE0 * (PPM + BAND) // PPM
    pair_before = ch.equity(trader) + ch.equity(maker)
    assets, lp_assets = vault.totalAssets(), _lp_assets(s, lp)
    maker_q = ch.positions(maker, BTC).size  # maker already holds the book's short

    vault.trade(BTC, q, 2**256 - 1, sender=trader)
    mo, ms = signed(s, trader, BTC, -q, top, chain=chain)  # A rests an ask at the band's top
    to, ts = signed(s, maker, BTC, q, top, chain=chain)
    s.order_book.match_orders(mo, ms, to, ts, q, sender=maker)
    vault.trade(BTC, -q, 0, sender=maker)

    assert ch.positions(trader, BTC).size == 0 and ch.positions(maker, BTC).size == maker_q
    assert ch.positions(vault, BTC).size == 0
    ledger = Ledger()
    ledger.vault_fill(q, vault_quote(ORACLE0, True))
    ledger.fill(q, top, MAKER_FEE, TAKER_FEE)  # A (trader) is the maker of this fill
    ledger.vault_fill(-q, vault_quote(ORACLE0, False))
    pair_after = ch.equity(trader) + ch.equity(maker)
    assert pair_after - pair_before == -ledger.coalition_pays
    assert pair_after < pair_before
    assert vault.totalAssets() - assets == ledger.vault_cash + ledger.to_vault_fees > 0
    assert _lp_assets(s, lp) > lp_assets


def test_vault_round_trip__oracle_moves_between__gain_is_the_exposure_less_spread_and_fees(book, trader,
                                                                                           oracle_updater):
    s = book
    ch, vault = s.clearinghouse, s.vault
    q = size("2")
    up = ORACLE0 * 102 // 100
    assets = vault.totalAssets()

    vault.trade(BTC, q, 2**256 - 1, sender=trader)
    s.feed.set_price(BTC, up, sender=oracle_updater)
    vault.trade(BTC, -q, 0, sender=trader)

    exposure = value(q, up) - value(q, ORACLE0)  # what holding 2 BTC through +2% paid, exactly
    ledger = Ledger()
    ledger.vault_fill(q, vault_quote(ORACLE0, True))
    ledger.vault_fill(-q, vault_quote(up, False))
    gain = ch.margin(trader) - TRADER_MARGIN
    assert gain == -ledger.coalition_pays
    assert 0 < gain < exposure
    assert vault.totalAssets() - assets == ledger.vault_cash + ledger.to_vault_fees > -exposure


# --- funding cannot be steered by wash fills (SPEC section 5, F1) -------------------------------
#
# Funding is priced from the vault's skew (mechanism.md section 5): a fill between two traders
# leaves the vault's position, so the rate, unchanged, at any size and any price in the band.
# The review's attack under the old EMA premium: B and C wash 0.0002 BTC ten times at the band's
# top, which put funding at its cap against the vault (long opposite A's 10 BTC short): over a day
# with the oracle unmoved the coalition ended ~12,600 USDC up. tests/security/old_code/
# R8-retroactive-funding.patch restores that code: there the scenario below has the vault *pay* 14,401.50
# USDC of funding with the dust wash (14,401.66 with the large one) where it receives 360.04
# without it, and all four wash tests below fail.

DUST = 2 * 10**14  # 0.0002 BTC: 12 USDC, above the 10-USDC minimum notional
LARGE = size("0.5")  # 30,000 USDC a fill, 5 BTC in all


class FundingTally:
    """Runs model transactions and sums the FundingSettled amounts each account received (< 0: paid)."""

    def __init__(self, ex) -> None:
        self.ex, self.paid, self.settlements = ex, {}, {}

    def __call__(self, method: str, *args):
        result = getattr(self.ex, method)(*args)
        for e in self.ex.last_events:
            if e[0] == "FundingSettled":
                self.paid[e[1]] = self.paid.get(e[1], 0) + e[3]
                self.settlements[e[1]] = self.settlements.get(e[1], 0) + 1
        return result


def _funding_world(*, wash: int, fills: int = 10):
    """A sells 10 BTC to the vault; B and C (A's colluders) wash `wash` BTC `fills` times at the
    band's top (0: no wash), a second apart; a day passes with the oracle refreshed hourly at the
    same price; everyone closes and settles. Returns (exchange, funding tally, coalition gain,
    fees the wash paid)."""
    coalition = (A, B, C)
    ex = exchange(funding=True, margins={A: usdc(1_000_000), B: usdc(100_000), C: usdc(100_000)})
    tx = FundingTally(ex)
    before = coalition_equity(ex, coalition)
    tx("vault_trade", A, BTC, -size(10), 0)  # the vault is now long 10
    top = ORACLE0 * (PPM + BAND) // PPM
    ledger = Ledger()
    for nonce in range(1, fills + 1):
        ex.advance(1)
        if wash:
            tx("match_orders", C, Order(B, BTC, -wash, top, nonce, 2**40), Order(C, BTC, wash, top, nonce, 2**40), wash)
            ledger.fill(wash, top, MAKER_FEE, TAKER_FEE)
    for _ in range(24):
        ex.advance(3_600)
        tx("set_price", UPDATER, BTC, ORACLE0)
    tx("vault_trade", A, BTC, size(10), 2**256 - 1)
    if wash:
        q = fills * wash
        tx("match_orders", B, Order(C, BTC, -q, ORACLE0, 99, 2**40), Order(B, BTC, q, ORACLE0, 99, 2**40), q)
        ledger.fill(q, ORACLE0, MAKER_FEE, TAKER_FEE)
    for account in (*coalition, ex.w.vault.address):
        tx("settle_funding", KEEPER, account)
    assert all(ex.position(a, BTC)[0] == 0 for a in coalition)
    return ex, tx.paid, coalition_equity(ex, coalition) - before, ledger.fees


def test_funding_round_trip__without_wash_fills__coalition_loses__model():
    """The control: the day-long round trip pays spread, fees, and the funding of A's short
    (the vault is long, so shorts pay longs)."""
    ex, paid, gain, _ = _funding_world(wash=0)
    assert gain < 0
    assert paid[A] < 0 < paid[ex.w.vault.address]


@pytest.mark.parametrize("wash", [DUST, LARGE], ids=["dust", "large"])
def test_wash_fills__change_nobody_elses_funding__coalition_does_not_profit__model(wash):
    """F1: with or without the wash, the vault and A pay and receive the same funding to the
    atom; the coalition is worse off by at least the fees the wash paid."""
    quiet, paid_quiet, gain_quiet, _ = _funding_world(wash=0)
    washed, paid, gain, fees = _funding_world(wash=wash)
    vault = washed.w.vault.address
    assert paid[vault] == paid_quiet[vault] > 0
    assert paid[A] == paid_quiet[A] < 0
    assert washed.funding_index(BTC) == quiet.funding_index(BTC)
    assert fees > 0
    assert gain <= gain_quiet - fees
    assert gain < 0


@pytest.fixture
def funding_book(system, owner, lp, taker, maker, trader):
    """The shared deployment (funding on): the LP's 1M in the vault; the taker (A) with 1M of
    margin, the maker (B) and trader (C), A's colluders, with 100,000 each."""
    from tests.utils.trading import fund_account

    system.usdc.mint(lp, usdc(1_000_000), sender=owner)
    system.usdc.approve(system.vault, 2**256 - 1, sender=lp)
    system.vault.deposit(usdc(1_000_000), lp, sender=lp)
    for account, amount in ((taker, usdc(1_000_000)), (maker, usdc(100_000)), (trader, usdc(100_000))):
        fund_account(system, account, amount)
    return system


def _chain_world(s, chain, taker, maker, trader, oracle_updater, keeper, *, wash: int, t0: int):
    """The model's scenario on the contracts, every transaction at a set time from `t0`:
    returns (coalition gain, {account: funding received}, vault assets change)."""
    ch, vault = s.clearinghouse, s.vault
    coalition = (taker, maker, trader)
    funding: dict[str, int] = {}

    def at(t: int):
        chain.pending_timestamp = t0 + t

    def record(tx):
        for e in tx.events.filter(ch.FundingSettled):
            funding[e.account] = funding.get(e.account, 0) + e.amount

    before = sum(ch.equity(a) for a in coalition)
    assets = vault.totalAssets()
    at(0)
    record(vault.trade(BTC, -size(10), 0, sender=taker))
    top = ORACLE0 * (PPM + BAND) // PPM
    for i in range(1, 11):
        at(i)
        if wash:
            mo, ms = signed(s, maker, BTC, -wash, top, chain=chain)
            to, ts = signed(s, trader, BTC, wash, top, chain=chain)
            record(s.order_book.match_orders(mo, ms, to, ts, wash, sender=trader))
        else:
            chain.mine()
    for h in range(1, 25):
        at(10 + 3_600 * h)
        s.feed.set_price(BTC, ORACLE0, sender=oracle_updater)
    at(10 + 3_600 * 24 + 1)
    record(vault.trade(BTC, size(10), 2**256 - 1, sender=taker))
    if wash:
        mo, ms = signed(s, trader, BTC, -10 * wash, ORACLE0, chain=chain)
        to, ts = signed(s, maker, BTC, 10 * wash, ORACLE0, chain=chain)
        at(10 + 3_600 * 24 + 2)
        record(s.order_book.match_orders(mo, ms, to, ts, 10 * wash, sender=maker))
    for i, account in enumerate((*coalition, vault)):
        at(10 + 3_600 * 24 + 3 + i)
        record(ch.settle_funding(account, sender=keeper))
    assert all(ch.positions(a, BTC).size == 0 for a in coalition)
    return sum(ch.equity(a) for a in coalition) - before, funding, vault.totalAssets() - assets


@pytest.mark.parametrize("wash", [DUST, LARGE], ids=["dust", "large"])
def test_wash_fills__change_nobody_elses_funding__coalition_does_not_profit__on_chain(
    funding_book, taker, maker, trader, oracle_updater, keeper, chain, wash
):
    """The model's scenario on the contracts, played twice from one snapshot at the same
    timestamps: without the wash and with it. The vault and A get the same funding to the atom;
    the vault's assets differ by exactly its share of the wash's fees; the coalition loses."""
    s = funding_book
    t0 = chain.pending_timestamp + 100
    snap = chain.snapshot()
    gain_quiet, funding_quiet, assets_quiet = _chain_world(
        s, chain, taker, maker, trader, oracle_updater, keeper, wash=0, t0=t0)
    chain.restore(snap)
    gain, funding, assets = _chain_world(s, chain, taker, maker, trader, oracle_updater, keeper, wash=wash, t0=t0)

    ledger = Ledger()
    for _ in range(10):
        ledger.fill(wash, ORACLE0 * (PPM + BAND) // PPM, MAKER_FEE, TAKER_FEE)
    ledger.fill(10 * wash, ORACLE0, MAKER_FEE, TAKER_FEE)
    v = s.vault.address
    assert funding[v] == funding_quiet[v] > 0
    assert funding[taker.address] == funding_quiet[taker.address] < 0
    assert assets - assets_quiet == ledger.to_vault_fees > 0
    assert gain_quiet < 0
    assert gain <= gain_quiet - ledger.fees


# --- breadth: any wash sequence, over the model -------------------------------------------------

H1 = "0x" + "e1" * 20  # honest accounts: one trades with the vault, one with H1 by signed orders
H2 = "0x" + "e2" * 20

steps = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.integers(1, 1_800)),  # the oracle stays fresh (max age 1 h) ...
        st.tuples(st.just("oracle"), st.just(0)),  # ... if refreshed
        st.tuples(st.just("oracle"), st.integers(-30_000, 30_000)),
        st.tuples(st.just("vault"), st.one_of(st.integers(1, size(3)), st.integers(-size(3), -1))),
        st.tuples(st.just("honest"), st.one_of(st.integers(1, size(2)), st.integers(-size(2), -1))),
        st.tuples(st.just("wash"), st.sampled_from([B, C]), st.one_of(st.integers(DUST, size("0.01")),
                                                                  st.integers(size("0.01"), size(2))),
                  st.integers(-BAND, BAND)),
    ),
    min_size=1,
    max_size=25,
)
# The vault takes a side first, so funding runs from the start.
plans = st.tuples(st.one_of(st.integers(size("0.01"), size(5)), st.integers(-size(5), -size("0.01"))), steps)


def _play(plan, *, wash: bool):
    """Plays `plan` on a fresh model (wash legs only if `wash`; a refused leg is skipped). The
    keeper accrues the market after every oracle update (settle_funding(vault)). At the end the
    oracle is refreshed and every account settles. Returns (exchange, tally, fees the wash
    legs paid)."""
    ex = exchange(funding=True, margins={H1: usdc(1_000_000), H2: usdc(1_000_000),
                                         B: usdc(1_000_000), C: usdc(1_000_000)})
    tx = FundingTally(ex)
    ledger = Ledger()
    nonce = 0
    first, legs = plan
    tx("vault_trade", H1, BTC, first, 2**256 - 1 if first > 0 else 0)
    for leg in legs:
        oracle = ex.w.feed.latest(BTC)[0]  # a stale price refuses the trades, in both worlds
        try:
            if leg[0] == "advance":
                ex.advance(leg[1])
            elif leg[0] == "oracle":
                tx("set_price", UPDATER, BTC, oracle * (PPM + leg[1]) // PPM)
                tx("settle_funding", KEEPER, ex.w.vault.address)
            elif leg[0] == "vault":
                tx("vault_trade", H1, BTC, leg[1], 2**256 - 1 if leg[1] > 0 else 0)
            elif leg[0] == "honest":
                nonce += 1
                q = leg[1]
                mo, to = Order(H1, BTC, -q, oracle, nonce, 2**40), Order(H2, BTC, q, oracle, nonce, 2**40)
                tx("match_orders", H2, mo, to, abs(q))
            elif wash:
                _, taker, q, offset = leg
                maker = B if taker == C else C
                p = oracle * (PPM + offset) // PPM
                nonce += 1
                q = q if offset % 2 else -q  # either direction
                mo, to = Order(maker, BTC, -q, p, nonce, 2**40), Order(taker, BTC, q, p, nonce, 2**40)
                tx("match_orders", taker, mo, to, abs(q))
                ledger.fill(q, p, MAKER_FEE, TAKER_FEE)
        except Revert:
            continue
    ex.advance(60)
    tx("set_price", UPDATER, BTC, ex.w.feed.latest(BTC)[0])
    for account in (H1, H2, ex.w.vault.address, B, C):
        tx("settle_funding", KEEPER, account)
    return ex, tx, ledger.fees


@settings(max_examples=120, deadline=None)
@given(plan=plans)
def test_any_wash_sequence__changes_others_funding_by_at_most_rounding__model(plan):
    """F1 over the model: the same plan played without and with the coalition's wash fills (any
    sizes, any prices in the band, either direction, interleaved with time, oracle moves and the
    honest accounts' trades). Every other account's funding differs by at most one atom per
    settlement it had (the index is floored once per accrual, and the wash adds accruals) —
    far below the fees the wash paid — and the funding index by at most one unit per extra accrual."""
    quiet, quiet_tx, _ = _play(plan, wash=False)
    washed, washed_tx, fees = _play(plan, wash=True)
    extra_accruals = sum(1 for leg in plan[1] if leg[0] == "wash")
    assert abs(washed.funding_index(BTC) - quiet.funding_index(BTC)) <= extra_accruals
    for account in (H1, H2, washed.w.vault.address):
        settlements = washed_tx.settlements.get(account, 0)
        assert settlements == quiet_tx.settlements.get(account, 0)
        drift = abs(washed_tx.paid.get(account, 0) - quiet_tx.paid.get(account, 0))
        assert drift <= settlements
        assert drift == 0 or drift < fees


def test_two_oracle_updates_between_accruals__a_poke_between_moves_funding_by_the_documented_bound__model():
    """Where F1 is exact, and what remains: each interval is valued at the stored funding price
    until the oracle's latest update, and that update's price after it, so an intermediate
    update no accrual saw is valued at the price before it. A poke (any accrual: a fill, a free
    settle_funding) between two updates captures it. The difference is exactly
    rate x (u2 - u1) x (P1 - P0) on the position (mechanism.md section 5): second order, and it
    only ever brings funding to the exact integral of the oracle's prices; the keeper's accrual
    after each update removes it."""
    def world(*, poke: bool):
        ex = exchange(funding=True, margins={H1: usdc(1_000_000)})
        tx = FundingTally(ex)
        tx("vault_trade", H1, BTC, size(10), 2**256 - 1)  # the vault is short 10: longs pay
        ex.advance(600)
        tx("set_price", UPDATER, BTC, ORACLE0 * 101 // 100)  # u1: +1%
        if poke:
            tx("settle_funding", KEEPER, B)  # B holds nothing: a free accrual of nothing but the market
            tx("settle_funding", KEEPER, ex.w.vault.address)
        ex.advance(1_200)
        tx("set_price", UPDATER, BTC, ORACLE0 * 102 // 100)  # u2 = u1 + 1,200 s
        ex.advance(600)
        tx("settle_funding", KEEPER, H1)
        return tx.paid[H1]

    cap = DEFAULT_MARKETS[BTC].max_funding_rate
    rate = size(10) * cap // DEFAULT_MARKETS[BTC].skew_scale  # the vault's short: longs pay this
    p0, p1 = ORACLE0, ORACLE0 * 101 // 100
    exact = -(size(10) * rate * 1_200 * (p1 - p0)) // (10**12 * 10**36)  # what H1 owes on top, atoms
    difference = world(poke=True) - world(poke=False)
    assert exact < 0
    assert abs(difference - exact) <= 2  # two floors (index and credit) on each side
