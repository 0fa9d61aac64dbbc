# pragma version ~=0.4.3
"""
@title OrderBook
@notice Verifies EIP-712 signed orders (account, market, size, limit price,
        nonce, expiry), tracks partial fills per order hash and cancellations
        per nonce, and settles matched fills in the Clearinghouse at the maker's
        limit price. Anyone may submit a matched pair.
@dev An order names a real account (not address(0)) and carries a canonical
     65-byte signature (r, s, v; low s) of it; nothing else passes, and the
     domain binds chain id and this contract.
"""

from snekmate.utils import eip712_domain_separator as eip712

initializes: eip712

from .modules import constants
from .interfaces import IClearinghouse
from .interfaces import IOrderBook

implements: IOrderBook

exports: eip712.eip712Domain


ORDER_TYPEHASH: constant(bytes32) = keccak256(
    "Order(address account,uint256 market,int256 size,uint256 limit_price,uint256 nonce,uint256 expiry)"
)
# secp256k1n / 2: a larger s is the malleable twin of a canonical signature (EIP-2).
MAX_S: constant(uint256) = 57896044618658097711785492504343953926418782139537452191302581570759080747168


clearinghouse: public(immutable(IClearinghouse))
filled: public(HashMap[bytes32, uint256])
cancelled: public(HashMap[address, HashMap[uint256, bool]])


event OrderFilled:
    order_hash: indexed(bytes32)
    account: indexed(address)
    fill_size: uint256
    filled: uint256


event OrderCancelled:
    account: indexed(address)
    nonce: uint256


@deploy
def __init__(clearinghouse_: IClearinghouse):
    """
    @notice Deploys the order book for `clearinghouse_` (which must then bind it).
    @param clearinghouse_ The Clearinghouse that settles fills.
    """
    eip712.__init__("perpvault", "1")
    clearinghouse = clearinghouse_


@external
def match_orders(maker: IOrderBook.Order, maker_signature: Bytes[65], taker: IOrderBook.Order, taker_signature: Bytes[65], fill_size: uint256):
    """
    @notice Fills `fill_size` of two signed orders against each other at the
            maker's limit price.
    @dev The Clearinghouse checks the oracle band, margins and fees.
    @param maker The resting order; its limit is the fill price.
    @param maker_signature The maker's canonical 65-byte signature (r, s, v).
    @param taker The incoming order: same market, opposite side.
    @param taker_signature The taker's 65-byte signature.
    @param fill_size Base size to fill, unsigned, 18 decimals.
    """
    assert fill_size != 0, "ob: zero fill"
    assert fill_size <= constants.MAX_SIZE, "ob: size too large"
    assert maker.account != taker.account, "ob: self-match"
    assert maker.market == taker.market, "ob: market mismatch"
    assert maker.size != 0 and taker.size != 0, "ob: zero order size"
    # abs(min_value(int256)) would revert without a reason.
    assert maker.size != min_value(int256) and taker.size != min_value(int256), "ob: size too large"
    assert (maker.size > 0) != (taker.size > 0), "ob: same side"
    price: uint256 = maker.limit_price
    if taker.size > 0:
        assert price <= taker.limit_price, "ob: taker limit violated"
    else:
        assert price >= taker.limit_price, "ob: taker limit violated"
    self._consume(maker, maker_signature, fill_size)
    self._consume(taker, taker_signature, fill_size)
    taker_size: int256 = convert(fill_size, int256)
    if taker.size < 0:
        taker_size = -taker_size
    extcall clearinghouse.fill(maker.account, taker.account, maker.market, taker_size, price)


@external
def cancel_order(nonce: uint256):
    """
    @notice Cancels every order of the caller signed with `nonce`.
    @param nonce The order nonce.
    """
    assert not self.cancelled[msg.sender][nonce], "ob: already cancelled"
    self.cancelled[msg.sender][nonce] = True
    log OrderCancelled(account=msg.sender, nonce=nonce)


@external
@view
def order_hash(order: IOrderBook.Order) -> bytes32:
    """
    @notice The EIP-712 digest an order's account signs.
    @param order The order.
    @return bytes32 The digest.
    """
    return self._digest(order)


@external
@view
def remaining(order: IOrderBook.Order) -> uint256:
    """
    @notice What is left to fill of `order` (0 once cancelled or expired).
    @param order The order.
    @return uint256 Unsigned base size.
    """
    assert order.size != min_value(int256), "ob: size too large"
    if self.cancelled[order.account][order.nonce] or block.timestamp > order.expiry:
        return 0
    return convert(abs(order.size), uint256) - min(self.filled[self._digest(order)], convert(abs(order.size), uint256))


@internal
@view
def _digest(order: IOrderBook.Order) -> bytes32:
    return eip712._hash_typed_data_v4(
        keccak256(
            abi_encode(
                ORDER_TYPEHASH,
                order.account,
                order.market,
                order.size,
                order.limit_price,
                order.nonce,
                order.expiry,
            )
        )
    )


@internal
def _consume(order: IOrderBook.Order, signature: Bytes[65], fill_size: uint256):
    assert block.timestamp <= order.expiry, "ob: order expired"
    assert not self.cancelled[order.account][order.nonce], "ob: order cancelled"
    # ecrecover answers address(0) for garbage: it must never be an order's account.
    assert order.account != empty(address), "ob: zero account"
    digest: bytes32 = self._digest(order)
    assert len(signature) == 65, "ob: invalid signature"
    s: uint256 = extract32(signature, 32, output_type=uint256)
    v: uint256 = convert(slice(signature, 64, 1), uint256)
    assert s <= MAX_S, "ob: invalid signature"
    assert ecrecover(digest, v, extract32(signature, 0, output_type=uint256), s) == order.account, "ob: invalid signature"
    done: uint256 = self.filled[digest] + fill_size
    assert done <= convert(abs(order.size), uint256), "ob: order overfilled"
    self.filled[digest] = done
    log OrderFilled(order_hash=digest, account=order.account, fill_size=fill_size, filled=done)
