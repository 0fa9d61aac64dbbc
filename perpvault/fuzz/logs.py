"""Decode the event logs of a raw receipt (the waterfall's I3/I6/I7 checks read them).

One table for every event of every deployed contract, keyed by topic0; values are
(event name, {field: value}) with addresses lower-case.
"""

from __future__ import annotations

from typing import Any

from eth_abi import decode as abi_decode
from eth_hash.auto import keccak

from perpvault.fuzz.abi import abi_type


class LogDecoder:
    def __init__(self, artifacts: dict[str, Any]):
        self._events: dict[bytes, tuple[str, list[tuple[str, str, bool]]]] = {}
        for art in artifacts.values():
            for e in art.abi:
                if e.get("type") != "event":
                    continue
                inputs = [(i["name"], abi_type(i), bool(i.get("indexed"))) for i in e["inputs"]]
                sig = f"{e['name']}({','.join(t for _, t, _ in inputs)})"
                self._events[keccak(sig.encode())] = (e["name"], inputs)

    def decode(self, receipt: dict | None) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = []
        for log in (receipt or {}).get("logs", []):
            topics = log.get("topics") or []
            if not topics:
                continue
            spec = self._events.get(bytes.fromhex(topics[0][2:]))
            if spec is None:
                continue
            name, inputs = spec
            data = bytes.fromhex(log["data"][2:])
            plain = [t for _, t, idx in inputs if not idx]
            values = list(abi_decode(plain, data)) if plain else []
            fields: dict[str, Any] = {}
            k = 1
            for field_name, t, indexed in inputs:
                if indexed:
                    word = bytes.fromhex(topics[k][2:])
                    k += 1
                    fields[field_name] = abi_decode([t], word)[0]
                else:
                    fields[field_name] = values.pop(0)
                if isinstance(fields[field_name], str):
                    fields[field_name] = fields[field_name].lower()
            out.append((name, fields))
        return out
