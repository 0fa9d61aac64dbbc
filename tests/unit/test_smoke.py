import time

from perpvault.chain.orders import Order, sign_order
from perpvault.units import price, size, usdc


def test_fill_between_two_signed_orders__moves_opposite_sizes(system, maker, taker, owner, chain):
    ch, ob, usdc_token = system.clearinghouse, system.order_book, system.usdc
    for acct in (maker, taker):
        usdc_token.mint(acct, usdc(10_000), sender=owner)
        usdc_token.approve(ch, 2**256 - 1, sender=acct)
        ch.deposit(usdc(10_000), sender=acct)
    expiry = chain.pending_timestamp + 3600
    mo = Order(maker.address, 0, -size("0.1"), price(60_000), 1, expiry)
    to = Order(taker.address, 0, size("0.1"), price(60_100), 1, expiry)
    ms = sign_order(maker.private_key, mo, chain_id=chain.chain_id, order_book=ob.address)
    ts = sign_order(taker.private_key, to, chain_id=chain.chain_id, order_book=ob.address)
    t0 = time.time()
    tx = ob.match_orders(mo.as_tuple(), ms, to.as_tuple(), ts, size("0.1"), sender=taker)
    print("fill gas", tx.gas_used, time.time() - t0)
    assert ch.position(taker, 0)[0] == size("0.1")
    assert ch.position(maker, 0)[0] == -size("0.1")
