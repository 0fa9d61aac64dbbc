"""Funding (SPEC section 5): an index accrued per second from the EMA premium of fills over the
oracle, clamped; settled lazily on touch; zero-sum to the atom with the dust swept to the fund.

The expected index and every settlement are computed by `tests.utils.spec.FundingMarket`, a
transcription of the spec's formulas, replayed at the timestamps of the blocks the transactions
were mined in.
"""

import copy
from dataclasses import replace

import pytest

from perpvault.units import price, size
from tests.utils import spec
from tests.utils.checks import assert_invariants
from tests.utils.trading import set_price, trade

ETH = 1
MAKER_FEE, TAKER_FEE, FUND_FEE_SHARE = 200, 500, 500_000
CAP = 10**18 // 3600 // 1000  # the default max funding rate, WAD per second
EMA_WEIGHT = 200_000

# Awkward numbers: each is prime (checked below).
ORACLE = 2999000000000000000029
PRICES = (3011000000000000000051, 3023000000000000000083, 3041000000000000000033)
SIZES = (1700000000000000081, 2300000000000000027, 700000000000000033)


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


class Replay:
    """Replays the market's funding in the spec model and predicts every FundingSettled event."""

    def __init__(self, system, block_time):
        self.system, self.block_time = system, block_time
        ch = system.clearinghouse
        state = ch.markets(ETH)
        assert state.funding_index == 0 and state.mark_ema == system.markets[ETH].initial_price
        self.market = spec.FundingMarket(0, state.last_funding_time, state.mark_ema, EMA_WEIGHT, CAP)
        self.pos: dict[str, list[int]] = {}  # account -> [size, index at last settlement]
        self.settled: dict[str, int] = {}
        self.insurance_due = 0
        self.oracle = system.markets[ETH].initial_price

    def _settle(self, account: str, index: int, expected: list) -> None:
        size_, fi = self.pos.setdefault(account, [0, 0])
        if fi != index:
            if size_ != 0:
                credit = spec.funding_credit(size_, index - fi)
                self.settled[account] = self.settled.get(account, 0) + credit
                expected.append((account, credit))
            self.pos[account][1] = index

    def _check_events(self, tx, expected) -> None:
        got = [(e.account, e.amount) for e in tx.events.filter(self.system.clearinghouse.FundingSettled)]
        assert sorted(got) == sorted(expected)

    def set_oracle(self, new_price: int) -> None:
        set_price(self.system, ETH, new_price)
        self.oracle = new_price

    def fill(self, maker, taker, taker_size: int, fill_price: int, *, chain) -> None:
        tx = trade(self.system, maker, taker, ETH, taker_size, fill_price, chain=chain)
        index = self.market.accrue(self.block_time(tx), self.oracle)
        expected: list = []
        buyer, seller = (taker, maker) if taker_size > 0 else (maker, taker)
        self._settle(buyer.address, index, expected)
        self._settle(seller.address, index, expected)
        self._check_events(tx, expected)
        q = abs(taker_size)
        self.pos[buyer.address][0] += q
        self.pos[seller.address][0] -= q
        fees = spec.fee(q, fill_price, MAKER_FEE) + spec.fee(q, fill_price, TAKER_FEE)
        self.insurance_due += fees * FUND_FEE_SHARE // 10**6 + spec.trade_dust(q, fill_price)
        self.market.fill(fill_price)
        assert self.system.clearinghouse.markets(ETH).mark_ema == self.market.ema

    def settle(self, account, sender) -> int:
        margin_before = self.system.clearinghouse.margin(account)
        tx = self.system.clearinghouse.settle_funding(account, sender=sender)
        index = self.market.accrue(self.block_time(tx), self.oracle)
        expected: list = []
        self._settle(account.address, index, expected)
        self._check_events(tx, expected)
        assert self.system.clearinghouse.markets(ETH).funding_index == index
        credit = sum(c for _, c in expected)
        assert self.system.clearinghouse.margin(account) - margin_before == credit
        return credit


def test_awkward_numbers__are_prime():
    assert all(is_prime(n) for n in (ORACLE, *PRICES, *SIZES))


def test_funding__positive_premium__longs_pay_shorts_lazily(system, funded, maker, taker, keeper, chain, block_time):
    replay = Replay(system, block_time)
    replay.set_oracle(ORACLE)
    replay.fill(maker, taker, SIZES[0], PRICES[2], chain=chain)  # fill above the oracle: premium > 0
    assert replay.market.ema > ORACLE
    margins = {a.address: system.clearinghouse.margin(a) for a in (maker, taker)}
    chain.pending_timestamp += 1_000
    chain.mine()
    # Lazy: nothing settles until the account is touched ...
    assert {a.address: system.clearinghouse.margin(a) for a in (maker, taker)} == margins
    # ... but the equity view already counts what a settlement now would pay.
    pending = copy.copy(replay.market)
    index = pending.accrue(chain.blocks.head.timestamp, ORACLE)
    q = SIZES[0]
    upnl = spec.value(q, ORACLE) - spec.notional(q, PRICES[2])
    owed = spec.funding_credit(q, index - replay.pos[taker.address][1])
    assert owed < 0
    expected = margins[taker.address] + upnl + owed
    assert system.clearinghouse.equity(taker) == expected
    assert system.clearinghouse.funding_index(ETH) == index
    long_credit = replay.settle(taker, keeper)
    settled_at = replay.market.index
    chain.pending_timestamp = replay.market.last  # the short settles in the same second: one index step for both
    short_credit = replay.settle(maker, keeper)
    assert replay.market.index == settled_at
    # ... and then the long pays, the short receives; the payer's rounding is never in its favour.
    assert long_credit < 0 < short_credit
    assert short_credit <= -long_credit
    # Unclamped: the rate is the EMA premium over the oracle spread over the funding period.
    premium = (replay.market.ema - ORACLE) * 10**18 // ORACLE
    assert 0 < premium // 28_800 < CAP
    assert_invariants(system)


def test_funding__negative_premium__shorts_pay_longs(system, funded, maker, taker, keeper, chain, block_time):
    replay = Replay(system, block_time)
    replay.set_oracle(ORACLE)
    replay.fill(maker, taker, -SIZES[1], ORACLE - price(3), chain=chain)  # below the oracle
    replay.fill(maker, taker, -SIZES[2], ORACLE - price(5), chain=chain)
    chain.pending_timestamp += 777
    short_credit = replay.settle(taker, keeper)
    long_credit = replay.settle(maker, keeper)
    assert short_credit < 0 < long_credit
    assert_invariants(system)


@pytest.mark.parametrize("direction", [1, -1])
def test_funding__premium_beyond_cap__is_clamped(system, funded, maker, taker, keeper, chain, block_time, direction):
    replay = Replay(system, block_time)
    fill_price = system.markets[ETH].initial_price * (1_000_000 + direction * 49_000) // 1_000_000  # 4.9% off
    replay.fill(maker, taker, size("1"), fill_price, chain=chain)
    premium = (replay.market.ema - replay.oracle) * 10**18 // replay.oracle
    assert abs(premium) // 28_800 > CAP  # the premium alone would pay more than the cap
    index_before = replay.market.index
    t_before = replay.market.last
    chain.pending_timestamp += 2_000
    replay.settle(taker, keeper)
    dt = replay.market.last - t_before
    # Clamped: exactly cap * dt * price / 1e12 moved (floored), in the premium's direction.
    expected = (direction * CAP * dt * replay.oracle) // 10**12
    assert system.clearinghouse.markets(ETH).funding_index - index_before == expected
    assert_invariants(system)


def test_funding__fills_at_oracle__no_premium_no_funding(system, funded, maker, taker, keeper, chain, block_time):
    replay = Replay(system, block_time)
    replay.fill(maker, taker, size("1"), replay.oracle, chain=chain)  # at the oracle: EMA stays on it
    chain.pending_timestamp += 3_000
    assert replay.settle(taker, keeper) == 0
    assert system.clearinghouse.markets(ETH).funding_index == 0
    assert_invariants(system)


def test_funding__three_accounts_awkward_numbers__zero_sum_to_the_atom(
    system, funded, maker, taker, trader, keeper, chain, block_time
):
    replay = Replay(system, block_time)
    replay.set_oracle(ORACLE)
    q1, q2, q3 = SIZES
    replay.fill(maker, taker, q1, PRICES[0], chain=chain)  # taker long q1, maker short
    chain.pending_timestamp += 613
    replay.fill(maker, trader, q2, PRICES[1], chain=chain)  # trader long q2, maker shorter
    chain.pending_timestamp += 401
    replay.fill(trader, taker, q3, PRICES[2], chain=chain)  # taker buys q3 from trader
    chain.pending_timestamp += 1_019
    for account in (maker, taker, trader):
        replay.settle(account, keeper)
        chain.pending_timestamp += 7
    chain.pending_timestamp += 997
    replay.set_oracle(ORACLE)  # keep the oracle fresh; same price
    # Everyone closes: taker sells all to maker, then trader and maker square up.
    replay.fill(maker, taker, -(q1 + q3), ORACLE, chain=chain)
    chain.pending_timestamp += 211
    replay.fill(maker, trader, -(q2 - q3), ORACLE + 13, chain=chain)
    assert all(size_ == 0 for size_, _ in replay.pos.values())
    for account in (maker, taker, trader):
        assert system.clearinghouse.position(account, ETH)[0] == 0

    assert system.clearinghouse.insurance_due() == replay.insurance_due
    tx = system.clearinghouse.sweep_to_insurance(sender=keeper)
    swept = tx.events.filter(system.clearinghouse.InsuranceSwept)[0].amount
    funding_dust = swept - replay.insurance_due
    total_settled = sum(replay.settled.values())
    # Zero-sum to the atom: what was settled plus the dust the fund got is exactly zero.
    assert total_settled + funding_dust == 0
    assert 0 <= funding_dust <= 16  # at most one atom per settlement
    assert total_settled != 0 and len(replay.settled) == 3
    assert system.clearinghouse.markets(ETH).funding_pool == 0
    assert system.fund.total_in() == swept
    assert_invariants(system)


def test_sweep_to_insurance__mid_way__never_takes_what_settlements_claim(
    system, funded, maker, taker, trader, keeper, chain, block_time
):
    replay = Replay(system, block_time)
    replay.set_oracle(ORACLE)
    replay.fill(maker, taker, SIZES[0], PRICES[0], chain=chain)
    replay.fill(maker, trader, SIZES[1], PRICES[2], chain=chain)
    chain.pending_timestamp += 1_500
    replay.settle(maker, keeper)  # the short is paid; the longs still owe
    swept = []
    market = system.clearinghouse.markets(ETH)
    assert market.funding_pool == -replay.settled[maker.address] < 0
    # Only what no later settlement can claim may go: floor(pool - K / 10**36), where K is
    # sum(size * entry index). With the longs still owing, that is at most the atom of dust
    # the short's settlement already made certain (0 or 1, depending on the block times).
    certain = max(0, (market.funding_pool * 10**36 - market.funding_weight) // 10**36)
    assert certain <= 1
    tx = system.clearinghouse.sweep_to_insurance(sender=keeper)
    swept.append(tx.events.filter(system.clearinghouse.InsuranceSwept)[0].amount)
    assert swept[0] == replay.insurance_due + certain
    assert system.clearinghouse.markets(ETH).funding_pool == market.funding_pool - certain
    replay.insurance_due = 0
    chain.pending_timestamp += 301
    replay.settle(taker, keeper)
    replay.settle(trader, keeper)
    tx = system.clearinghouse.sweep_to_insurance(sender=keeper)
    swept.append(tx.events.filter(system.clearinghouse.InsuranceSwept)[0].amount)
    assert system.clearinghouse.markets(ETH).funding_pool >= 0
    # Everyone closes at the oracle, then a last sweep.
    replay.set_oracle(ORACLE)
    replay.fill(maker, taker, -SIZES[0], ORACLE, chain=chain)
    replay.fill(maker, trader, -SIZES[1], ORACLE, chain=chain)
    tx = system.clearinghouse.sweep_to_insurance(sender=keeper)
    swept.append(tx.events.filter(system.clearinghouse.InsuranceSwept)[0].amount)
    funding_dust = certain + sum(swept) - swept[0] - replay.insurance_due
    assert sum(replay.settled.values()) + funding_dust == 0
    assert system.clearinghouse.markets(ETH).funding_pool == 0
    assert_invariants(system)


def test_set_market_params__accrues_at_old_cap_first(system, funded, maker, taker, keeper, owner, chain, block_time):
    replay = Replay(system, block_time)
    fill_price = system.markets[ETH].initial_price * 1_049_000 // 1_000_000  # clamped premium
    replay.fill(maker, taker, size("2"), fill_price, chain=chain)
    chain.pending_timestamp += 1_200
    capped = replace(system.markets[ETH], max_funding_rate=0, ema_weight=EMA_WEIGHT).params()
    tx = system.clearinghouse.set_market_params(ETH, capped, sender=owner)
    index = replay.market.accrue(block_time(tx), replay.oracle)  # the elapsed time pays at the old cap
    assert index > 0
    assert system.clearinghouse.markets(ETH).funding_index == index
    replay.market.cap = 0
    chain.pending_timestamp += 900
    replay.settle(taker, keeper)  # with cap 0 the index no longer moves
    assert system.clearinghouse.markets(ETH).funding_index == index
    assert replay.settled[taker.address] < 0  # the long paid for the time before the change
    assert_invariants(system)
