"""Signed orders (EIP-712): fills, partial fills per hash, cancels, expiry, replay, signatures, limits, fees."""

import ape
import pytest
from eth_account.messages import _hash_eip191_message, encode_typed_data

from perpvault.chain.orders import ORDER_TYPES, Order, domain, sign_order
from perpvault.units import price, size
from tests.unit.conftest import TRADER_DEPOSIT
from tests.utils import spec
from tests.utils.checks import assert_invariants

BTC, ETH = 0, 1
MAKER_FEE, TAKER_FEE, FUND_FEE_SHARE = 200, 500, 500_000
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
P = price(60_000)


def order_of(account, market, sz, limit, *, chain, nonce=1, expiry=None):
    return Order(account.address, market, sz, limit, nonce,
                 chain.pending_timestamp + 3600 if expiry is None else expiry)


def sign(system, account, order, *, chain, chain_id=None, verifying=None):
    return sign_order(
        account.private_key,
        order,
        chain_id=chain.chain_id if chain_id is None else chain_id,
        order_book=system.order_book.address if verifying is None else verifying,
    )


def digest(system, order, chain) -> bytes:
    """The EIP-712 digest computed off-chain from the order's fields."""
    msg = {k: getattr(order, k) for k in ("account", "market", "size", "limit_price", "nonce", "expiry")}
    signable = encode_typed_data(
        domain_data=domain(chain.chain_id, system.order_book.address), message_types=ORDER_TYPES, message_data=msg
    )
    return _hash_eip191_message(signable)


def match(system, maker_order, maker_sig, taker_order, taker_sig, fill, sender):
    return system.order_book.match_orders(
        maker_order.as_tuple(), maker_sig, taker_order.as_tuple(), taker_sig, fill, sender=sender
    )


def pair(system, maker, taker, chain, *, maker_size=-size("1"), taker_size=size("1"), maker_limit=P, taker_limit=P,
         market=BTC):
    mo = order_of(maker, market, maker_size, maker_limit, chain=chain, nonce=11)
    to = order_of(taker, market, taker_size, taker_limit, chain=chain, nonce=22)
    return mo, sign(system, maker, mo, chain=chain), to, sign(system, taker, to, chain=chain)


def positions(system, *accounts):
    return [tuple(system.clearinghouse.position(a, BTC)) for a in accounts] + [
        system.clearinghouse.margin(a) for a in accounts
    ]


def test_match__full_fill__moves_opposite_sizes_and_charges_exact_fees(system, funded, maker, taker, keeper, chain):
    q = size("0.000000000000000017") + size("1.3")  # 1.300000000000000017: awkward rounding
    mo, ms, to, ts = pair(system, maker, taker, chain, maker_size=-q, taker_size=q)
    due_before = system.clearinghouse.insurance_due()
    vault_margin_before = system.clearinghouse.margin(system.vault)
    tx = match(system, mo, ms, to, ts, q, keeper)  # anyone may submit the pair
    maker_fee = spec.ceil_div(q * P * MAKER_FEE, 10**36)
    taker_fee = spec.ceil_div(q * P * TAKER_FEE, 10**36)
    pays, gets = spec.ceil_div(q * P, 10**30), q * P // 10**30
    assert pays - gets == 1  # the odd size leaves an atom of dust
    assert system.clearinghouse.position(taker, BTC)[:2] == (q, pays)
    assert system.clearinghouse.position(maker, BTC)[:2] == (-q, -gets)
    assert system.clearinghouse.margin(taker) == TRADER_DEPOSIT - taker_fee
    assert system.clearinghouse.margin(maker) == TRADER_DEPOSIT - maker_fee
    to_fund = (maker_fee + taker_fee) * FUND_FEE_SHARE // 10**6
    assert system.clearinghouse.insurance_due() - due_before == to_fund + pays - gets
    assert system.clearinghouse.margin(system.vault) - vault_margin_before == maker_fee + taker_fee - to_fund
    filled = [e for e in tx.events if e.event_name == "Filled"]
    assert len(filled) == 1
    assert (filled[0].maker, filled[0].taker, filled[0].taker_size, filled[0].price) == (maker.address,
                                                                                         taker.address, q, P)
    assert (filled[0].maker_fee, filled[0].taker_fee) == (maker_fee, taker_fee)
    assert_invariants(system)


def test_match__taker_sells__maker_buys_at_maker_limit(system, funded, maker, taker, chain):
    maker_limit = price(60_013)
    mo, ms, to, ts = pair(system, maker, taker, chain, maker_size=size("2"), taker_size=-size("3"),
                          maker_limit=maker_limit, taker_limit=price(59_000))
    match(system, mo, ms, to, ts, size("2"), taker)
    assert system.clearinghouse.position(maker, BTC)[:2] == (size("2"), spec.notional(size("2"), maker_limit))
    assert system.clearinghouse.position(taker, BTC)[:2] == (-size("2"), -spec.value(size("2"), maker_limit))
    assert system.clearinghouse.margin(taker) == TRADER_DEPOSIT - spec.fee(size("2"), maker_limit, TAKER_FEE)
    assert_invariants(system)


def test_match__partial_fills__tracked_per_order_hash(system, funded, maker, taker, trader, chain):
    mo = order_of(maker, BTC, -size("1"), P, chain=chain, nonce=5)
    ms = sign(system, maker, mo, chain=chain)
    h = digest(system, mo, chain)
    assert bytes(system.order_book.order_hash(mo.as_tuple())) == h
    for i, (who, fill) in enumerate(((taker, size("0.3")), (trader, size("0.45")))):
        to = order_of(who, BTC, fill, P, chain=chain, nonce=100 + i)
        tx = match(system, mo, ms, to, sign(system, who, to, chain=chain), fill, who)
        assert tx.events.filter(system.order_book.OrderFilled)[0].order_hash == h
    assert system.order_book.filled(h) == size("0.75")
    assert system.order_book.remaining(mo.as_tuple()) == size("0.25")
    assert system.clearinghouse.position(maker, BTC)[0] == -size("0.75")
    to = order_of(taker, BTC, size("0.26"), P, chain=chain, nonce=200)
    with ape.reverts("ob: order overfilled"):
        match(system, mo, ms, to, sign(system, taker, to, chain=chain), size("0.26"), taker)
    match(system, mo, ms, to, sign(system, taker, to, chain=chain), size("0.25"), taker)
    assert system.order_book.filled(h) == size("1")
    assert system.order_book.remaining(mo.as_tuple()) == 0
    assert_invariants(system)


def test_match__replayed_filled_pair__reverts(system, funded, maker, taker, chain):
    mo, ms, to, ts = pair(system, maker, taker, chain)
    match(system, mo, ms, to, ts, size("1"), taker)
    before = positions(system, maker, taker)
    with ape.reverts("ob: order overfilled"):
        match(system, mo, ms, to, ts, size("1"), taker)
    assert positions(system, maker, taker) == before
    assert_invariants(system)


def test_match__fill_beyond_taker_order__reverts(system, funded, maker, taker, chain):
    mo, ms, to, ts = pair(system, maker, taker, chain, maker_size=-size("2"), taker_size=size("1"))
    with ape.reverts("ob: order overfilled"):
        match(system, mo, ms, to, ts, size("1") + 1, taker)
    assert_invariants(system)


def test_cancel_order__then_match__reverts(system, funded, maker, taker, chain):
    mo, ms, to, ts = pair(system, maker, taker, chain)
    tx = system.order_book.cancel_order(mo.nonce, sender=maker)
    ev = tx.events.filter(system.order_book.OrderCancelled)
    assert len(ev) == 1 and (ev[0].account, ev[0].nonce) == (maker.address, mo.nonce)
    assert system.order_book.cancelled(maker, mo.nonce)
    assert system.order_book.remaining(mo.as_tuple()) == 0
    with ape.reverts("ob: order cancelled"):
        match(system, mo, ms, to, ts, size("1"), taker)
    assert system.clearinghouse.position(maker, BTC)[0] == 0
    assert_invariants(system)


def test_cancel_order__twice__reverts(system, maker):
    system.order_book.cancel_order(9, sender=maker)
    with ape.reverts("ob: already cancelled"):
        system.order_book.cancel_order(9, sender=maker)
    assert_invariants(system)


def test_cancel_order__by_another_account__does_not_cancel(system, funded, maker, taker, stranger, chain):
    mo, ms, to, ts = pair(system, maker, taker, chain)
    system.order_book.cancel_order(mo.nonce, sender=stranger)  # cancels the stranger's nonce only
    match(system, mo, ms, to, ts, size("1"), taker)
    assert system.clearinghouse.position(maker, BTC)[0] == -size("1")
    assert_invariants(system)


def test_match__expired_order__reverts(system, funded, maker, taker, chain):
    now = chain.pending_timestamp
    mo = order_of(maker, BTC, -size("1"), P, chain=chain, expiry=now - 1)
    to = order_of(taker, BTC, size("1"), P, chain=chain)
    with ape.reverts("ob: order expired"):
        match(system, mo, sign(system, maker, mo, chain=chain), to, sign(system, taker, to, chain=chain), size("1"),
              taker)
    assert system.order_book.remaining(mo.as_tuple()) == 0
    assert_invariants(system)


def test_match__expiry_is_inclusive__passes(system, funded, maker, taker, chain):
    expiry = chain.pending_timestamp + 100
    mo = order_of(maker, BTC, -size("1"), P, chain=chain, expiry=expiry)
    to = order_of(taker, BTC, size("1"), P, chain=chain, expiry=expiry)
    ms, ts = sign(system, maker, mo, chain=chain), sign(system, taker, to, chain=chain)
    chain.pending_timestamp = expiry
    match(system, mo, ms, to, ts, size("1"), taker)
    assert system.clearinghouse.position(taker, BTC)[0] == size("1")
    assert_invariants(system)


def test_match__signed_by_wrong_key__reverts(system, funded, maker, taker, stranger, chain):
    mo, _, to, ts = pair(system, maker, taker, chain)
    with ape.reverts("ob: invalid signature"):
        match(system, mo, sign(system, stranger, mo, chain=chain), to, ts, size("1"), taker)
    assert_invariants(system)


def test_match__high_s_malleable_signature__reverts(system, funded, maker, taker, chain):
    mo, ms, to, ts = pair(system, maker, taker, chain)
    r, s, v = ms[:32], int.from_bytes(ms[32:64], "big"), ms[64]
    twin = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # same signer, s above n/2
    assert s <= SECP256K1_N // 2 < SECP256K1_N - s
    with ape.reverts("ob: invalid signature"):
        match(system, mo, twin, to, ts, size("1"), taker)
    match(system, mo, ms, to, ts, size("1"), taker)  # the canonical one still works
    assert_invariants(system)


def test_match__signature_for_another_chain_id__reverts(system, funded, maker, taker, chain):
    mo, _, to, ts = pair(system, maker, taker, chain)
    with ape.reverts("ob: invalid signature"):
        match(system, mo, sign(system, maker, mo, chain=chain, chain_id=chain.chain_id + 1), to, ts, size("1"), taker)
    assert_invariants(system)


def test_match__signature_for_another_verifying_contract__reverts(system, funded, maker, taker, chain):
    mo, _, to, ts = pair(system, maker, taker, chain)
    other = system.clearinghouse.address
    with ape.reverts("ob: invalid signature"):
        match(system, mo, sign(system, maker, mo, chain=chain, verifying=other), to, ts, size("1"), taker)
    assert_invariants(system)


def test_match__tampered_order_fields__reverts(system, funded, maker, taker, chain):
    mo, ms, to, ts = pair(system, maker, taker, chain)
    worse = Order(mo.account, mo.market, mo.size, price(59_900), mo.nonce, mo.expiry)  # better for the taker
    with ape.reverts("ob: invalid signature"):
        match(system, worse, ms, to, ts, size("1"), taker)
    assert_invariants(system)


def test_match__self_match__reverts(system, funded, maker, chain):
    mo = order_of(maker, BTC, -size("1"), P, chain=chain, nonce=1)
    to = order_of(maker, BTC, size("1"), P, chain=chain, nonce=2)
    with ape.reverts("ob: self-match"):
        match(system, mo, sign(system, maker, mo, chain=chain), to, sign(system, maker, to, chain=chain), size("1"),
              maker)
    assert_invariants(system)


def test_match__same_side__reverts(system, funded, maker, taker, chain):
    mo, ms, to, ts = pair(system, maker, taker, chain, maker_size=size("1"), taker_size=size("1"))
    with ape.reverts("ob: same side"):
        match(system, mo, ms, to, ts, size("1"), taker)
    assert_invariants(system)


def test_match__zero_order_size__reverts(system, funded, maker, taker, chain):
    mo, ms, to, ts = pair(system, maker, taker, chain, maker_size=0)
    with ape.reverts("ob: zero order size"):
        match(system, mo, ms, to, ts, size("1"), taker)


def test_match__zero_fill__reverts(system, funded, maker, taker, chain):
    mo, ms, to, ts = pair(system, maker, taker, chain)
    with ape.reverts("ob: zero fill"):
        match(system, mo, ms, to, ts, 0, taker)


def test_match__market_mismatch__reverts(system, funded, maker, taker, chain):
    mo = order_of(maker, BTC, -size("1"), P, chain=chain)
    to = order_of(taker, ETH, size("1"), P, chain=chain)
    with ape.reverts("ob: market mismatch"):
        match(system, mo, sign(system, maker, mo, chain=chain), to, sign(system, taker, to, chain=chain), size("1"),
              taker)
    assert_invariants(system)


@pytest.mark.parametrize("taker_size", [size("1"), -size("1")])
def test_match__taker_limit_violated__reverts(system, funded, maker, taker, chain, taker_size):
    # A buying taker will not pay above its limit; a selling taker will not sell below it.
    taker_limit = P - 1 if taker_size > 0 else P + 1
    mo, ms, to, ts = pair(system, maker, taker, chain, maker_size=-taker_size, taker_size=taker_size,
                          taker_limit=taker_limit)
    with ape.reverts("ob: taker limit violated"):
        match(system, mo, ms, to, ts, size("1"), taker)
    assert_invariants(system)


@pytest.mark.parametrize("sign_", [1, -1])
def test_match__price_outside_oracle_band__reverts(system, funded, maker, taker, chain, sign_):
    # band 5% of 60,000 = 3,000: exactly at the edge fills, one wei beyond does not.
    edge = P + sign_ * price(3_000)
    beyond = edge + sign_
    mo, ms, to, ts = pair(system, maker, taker, chain, maker_limit=beyond, taker_limit=beyond)
    with ape.reverts("ch: price outside band"):
        match(system, mo, ms, to, ts, size("1"), taker)
    mo, ms, to, ts = pair(system, maker, taker, chain, maker_limit=edge, taker_limit=edge)
    match(system, mo, ms, to, ts, size("1"), taker)
    assert system.clearinghouse.position(taker, BTC)[:2] == (size("1"), spec.notional(size("1"), edge))
    assert_invariants(system)


def test_match__taker_without_margin__reverts(system, funded, maker, stranger, chain):
    mo, ms, to, ts = pair(system, maker, stranger, chain)
    with ape.reverts("ch: insufficient margin"):
        match(system, mo, ms, to, ts, size("1"), stranger)
    assert system.clearinghouse.position(maker, BTC)[0] == 0
    assert_invariants(system)


def test_fill__called_directly_by_stranger__reverts(system, funded, maker, taker, stranger):
    with ape.reverts("ch: only order book or vault"):
        system.clearinghouse.fill(maker, taker, BTC, size("1"), P, sender=stranger)
    assert_invariants(system)


def test_sweep_to_insurance__after_fills__pays_fund_fee_share_and_dust(system, funded, maker, taker, keeper, chain):
    q = size("0.700000000000000033")  # prime
    p = price(60_000) + 29
    mo, ms, to, ts = pair(system, maker, taker, chain, maker_size=-q, taker_size=q, maker_limit=p, taker_limit=p)
    match(system, mo, ms, to, ts, q, taker)
    fees = spec.fee(q, p, MAKER_FEE) + spec.fee(q, p, TAKER_FEE)
    expected = fees * FUND_FEE_SHARE // 10**6 + spec.trade_dust(q, p)
    tx = system.clearinghouse.sweep_to_insurance(sender=keeper)
    assert system.fund.total_in() == expected
    assert system.usdc.balanceOf(system.fund) == expected
    assert system.clearinghouse.insurance_due() == 0
    assert tx.events.filter(system.clearinghouse.InsuranceSwept)[0].amount == expected
    assert_invariants(system)


def test_ape_eip712_message__same_digest_as_the_order_book__and_its_signature_fills(system, funded, maker, taker,
                                                                                   keeper, chain):
    """Orders signed by any ape account (keyfile, hardware wallet) through ape's EIP712Message:
    the message's digest is OrderBook.order_hash, and the signature fills like sign_order's."""
    from eip712.messages import hash_message

    from perpvault.chain.orders import order_message, sign_order_with

    mo = order_of(maker, BTC, -size("0.25"), P, chain=chain, nonce=31)
    to = order_of(taker, BTC, size("0.25"), P, chain=chain, nonce=32)
    book = system.order_book.address
    for order in (mo, to):
        message = order_message(order, chain_id=chain.chain_id, order_book=book)
        assert bytes(hash_message(message)) == bytes(system.order_book.order_hash(order.as_tuple()))
    ms = sign_order_with(maker, mo, chain_id=chain.chain_id, order_book=book)
    ts = sign_order_with(taker, to, chain_id=chain.chain_id, order_book=book)
    assert ms == sign(system, maker, mo, chain=chain)
    match(system, mo, ms, to, ts, size("0.25"), keeper)
    assert system.clearinghouse.position(taker, BTC)[0] == size("0.25")
    with pytest.raises(ValueError, match="cannot be signed by"):
        sign_order_with(taker, mo, chain_id=chain.chain_id, order_book=book)
