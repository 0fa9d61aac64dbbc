"""Planted bugs: one registry shape for the fuzzer's mutants and the formal checks' mutants.

A mutant is a text patch of one contract, applied to a fresh copy of ``contracts/``. The
patch must match exactly once, so a mutant that no longer applies fails loudly instead of
silently testing the unmodified contracts. Who must catch it is named in ``caught_by``:
invariant ids for the differential fuzzer (``perpvault.fuzz.mutants``), check rows for
halmos and the forge campaign (``perpvault.prove.formal``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from perpvault.paths import repo_root


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str  # under contracts/
    old: str
    new: str
    what: str
    caught_by: tuple[str, ...]  # invariant ids (fuzz: any of them) or check rows (formal: each)


def registry(*mutants: Mutant) -> dict[str, Mutant]:
    """Mutants by name; a name used twice is an error."""
    out: dict[str, Mutant] = {}
    for m in mutants:
        if m.name in out:
            raise ValueError(f"mutant {m.name!r} is registered twice")
        out[m.name] = m
    return out


def contracts_dir() -> Path:
    return repo_root() / "contracts"


def patched_contracts(mutant: Mutant, dest: Path) -> Path:
    """A fresh copy of contracts/ at `dest` with `mutant` applied exactly once; returns `dest`."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(contracts_dir(), dest)
    target = dest / mutant.file
    text = target.read_text()
    count = text.count(mutant.old)
    if count != 1:
        raise ValueError(
            f"mutant {mutant.name}: the patch matches {count} times in {mutant.file} "
            "(must be exactly once)"
        )
    target.write_text(text.replace(mutant.old, mutant.new))
    return dest


__all__ = ["Mutant", "contracts_dir", "patched_contracts", "registry"]
