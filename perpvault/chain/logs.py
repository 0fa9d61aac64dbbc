"""Decode the event logs of a raw receipt (the waterfall's I3/I6/I7 checks read them).

One table for every event of every deployed contract, keyed by topic0; values are
(event name, {field: value}) with addresses lower-case.

Every event of perpvault has static fields only (address, bool, bytes32, uint256, int256),
so each field is one 32-byte word, in a topic when indexed, else in `data` in order: they
are decoded by hand (eth_abi's decoder costs ~50 us a call, about as much as Anvil spends on a
small transaction). Any other type falls back to eth_abi.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_abi import decode as abi_decode
from eth_hash.auto import keccak

from perpvault.chain.abi import abi_type


def _word_decoder(t: str) -> Callable[[bytes], Any] | None:
    """How to read one ABI word of static type `t`, or None (not a one-word scalar)."""
    if t == "address":
        return lambda w: "0x" + w[12:].hex()
    if t == "bool":
        return lambda w: w[31] == 1
    if t == "bytes32":
        return bytes
    if t.startswith("uint"):
        return lambda w: int.from_bytes(w, "big")
    if t.startswith("int"):
        return lambda w: int.from_bytes(w, "big", signed=True)
    return None


class LogDecoder:
    def __init__(self, artifacts: dict[str, Any]):
        self._events: dict[str, tuple[str, list[tuple[str, str, bool]]]] = {}
        self._fast: dict[str, list[tuple[str, bool, Callable[[bytes], Any]]] | None] = {}
        for art in artifacts.values():
            for e in art.abi:
                if e.get("type") != "event":
                    continue
                inputs = [(i["name"], abi_type(i), bool(i.get("indexed"))) for i in e["inputs"]]
                sig = f"{e['name']}({','.join(t for _, t, _ in inputs)})"
                topic = "0x" + keccak(sig.encode()).hex()
                self._events[topic] = (e["name"], inputs)
                words = [(name, indexed, _word_decoder(t)) for name, t, indexed in inputs]
                self._fast[topic] = words if all(f is not None for _, _, f in words) else None  # type: ignore[misc]

    def decode(self, receipt: dict | None) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = []
        for log in (receipt or {}).get("logs", []):
            topics = log.get("topics") or []
            if not topics:
                continue
            topic0 = topics[0].lower()
            spec = self._events.get(topic0)
            if spec is None:
                continue
            fast = self._fast[topic0]
            if fast is not None:
                data = bytes.fromhex(log["data"][2:])
                fields: dict[str, Any] = {}
                k, j = 1, 0
                for field_name, indexed, word in fast:
                    if indexed:
                        fields[field_name] = word(bytes.fromhex(topics[k][2:]))
                        k += 1
                    else:
                        fields[field_name] = word(data[j : j + 32])
                        j += 32
                out.append((spec[0], fields))
            else:
                out.append((spec[0], self._slow(spec, topics, log["data"])))
        return out

    @staticmethod
    def _slow(
        spec: tuple[str, list[tuple[str, str, bool]]], topics: list[str], data_hex: str
    ) -> dict[str, Any]:
        """eth_abi's decoding, for an event with a field wider than one word."""
        _, inputs = spec
        data = bytes.fromhex(data_hex[2:])
        plain = [t for _, t, idx in inputs if not idx]
        values = list(abi_decode(plain, data)) if plain else []
        fields: dict[str, Any] = {}
        k = 1
        for field_name, t, indexed in inputs:
            if indexed:
                fields[field_name] = abi_decode([t], bytes.fromhex(topics[k][2:]))[0]
                k += 1
            else:
                fields[field_name] = values.pop(0)
            if isinstance(fields[field_name], str):
                fields[field_name] = fields[field_name].lower()
        return fields
