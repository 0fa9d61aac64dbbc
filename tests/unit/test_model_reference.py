"""The reference model on its own (no chain): transactions are atomic, and the books stay exact.

Fast, pure-Python checks of `perpvault.model`: a revert restores every contract's state, and
random sequences of deposits, fills, vault trades, price moves, funding and liquidations keep
I1 (zero-sum sizes), I2 (conservation, to the atom) and I5 (fund accounting).
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpvault.chain.deploy import DEFAULT_MARKETS, DEFAULT_RISK
from perpvault.model import Exchange, MarketParams, Revert, RiskParams
from perpvault.units import size, usdc

OWNER = "0x" + "0a" * 20
UPDATER = "0x" + "0b" * 20
KEEPER = "0x" + "0c" * 20
LP = "0x" + "0d" * 20
TRADERS = ["0x" + f"{i:02x}" * 20 for i in (0x11, 0x22, 0x33, 0x44)]


def fresh() -> Exchange:
    ex = Exchange(
        OWNER,
        UPDATER,
        markets=[(MarketParams.of(m.params()), m.initial_price) for m in DEFAULT_MARKETS],
        risk=RiskParams.of(DEFAULT_RISK),
    )
    for account in [KEEPER, LP, *TRADERS]:
        ex.mint(account, usdc(10_000_000))
        for spender in (ex.ch.address, ex.w.vault.address, ex.w.fund.address):
            ex.approve(account, spender)
    ex.vault_deposit(LP, usdc(1_000_000))
    return ex


def test_revert__restores_every_contract():
    ex = fresh()
    ex.deposit(TRADERS[0], usdc(1_000))
    before = copy.deepcopy(ex.w)
    with pytest.raises(Revert, match="ch: insufficient margin"):
        ex.withdraw(TRADERS[0], usdc(1_001))
    assert ex.w.ch.accounts == before.ch.accounts
    assert ex.w.token.balances == before.token.balances
    assert ex.last_events == []


def test_fill__dust_and_fees_keep_books_exact():
    ex = fresh()
    ex.deposit(TRADERS[0], usdc(100_000))
    ex.deposit(TRADERS[1], usdc(100_000))
    ex.fill(TRADERS[0], TRADERS[1], 0, 123456789012345677, 60_013 * 10**18 + 7)
    assert ex.position(TRADERS[1], 0)[0] == 123456789012345677
    assert ex.sum_sizes(0) == 0 and ex.conservation_gap() == 0
    # buyer pays the ceiling, seller gets the floor: one atom of dust to the fund
    pays = -(-123456789012345677 * (60_013 * 10**18 + 7) // 10**30)
    gets = 123456789012345677 * (60_013 * 10**18 + 7) // 10**30
    assert pays - gets == 1


ops = st.one_of(
    st.tuples(st.just("deposit"), st.sampled_from(TRADERS), st.integers(1, usdc(200_000))),
    st.tuples(st.just("withdraw"), st.sampled_from(TRADERS), st.integers(1, usdc(50_000))),
    st.tuples(
        st.just("fill"),
        st.sampled_from(TRADERS),
        st.sampled_from(TRADERS),
        st.integers(0, 1),
        st.integers(-size(3), size(3)),
        st.integers(-40_000, 40_000),  # ppm off the oracle
    ),
    st.tuples(
        st.just("vault"),
        st.sampled_from(TRADERS),
        st.integers(0, 1),
        st.integers(-size(2), size(2)),
    ),
    st.tuples(st.just("price"), st.integers(0, 1), st.integers(-250_000, 250_000)),
    st.tuples(st.just("time"), st.integers(1, 1_800)),
    st.tuples(st.just("liquidate"), st.sampled_from(TRADERS)),
    st.tuples(st.just("sweep")),
    st.tuples(st.just("settle"), st.sampled_from(TRADERS)),
)


def apply(ex: Exchange, op: tuple) -> None:
    kind = op[0]
    if kind == "deposit":
        ex.deposit(op[1], op[2])
    elif kind == "withdraw":
        ex.withdraw(op[1], op[2])
    elif kind == "fill":
        _, maker, taker, market, taker_size, off = op
        mark = ex.w.feed.rounds[market].price
        ex.fill(maker, taker, market, taker_size, mark + mark * off // 10**6)
    elif kind == "vault":
        ex.vault_trade(op[1], op[2], op[3], 2**256 - 1 if op[3] > 0 else 0)
    elif kind == "price":
        mark = ex.w.feed.rounds[op[1]].price
        ex.set_price(UPDATER, op[1], max(mark + mark * op[2] // 10**6, 1))
    elif kind == "time":
        ex.advance(op[1])
        for market in (0, 1):  # keep the oracle fresh
            ex.set_price(UPDATER, market, ex.w.feed.rounds[market].price)
    elif kind == "liquidate":
        shorts_first = sorted(TRADERS, key=lambda a: int(a, 16))
        ex.liquidate(KEEPER, op[1], shorts_first)
    elif kind == "sweep":
        ex.sweep_to_insurance(KEEPER)
    elif kind == "settle":
        ex.settle_funding(KEEPER, op[1])


@settings(max_examples=60, deadline=None)
@given(st.lists(ops, min_size=5, max_size=40))
def test_model__random_sequences__keep_books_exact(sequence):
    ex = fresh()
    for op in sequence:
        try:
            apply(ex, op)
        except Revert:
            pass
        assert ex.conservation_gap() == 0, op
        assert ex.fund_gap() == 0, op
        for market in (0, 1):
            assert ex.sum_sizes(market) == 0, op
