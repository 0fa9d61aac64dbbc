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


# --- signing with any ape account (keyfile, hardware wallet, test account) -----------------


def order_message(order: Order, *, chain_id: int, order_book: str):
    """`order` as ape's EIP-712 message (:class:`eip712.messages.EIP712Message`): what
    ``account.sign_message`` signs; its digest is ``OrderBook.order_hash(order)``."""
    return _order_message_type()(
        account=order.account, market=order.market, size=order.size, limit_price=order.limit_price,
        nonce=order.nonce, expiry=order.expiry,
        eip712_name="perpvault", eip712_version="1", eip712_chainId=chain_id, eip712_verifyingContract=order_book,
    )


def sign_order_with(account, order: Order, *, chain_id: int, order_book: str) -> bytes:
    """Sign `order` with an ape account (``accounts.load(alias)``: a keyfile asks for its
    passphrase; a hardware wallet shows the typed fields); the 65-byte r || s || v signature,
    the same bytes :func:`sign_order` makes from the account's key."""
    if order.account.lower() != str(account.address).lower():
        raise ValueError(f"order of {order.account} cannot be signed by {account.address}")
    signature = account.sign_message(order_message(order, chain_id=chain_id, order_book=order_book))
    if signature is None:
        from perpvault.chain.signers import SignerDeclined

        raise SignerDeclined(f"ape account {account.address} declined to sign the order")
    return bytes(signature.encode_rsv())


_MESSAGE_TYPE = None


def _order_message_type():
    """The EIP712Message class, built on first use (eip712 and pydantic load in ~0.3 s). Its
    name is the struct's, "Order": EIP-712's primary type is the class's name."""
    global _MESSAGE_TYPE
    if _MESSAGE_TYPE is None:
        from eip712.messages import EIP712Message
        from eth_pydantic_types import abi

        _MESSAGE_TYPE = type("Order", (EIP712Message,), {"__annotations__": {
            "account": abi.address, "market": abi.uint256, "size": abi.int256,
            "limit_price": abi.uint256, "nonce": abi.uint256, "expiry": abi.uint256,
        }, "__module__": __name__, "__qualname__": "Order"})
    return _MESSAGE_TYPE
