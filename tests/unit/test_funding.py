"""Funding (SPEC section 5, mechanism.md section 5): an index accrued per second from the skew of
the LiquidityVault's position, max_funding_rate x clamp(-vault size / skew_scale, -1, 1), the
rate fixed at the interval's start and each second valued at the oracle price in force then;
settled lazily on touch; zero-sum to the atom with the dust swept to the fund.

The expected index and every settlement are computed by `tests.utils.spec.FundingMarket` (the
spec's formulas written out) and each account's book by `tests.utils.spec.Book`, replayed at the
timestamps of the blocks the transactions were mined in. The skew comes from vault trades
(`LiquidityVault.trade`); fills between traders move no rate.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from perpvault.chain import DEFAULT_MARKETS, DEFAULT_RISK, deploy
from perpvault.params import VAULT_SPREAD
from perpvault.units import PPM
from tests.unit.conftest import LP_DEPOSIT, TRADER_DEPOSIT
from tests.utils import spec
from tests.utils.checks import assert_invariants
from tests.utils.trading import fund_account, trade

ETH = 1
MAKER_FEE, TAKER_FEE = DEFAULT_MARKETS[ETH].maker_fee, DEFAULT_MARKETS[ETH].taker_fee
FUND_FEE_SHARE = DEFAULT_RISK[2]

# Awkward numbers: each is prime (checked below).
SKEW_SCALE = 6700000000000000021  # base units: a vault position of 6.7 ETH puts funding at its cap
CAP = 277_777_777_853  # max_funding_rate, WAD per second: about 0.1% an hour
NEW_SKEW_SCALE = 2900000000000000111
ORACLE = 2999000000000000000029
PRICES = (3011000000000000000051, 3023000000000000000083, 3041000000000000000033)
SIZES = (1700000000000000081, 2300000000000000027, 700000000000000033)
BEYOND = 7300000000000000019  # 7.3 ETH: beyond SKEW_SCALE


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    small = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)
    for p in small:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in small:  # deterministic for n < 3.3e24; beyond, a strong probable prime
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


@pytest.fixture(scope="module")
def skew_system(owner, oracle_updater):
    """The default deployment, but ETH-PERP's skew scale and funding cap are the awkward primes
    above (the default 2,000 ETH would need more vault capital than a test holds to show the clamp)."""
    eth = replace(DEFAULT_MARKETS[ETH], skew_scale=SKEW_SCALE, max_funding_rate=CAP)
    return deploy(owner, oracle_updater, markets=(DEFAULT_MARKETS[0], eth))


@pytest.fixture(scope="module")
def skew_book(skew_system, owner, lp, maker, taker, trader):
    """skew_system with maker, taker and trader holding TRADER_DEPOSIT of margin each and the
    LP's LP_DEPOSIT in the vault (the vault's margin); nobody holds a position."""
    s = skew_system
    for account in (maker, taker, trader):
        fund_account(s, account, TRADER_DEPOSIT)
    s.usdc.mint(lp, LP_DEPOSIT, sender=owner)
    s.usdc.approve(s.vault, 2**256 - 1, sender=lp)
    s.vault.deposit(LP_DEPOSIT, lp, sender=lp)
    return s


class Replay:
    """Replays ETH-PERP's funding in the spec model, each account's book, and predicts every
    FundingSettled event and every margin."""

    def __init__(self, system, block_time, traders):
        self.system, self.block_time = system, block_time
        self.ch = system.clearinghouse
        state = self.ch.markets(ETH)
        initial = system.markets[ETH].initial_price
        assert state.funding_index == 0 and state.funding_price == initial
        self.market = spec.FundingMarket(0, state.last_funding_time, initial, 0, SKEW_SCALE, CAP)
        self.vault = system.vault.address
        self.books = {a.address: spec.Book(margin=TRADER_DEPOSIT) for a in traders}
        self.books[self.vault] = spec.Book(margin=LP_DEPOSIT)
        self.entry: dict[str, int] = {}  # account -> the index at its last settlement
        self.settled: dict[str, int] = {}
        self.insurance_due = 0
        self.oracle, self.updated = system.feed.latest(ETH)  # the oracle's latest price and its time
        assert self.oracle == initial

    # --- what the spec says -------------------------------------------------------------------

    def _settle(self, account: str, index: int, expected: list) -> None:
        book = self.books[account]
        last = self.entry.get(account, 0)
        if last != index:
            if book.size != 0:
                credit = spec.funding_credit(book.size, index - last)
                book.margin += credit
                self.settled[account] = self.settled.get(account, 0) + credit
                expected.append((account, credit))
            self.entry[account] = index

    def pending(self, now: int) -> spec.FundingMarket:
        """The market as a settlement at `now` would leave it (the views' index)."""
        m = replace(self.market)
        m.accrue(now, self.oracle, self.updated)
        return m

    def equity(self, account: str, now: int) -> int:
        """Equity at the oracle, the funding a settlement now would pay counted exactly."""
        book = self.books[account]
        owed = spec.funding_credit(book.size, self.pending(now).index - self.entry.get(account, 0))
        return book.equity(self.oracle) + owed

    # --- transactions, each checked against it -----------------------------------------------

    def _check(self, tx, expected: list, accounts) -> None:
        got = [(e.account, e.amount) for e in tx.events.filter(self.ch.FundingSettled) if e.market == ETH]
        assert sorted(got) == sorted(expected)
        state = self.ch.markets(ETH)
        assert (state.funding_index, state.last_funding_time, state.funding_price) == (
            self.market.index, self.market.last, self.market.funding_price)
        for a in accounts:
            assert self.ch.margin(a) == self.books[a].margin

    def set_oracle(self, new_price: int) -> None:
        """The updater posts `new_price` (the same price again: a refresh); nothing accrues."""
        tx = self.system.feed.set_price(ETH, new_price, sender=self.system.oracle_updater)
        self.oracle, self.updated = new_price, self.block_time(tx)

    def accrue(self, tx) -> int:
        return self.market.accrue(self.block_time(tx), self.oracle, self.updated)

    def _fill(self, tx, buyer: str, seller: str, q: int, p: int, buyer_rate: int, seller_rate: int) -> None:
        index = self.accrue(tx)
        expected: list = []
        self._settle(buyer, index, expected)
        self._settle(seller, index, expected)
        fees = self.books[buyer].buy(q, p, buyer_rate) + self.books[seller].sell(q, p, seller_rate)
        share = fees * FUND_FEE_SHARE // PPM
        self.books[self.vault].margin += fees - share
        self.insurance_due += share + spec.trade_dust(q, p)
        self._check(tx, expected, {buyer, seller, self.vault})

    def fill(self, maker, taker, taker_size: int, fill_price: int, *, chain) -> None:
        """Signed orders between two traders: the vault's size, so the rate, does not move."""
        tx = trade(self.system, maker, taker, ETH, taker_size, fill_price, chain=chain)
        buyer, seller = (taker, maker) if taker_size > 0 else (maker, taker)
        rates = (TAKER_FEE, MAKER_FEE) if taker_size > 0 else (MAKER_FEE, TAKER_FEE)
        self._fill(tx, buyer.address, seller.address, abs(taker_size), fill_price, *rates)

    def vault_trade(self, trader, trader_size: int) -> None:
        """`trader` buys `trader_size` (> 0) from the vault at its quote, or sells; the vault's
        size moves the other way from the next second on."""
        p = spec.vault_quote(self.oracle, trader_size > 0, VAULT_SPREAD)
        tx = self.system.vault.trade(ETH, trader_size, p, sender=trader)
        buyer, seller = (trader.address, self.vault) if trader_size > 0 else (self.vault, trader.address)
        rates = (TAKER_FEE, 0) if trader_size > 0 else (0, TAKER_FEE)
        self._fill(tx, buyer, seller, abs(trader_size), p, *rates)
        self.market.vault_size -= trader_size

    def settle(self, account, keeper) -> int:
        """settle_funding(account): accrues only if the account holds a position (its market mask)."""
        address = getattr(account, "address", account)
        tx = self.ch.settle_funding(address, sender=keeper)
        expected: list = []
        if self.books[address].size != 0:
            self._settle(address, self.accrue(tx), expected)
        self._check(tx, expected, {address})
        return sum(c for _, c in expected)


def _check_views(replay: Replay, system, chain, accounts) -> None:
    """Every equity view and the vault's totalAssets count pending funding exactly (at the head
    block's time, the time views run at)."""
    now = chain.blocks.head.timestamp
    for a in accounts:
        assert system.clearinghouse.equity(a) == replay.equity(a.address, now)
    idle = system.usdc.balanceOf(system.vault)
    assert system.vault.totalAssets() == max(replay.equity(replay.vault, now), 0) + idle
    assert system.clearinghouse.funding_index(ETH) == replay.pending(now).index


def test_awkward_numbers__are_prime():
    assert all(is_prime(n) for n in (SKEW_SCALE, CAP, NEW_SKEW_SCALE, ORACLE, *PRICES, *SIZES, BEYOND))


def test_funding__vault_short__longs_pay_shorts_lazily(skew_book, maker, taker, trader, keeper, chain, block_time):
    s = skew_book
    replay = Replay(s, block_time, (maker, taker, trader))
    replay.set_oracle(ORACLE)
    replay.vault_trade(taker, SIZES[0])  # the vault is short: traders are net long
    replay.fill(trader, maker, SIZES[1], PRICES[2], chain=chain)  # maker long from trader, above the oracle
    assert 0 < replay.market.rate() < CAP  # unclamped
    margins = {a.address: s.clearinghouse.margin(a) for a in (maker, taker, trader, s.vault)}
    chain.pending_timestamp += 1_009
    chain.mine()
    # Lazy: nothing settles until the account is touched ...
    assert {a: s.clearinghouse.margin(a) for a in margins} == margins
    # ... but the views already count what a settlement now would pay, and an oracle update
    # changes nothing of the seconds before it: they stay valued at the funding price.
    _check_views(replay, s, chain, (maker, taker, trader))
    now = chain.blocks.head.timestamp
    before = replay.pending(now).index
    chain.pending_timestamp = now  # the update in the same second as the views above
    replay.set_oracle(PRICES[0])
    assert replay.updated == chain.blocks.head.timestamp == now
    assert replay.pending(now).index == before
    _check_views(replay, s, chain, (maker, taker, trader))
    chain.pending_timestamp += 503  # the seconds after the update are valued at its price
    chain.mine()
    _check_views(replay, s, chain, (maker, taker, trader))
    t = chain.blocks.head.timestamp + 1

    def settle_at_t(account) -> int:
        chain.pending_timestamp = t  # everyone settles in the same second: one index step for all
        return replay.settle(account, keeper)

    longs = [settle_at_t(a) for a in (taker, maker)]
    shorts = [settle_at_t(a) for a in (trader, s.vault)]
    assert replay.market.last == chain.blocks.head.timestamp == t
    # The longs (taker, maker) pay, the shorts (trader, vault) receive; the payers' rounding is
    # never in their favour.
    assert max(longs) < 0 < min(shorts)
    assert sum(shorts) <= -sum(longs)
    assert_invariants(s)


def test_funding__vault_long__shorts_pay_longs(skew_book, maker, taker, trader, keeper, chain, block_time):
    s = skew_book
    replay = Replay(s, block_time, (maker, taker, trader))
    replay.set_oracle(ORACLE)
    replay.vault_trade(taker, -SIZES[1])  # the vault is long: traders are net short
    chain.pending_timestamp += 613
    replay.set_oracle(PRICES[1])
    replay.vault_trade(taker, -SIZES[2])  # longer still: the rate grows from this second on
    assert -CAP < replay.market.rate() < 0
    chain.pending_timestamp += 777
    replay.set_oracle(PRICES[0])
    chain.mine()
    _check_views(replay, s, chain, (taker,))
    short_credit = replay.settle(taker, keeper)
    chain.pending_timestamp = replay.market.last  # the vault in the same second: the same index
    long_credit = replay.settle(s.vault, keeper)
    assert replay.market.last == chain.blocks.head.timestamp
    assert short_credit < 0 < long_credit <= -short_credit
    assert_invariants(s)


def test_funding__vault_flat__no_funding_whatever_the_fills(skew_book, maker, taker, trader, keeper, chain,
                                                            block_time):
    s = skew_book
    replay = Replay(s, block_time, (maker, taker, trader))
    band = s.markets[ETH].price_band
    replay.set_oracle(ORACLE)
    top, bottom = ORACLE * (PPM + band) // PPM, ORACLE * (PPM - band) // PPM + 1
    replay.fill(maker, taker, SIZES[0], top, chain=chain)  # the taker pushes at the top of the band
    chain.pending_timestamp += 997
    replay.fill(trader, maker, -SIZES[1], bottom, chain=chain)  # and the maker at the bottom
    chain.pending_timestamp += 1_201
    replay.set_oracle(PRICES[2])
    replay.fill(taker, trader, SIZES[2], PRICES[2] * (PPM + band) // PPM, chain=chain)
    chain.pending_timestamp += 3_001
    replay.set_oracle(PRICES[0])
    chain.mine()
    _check_views(replay, s, chain, (maker, taker, trader))
    for account in (maker, taker, trader):
        assert replay.settle(account, keeper) == 0
    assert replay.settled == {} and replay.market.index == 0
    assert s.clearinghouse.funding_index(ETH) == 0
    assert_invariants(s)


def test_accrual_again_in_the_same_second__after_an_oracle_update__refreshes_the_funding_price(
    skew_book, taker, keeper, chain, block_time
):
    s = skew_book
    replay = Replay(s, block_time, (taker,))
    replay.set_oracle(ORACLE)
    replay.vault_trade(taker, SIZES[0])  # accrues at t: the funding price is ORACLE
    t = replay.market.last
    chain.pending_timestamp = t
    replay.set_oracle(PRICES[0])  # an update in the same second
    chain.pending_timestamp = t
    index = replay.market.index
    replay.settle(taker, keeper)  # the same second again: the index stays, the price is refreshed
    assert replay.market.last == t and replay.market.index == index
    assert s.clearinghouse.markets(ETH).funding_price == PRICES[0]
    # A second update before the next accrual: the seconds before it are valued at the refreshed
    # price, not at the one the first accrual of t saw.
    chain.pending_timestamp = t + 601
    replay.set_oracle(PRICES[1])
    chain.pending_timestamp = t + 601 + 1_009
    replay.settle(taker, keeper)
    weighted = 601 * PRICES[0] + 1_009 * PRICES[1]
    assert s.clearinghouse.markets(ETH).funding_index - index == replay.market.rate() * weighted // 10**12
    assert_invariants(s)


@pytest.mark.parametrize("direction", [1, -1])
def test_funding__vault_skew_beyond_skew_scale__is_exactly_the_cap(skew_book, taker, keeper, chain, block_time,
                                                                   direction):
    s = skew_book
    replay = Replay(s, block_time, (taker,))
    replay.set_oracle(ORACLE)
    replay.vault_trade(taker, direction * BEYOND)  # direction 1: the vault is short BEYOND
    assert BEYOND * CAP // SKEW_SCALE > CAP  # the skew alone would pay more than the cap
    index_before, t_before, funding_price = replay.market.index, replay.market.last, replay.market.funding_price
    chain.pending_timestamp += 2_003
    replay.set_oracle(PRICES[1])
    updated = replay.updated
    chain.pending_timestamp += 1_013
    replay.settle(taker, keeper)
    now = replay.market.last
    # Clamped: exactly cap * (seconds x price) / 1e12 moved (floored), in the skew's direction,
    # the seconds before the update at the funding price, those after at the update's.
    weighted = (updated - t_before) * funding_price + (now - updated) * PRICES[1]
    expected = (direction * CAP * weighted) // 10**12
    assert s.clearinghouse.markets(ETH).funding_index - index_before == expected
    assert replay.settled[taker.address] == spec.funding_credit(direction * BEYOND, expected)
    assert_invariants(s)


def test_funding__three_traders_and_the_vault_awkward_numbers__zero_sum_to_the_atom(
    skew_book, maker, taker, trader, keeper, chain, block_time
):
    s = skew_book
    replay = Replay(s, block_time, (maker, taker, trader))
    replay.set_oracle(ORACLE)
    q1, q2, q3 = SIZES
    replay.vault_trade(taker, q1)  # vault short q1
    chain.pending_timestamp += 613
    replay.fill(maker, trader, q2, PRICES[1], chain=chain)  # trader long q2, maker short
    chain.pending_timestamp += 401
    replay.set_oracle(PRICES[0])
    replay.vault_trade(trader, -q3)  # vault short q1 - q3
    chain.pending_timestamp += 1_019
    for account in (maker, taker, trader, s.vault):
        replay.settle(account, keeper)
        chain.pending_timestamp += 7
    chain.pending_timestamp += 997
    replay.set_oracle(PRICES[2])
    # Everyone closes: the taker and trader against the vault, then maker and trader square up.
    replay.vault_trade(taker, -q1)
    chain.pending_timestamp += 211
    replay.vault_trade(trader, q3)
    replay.fill(trader, maker, q2, PRICES[2] + 13, chain=chain)
    assert all(book.size == 0 for book in replay.books.values())
    for account in (maker, taker, trader, s.vault):
        assert s.clearinghouse.position(account, ETH)[0] == 0

    assert s.clearinghouse.insurance_due() == replay.insurance_due
    tx = s.clearinghouse.sweep_to_insurance(sender=keeper)
    swept = tx.events.filter(s.clearinghouse.InsuranceSwept)[0].amount
    funding_dust = swept - replay.insurance_due
    total_settled = sum(replay.settled.values())
    # Zero-sum to the atom: what was settled plus the dust the fund got is exactly zero.
    assert total_settled + funding_dust == 0
    assert 0 <= funding_dust <= 16  # at most one atom per settlement
    assert total_settled != 0 and len(replay.settled) == 4
    assert s.clearinghouse.markets(ETH).funding_pool == 0
    assert s.fund.total_in() == swept
    assert_invariants(s)


def test_sweep_to_insurance__mid_way__never_takes_what_settlements_claim(
    skew_book, maker, taker, trader, keeper, chain, block_time
):
    s = skew_book
    replay = Replay(s, block_time, (maker, taker, trader))
    replay.set_oracle(ORACLE)
    replay.vault_trade(taker, SIZES[0])
    replay.vault_trade(trader, SIZES[1])
    chain.pending_timestamp += 1_501
    replay.settle(s.vault, keeper)  # the short is paid; the longs still owe
    swept = []
    market = s.clearinghouse.markets(ETH)
    assert market.funding_pool == -replay.settled[replay.vault] < 0
    # Only what no later settlement can claim may go: floor(pool - K / 10**36), where K is
    # sum(size * entry index). With the longs still owing, that is at most the atom of dust
    # the short's settlement already made certain (0 or 1, depending on the block times).
    certain = max(0, (market.funding_pool * 10**36 - market.funding_weight) // 10**36)
    assert certain <= 1
    tx = s.clearinghouse.sweep_to_insurance(sender=keeper)
    swept.append(tx.events.filter(s.clearinghouse.InsuranceSwept)[0].amount)
    assert swept[0] == replay.insurance_due + certain
    assert s.clearinghouse.markets(ETH).funding_pool == market.funding_pool - certain
    replay.insurance_due = 0
    chain.pending_timestamp += 301
    replay.settle(taker, keeper)
    replay.settle(trader, keeper)
    tx = s.clearinghouse.sweep_to_insurance(sender=keeper)
    swept.append(tx.events.filter(s.clearinghouse.InsuranceSwept)[0].amount)
    assert s.clearinghouse.markets(ETH).funding_pool >= 0
    # Everyone closes against the vault, then a last sweep.
    replay.set_oracle(ORACLE)
    replay.vault_trade(taker, -SIZES[0])
    replay.vault_trade(trader, -SIZES[1])
    tx = s.clearinghouse.sweep_to_insurance(sender=keeper)
    swept.append(tx.events.filter(s.clearinghouse.InsuranceSwept)[0].amount)
    funding_dust = certain + sum(swept) - swept[0] - replay.insurance_due
    assert sum(replay.settled.values()) + funding_dust == 0
    assert s.clearinghouse.markets(ETH).funding_pool == 0
    assert_invariants(s)


def _announce_and_wait(replay: Replay, system, owner, chain, params: tuple) -> None:
    system.clearinghouse.announce_market_params(ETH, params, sender=owner)
    chain.pending_timestamp += system.clearinghouse.delay()
    replay.set_oracle(replay.oracle)  # the same price, fresh: the wait made it stale


def test_apply_market_params__accrues_at_the_old_cap_first(skew_book, taker, keeper, owner, chain, block_time):
    s = skew_book
    replay = Replay(s, block_time, (taker,))
    replay.vault_trade(taker, BEYOND)  # at the cap
    _announce_and_wait(replay, s, owner, chain, replace(s.markets[ETH], max_funding_rate=0).params())
    tx = s.clearinghouse.apply_market_params(ETH, sender=owner)
    index = replay.accrue(tx)  # the elapsed time pays at the old cap
    assert index > 0
    assert s.clearinghouse.markets(ETH).funding_index == index
    replay.market.cap = 0
    chain.pending_timestamp += 900
    replay.settle(taker, keeper)  # with cap 0 the index no longer moves
    assert s.clearinghouse.markets(ETH).funding_index == index
    assert replay.settled[taker.address] < 0  # the long paid for the time before the change
    assert_invariants(s)


def test_skew_scale_change__through_announce_apply__takes_effect_only_from_the_apply(
    skew_book, taker, trader, keeper, owner, chain, block_time
):
    s = skew_book
    replay = Replay(s, block_time, (taker, trader))
    replay.set_oracle(ORACLE)
    replay.vault_trade(taker, SIZES[0])  # vault short: unclamped at both scales
    s.clearinghouse.announce_market_params(ETH, replace(s.markets[ETH], skew_scale=NEW_SKEW_SCALE).params(),
                                           sender=owner)
    # Announced: nothing in force changes; a settlement within the delay accrues at the old scale.
    chain.pending_timestamp += 3_001
    replay.set_oracle(PRICES[0])
    replay.settle(taker, keeper)
    assert s.clearinghouse.params(ETH).skew_scale == SKEW_SCALE
    chain.pending_timestamp += s.clearinghouse.delay() - 3_001
    replay.set_oracle(PRICES[1])
    tx = s.clearinghouse.apply_market_params(ETH, sender=owner)
    replay.accrue(tx)  # up to the apply: the old scale
    assert s.clearinghouse.markets(ETH).funding_index == replay.market.index
    old_rate = replay.market.rate()
    replay.market.skew_scale = NEW_SKEW_SCALE
    assert 0 < old_rate < replay.market.rate() < CAP
    chain.pending_timestamp += 1_303
    replay.set_oracle(PRICES[2])
    chain.mine()
    _check_views(replay, s, chain, (taker,))
    replay.settle(taker, keeper)  # from the apply on: the new scale
    replay.settle(s.vault, keeper)
    assert_invariants(s)
