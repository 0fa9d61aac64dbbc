"""Who signs a transaction sent over :class:`perpvault.chain.rpc.Rpc` on a real network.

On the drivers' own Anvil the node signs for its unlocked dev accounts. A keeper on a stock
node (or a testnet) signs itself, with one of:

- :class:`KeySigner`: a private key (read from an environment variable by the CLI, never
  from its command line), signed with eth-account;
- :class:`ApeSigner`: any ape account (``ape accounts import``'s keyfiles, which ask for
  their passphrase, hardware wallets through their plugins, ape's test accounts).

Both take the transaction as the JSON-RPC dict :class:`Rpc` builds (hex strings: ``to``,
``data``, ``gas``, ``value``, ``nonce``, ``chainId``, ``type`` 2 with ``maxFeePerGas`` and
``maxPriorityFeePerGas``) and return the signed, serialized transaction.
"""

from __future__ import annotations

from typing import Any


class SignerDeclined(RuntimeError):
    """The signer did not sign (a declined prompt, a hardware wallet's refusal)."""


_INT_FIELDS = ("gas", "value", "nonce", "chainId", "maxFeePerGas", "maxPriorityFeePerGas", "type")


def _fields(tx: dict[str, Any]) -> dict[str, Any]:
    """The JSON-RPC dict with integers where the signing libraries want them."""
    out: dict[str, Any] = {k: int(tx[k], 16) for k in _INT_FIELDS if k in tx}
    out.setdefault("value", 0)
    out["data"] = tx.get("data", "0x")
    if tx.get("to"):
        out["to"] = tx["to"]
    return out


class KeySigner:
    """Signs with a private key (hex, with or without 0x)."""

    def __init__(self, private_key: str):
        from eth_account import Account

        self._account = Account.from_key(private_key)
        self.address: str = self._account.address

    def sign(self, tx: dict[str, Any]) -> bytes:
        from eth_utils import to_checksum_address

        fields = _fields(tx)
        if "to" in fields:
            fields["to"] = to_checksum_address(fields["to"])
        return bytes(self._account.sign_transaction(fields).raw_transaction)

    def __repr__(self) -> str:
        return f"KeySigner({self.address})"


class ApeSigner:
    """Signs with an ape account (``ape.accounts.load(alias)``, a test account, ...)."""

    def __init__(self, account: Any):
        self.account = account
        self.address: str = str(account.address)

    @classmethod
    def load(cls, alias: str, *, unattended: bool = True) -> ApeSigner:
        """The ape account named `alias` (``ape accounts list``). `unattended` (a bot): a
        keyfile is unlocked once, now (its passphrase from ``APE_ACCOUNTS_<alias>_PASSPHRASE``
        or a prompt), and signs without asking "Sign:" for every transaction."""
        from ape import accounts

        account = accounts.load(alias)
        if unattended and hasattr(account, "set_autosign"):
            account.set_autosign(True)
        return cls(account)

    def sign(self, tx: dict[str, Any]) -> bytes:
        from ape import networks

        fields = _fields(tx)
        fields["sender"] = self.address
        txn = networks.ethereum.create_transaction(**fields)
        try:
            signed = self.account.sign_transaction(txn)
        except Exception as exc:  # click.Abort at a prompt, a hardware wallet's refusal, ...
            raise SignerDeclined(f"ape account {self.address} did not sign: {type(exc).__name__} {exc}") from exc
        if signed is None or not signed.signature:
            raise SignerDeclined(f"ape account {self.address} declined to sign")
        return bytes(signed.serialize_transaction())

    def __repr__(self) -> str:
        return f"ApeSigner({self.address})"


__all__ = ["ApeSigner", "KeySigner", "SignerDeclined"]
