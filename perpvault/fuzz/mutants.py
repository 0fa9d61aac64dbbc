"""Deliberately broken variants of the contracts: proof that the fuzzer can fail.

Each mutant is a text patch of one contract in a temporary copy of contracts/ (the raw
driver compiles any contracts directory, see :func:`perpvault.chain.abi.load_artifacts`).
The patch must match exactly once, so a mutant that no longer applies fails loudly
instead of silently testing the unmodified contracts.

``perpvault fuzz --mutant NAME`` runs a campaign on one; ``tests/fuzz/test_mutants.py``
asserts each is caught with a fixed seed.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perpvault.paths import repo_root


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str  # under contracts/
    old: str
    new: str
    what: str
    expect: tuple[str, ...]  # invariant ids that should catch it (any of them)


MUTANTS: dict[str, Mutant] = {
    m.name: m
    for m in (
        Mutant(
            "adl_overshoot",
            "Clearinghouse.vy",
            "        cp_haircut: int256 = haircut_left\n",
            "        cp_haircut: int256 = haircut_left + 1\n",
            "ADL takes more than the shortfall: one atom more from the last counterparty of each close",
            ("I6",),
        ),
        Mutant(
            "rounding_favours_account",
            "Clearinghouse.vy",
            "    pays: uint256 = perp_math._notional(size, price)\n",
            "    pays: uint256 = convert(perp_math._value(size, price), uint256)\n",
            "a rounding direction flipped: the buyer pays the trade's value rounded down, not up",
            ("MODEL",),
        ),
        Mutant(
            "adl_same_side",
            "Clearinghouse.vy",
            '        assert (cq > 0) == (close > 0), "ch: adl counterparty same side"\n',
            "",
            "ADL accepts a counterparty on the bankrupt's own side",
            ("MODEL", "I7"),
        ),
        Mutant(
            "liquidation_skips_fund",
            "Clearinghouse.vy",
            "        covered: uint256 = extcall insurance_fund.cover(need)\n",
            "        covered: uint256 = 0\n",
            "liquidation skips the insurance fund: bad debt goes straight to ADL",
            ("I6",),
        ),
        Mutant(
            "withdraw_skips_funding",
            "Clearinghouse.vy",
            "    self._check_amount(amount)\n    self._settle_all(msg.sender, MAX_MARKETS)\n"
            "    self.margin[msg.sender] -= convert(amount, int256)\n",
            "    self._check_amount(amount)\n"
            "    self.margin[msg.sender] -= convert(amount, int256)\n",
            "funding not settled on withdraw",
            ("MODEL",),
        ),
    )
}


def contracts_dir() -> Path:
    return repo_root() / "contracts"


def patched_contracts(patch: Any, dest: Path, label: str) -> Path:
    """A fresh copy of contracts/ at `dest` with `patch` (anything with ``file``, ``old`` and
    ``new``: a :class:`Mutant` here, or ``perpvault.prove.formal``'s bytecode mutants)
    applied exactly once; returns `dest`."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(contracts_dir(), dest)
    target = dest / patch.file
    text = target.read_text()
    count = text.count(patch.old)
    if count != 1:
        raise ValueError(f"mutant {label}: the patch matches {count} times in {patch.file} (must be exactly once)")
    target.write_text(text.replace(patch.old, patch.new))
    return dest


def make_mutant(name: str, into: Path | None = None) -> Path:
    """A copy of contracts/ with mutant `name` applied; returns the new contracts directory.

    By default under ``.build/fuzz/mutants/NAME`` (a stable path, so compiles are cached).
    """
    dest = (into or repo_root() / ".build" / "fuzz" / "mutants" / name) / "contracts"
    return patched_contracts(MUTANTS[name], dest, name)


def mutant_artifacts(name: str) -> dict:
    """The compiled system with mutant `name`: only the patched contract is recompiled."""
    from perpvault.chain.abi import CONTRACT_FILES, load_artifacts

    m = MUTANTS[name]
    base = load_artifacts()
    mutated = next(n for n, f in CONTRACT_FILES.items() if f == m.file)
    base[mutated] = load_artifacts(make_mutant(name), names=(mutated,))[mutated]
    return base


__all__ = ["MUTANTS", "Mutant", "make_mutant", "mutant_artifacts", "patched_contracts"]
