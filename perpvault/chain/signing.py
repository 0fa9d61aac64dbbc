"""EIP-712 order signing for the fuzz driver: the same bytes as perpvault.chain.orders.sign_order.

``eth_account.encode_typed_data`` re-parses the type definitions on every call (about a
millisecond); here the domain separator and type hash are computed once per order book
and each signature is two keccaks and one libsecp256k1 call (coincurve). libsecp256k1
signs deterministically (RFC 6979) with low s, so the result equals eth_account's.
"""

from __future__ import annotations

from dataclasses import dataclass

from coincurve import PrivateKey
from eth_hash.auto import keccak

from perpvault.chain.orders import Order

DOMAIN_TYPEHASH = keccak(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
ORDER_TYPEHASH = keccak(
    b"Order(address account,uint256 market,int256 size,uint256 limit_price,uint256 nonce,"
    b"uint256 expiry)"
)


def _u(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _i(value: int) -> bytes:
    return value.to_bytes(32, "big", signed=True)


def _addr(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])


def domain_separator(
    chain_id: int, order_book: str, name: str = "perpvault", version: str = "1"
) -> bytes:
    return keccak(
        DOMAIN_TYPEHASH
        + keccak(name.encode())
        + keccak(version.encode())
        + _u(chain_id)
        + _addr(order_book)
    )


@dataclass
class OrderSigner:
    """Signs orders for one order book on one chain; keys are cached per account."""

    chain_id: int
    order_book: str

    def __post_init__(self) -> None:
        self._prefix = b"\x19\x01" + domain_separator(self.chain_id, self.order_book)
        self._keys: dict[str, PrivateKey] = {}

    def add_key(self, address: str, private_key: str | bytes) -> None:
        raw = (
            bytes.fromhex(private_key[2:] if private_key.startswith("0x") else private_key)
            if isinstance(private_key, str)
            else private_key
        )
        self._keys[address.lower()] = PrivateKey(raw)

    def digest(self, order: Order) -> bytes:
        struct_hash = keccak(
            ORDER_TYPEHASH
            + _addr(order.account)
            + _u(order.market)
            + _i(order.size)
            + _u(order.limit_price)
            + _u(order.nonce)
            + _u(order.expiry)
        )
        return keccak(self._prefix + struct_hash)

    def sign(self, order: Order) -> bytes:
        """The 65-byte r || s || v signature (v in {27, 28}) the OrderBook expects."""
        sig = self._keys[order.account.lower()].sign_recoverable(self.digest(order), hasher=None)
        return sig[:64] + bytes([sig[64] + 27])
