"""EIP-712 signed orders for the OrderBook: Order(account, market, size, limit_price, nonce,
expiry)."""

from __future__ import annotations

from dataclasses import astuple, dataclass

from eth_account import Account
from eth_account.messages import encode_typed_data

ORDER_TYPES = {
    "Order": [
        {"name": "account", "type": "address"},
        {"name": "market", "type": "uint256"},
        {"name": "size", "type": "int256"},
        {"name": "limit_price", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "expiry", "type": "uint256"},
    ]
}


@dataclass(frozen=True)
class Order:
    account: str
    market: int
    size: int  # signed, 18 decimals: > 0 buys
    limit_price: int
    nonce: int
    expiry: int

    def as_tuple(self) -> tuple:
        return astuple(self)


def domain(chain_id: int, order_book: str) -> dict:
    return {
        "name": "perpvault",
        "version": "1",
        "chainId": chain_id,
        "verifyingContract": order_book,
    }


def sign_order(private_key: str | bytes, order: Order, *, chain_id: int, order_book: str) -> bytes:
    """Sign `order` for `order_book` on `chain_id`; returns the 65-byte r || s || v signature."""
    message = {
        "account": order.account,
        "market": order.market,
        "size": order.size,
        "limit_price": order.limit_price,
        "nonce": order.nonce,
        "expiry": order.expiry,
    }
    signable = encode_typed_data(
        domain_data=domain(chain_id, order_book), message_types=ORDER_TYPES, message_data=message
    )
    signed = Account.sign_message(signable, private_key)
    return signed.signature
