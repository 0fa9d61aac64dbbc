"""The planted bugs of both registries (the fuzzer's and the formal checks') still apply: each
patch matches its contract exactly once. A contract edit that moves a patched line shows here
in a second, not after a compile and a fuzz or halmos run."""

from __future__ import annotations

import pytest

from perpvault.fuzz.mutants import MUTANTS as FUZZ_MUTANTS
from perpvault.mutants import Mutant, contracts_dir, patched_contracts, registry
from perpvault.prove.formal import DEEP_MUTANTS
from perpvault.prove.formal import MUTANTS as FORMAL_MUTANTS

EVERY = {**FUZZ_MUTANTS, **FORMAL_MUTANTS, **DEEP_MUTANTS}


@pytest.mark.parametrize("name", sorted(EVERY))
def test_mutant__patch_applies_exactly_once(name, tmp_path):
    m = EVERY[name]
    dest = patched_contracts(m, tmp_path / "contracts")
    original = (contracts_dir() / m.file).read_text()
    assert (dest / m.file).read_text() == original.replace(m.old, m.new) != original


def test_patched_contracts__patch_that_does_not_match__raises(tmp_path):
    stale = Mutant("stale", "Clearinghouse.vy", "no such line\n", "", "does not apply", ("MODEL",))
    with pytest.raises(ValueError, match="matches 0 times"):
        patched_contracts(stale, tmp_path / "contracts")


def test_registry__same_name_twice__raises():
    m = next(iter(FUZZ_MUTANTS.values()))
    with pytest.raises(ValueError, match="registered twice"):
        registry(m, m)
