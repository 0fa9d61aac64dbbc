"""The fuzzer's mutants: deliberately broken contracts it must catch (proof that it can fail).

Each is a :class:`perpvault.mutants.Mutant` whose ``caught_by`` names the invariant ids that
should catch it (any of them). The raw driver compiles any contracts directory (see
:func:`perpvault.chain.abi.load_artifacts`), so only the patched contract is recompiled.

``perpvault fuzz --mutant NAME`` runs a campaign on one; ``tests/fuzz/test_mutants.py``
asserts each is caught with a fixed seed.
"""

from __future__ import annotations

from pathlib import Path

from perpvault.chain.abi import CONTRACT_FILES, Artifact, load_artifacts
from perpvault.mutants import Mutant, patched_contracts, registry
from perpvault.paths import repo_root

MUTANTS: dict[str, Mutant] = registry(
    Mutant(
        "adl_overshoot",
        "modules/adl.vy",
        "        return mark_left, haircut_left, perp_math._fee(take, price, maker_fee)\n",
        "        return mark_left, haircut_left + 1, perp_math._fee(take, price, maker_fee)\n",
        "ADL takes more than the shortfall: one atom more from the last counterparty of each close",
        ("I6",),
    ),
    Mutant(
        "rounding_favours_account",
        "modules/trading.vy",
        "    pays: uint256 = perp_math._notional(size, price)\n",
        "    pays: uint256 = convert(perp_math._value(size, price), uint256)\n",
        "a rounding direction flipped: the buyer pays the trade's value rounded down, not up",
        ("MODEL",),
    ),
    Mutant(
        "adl_same_side",
        "modules/adl.vy",
        '        assert (cq > 0) == (close > 0), "ch: adl counterparty same side"\n',
        "",
        "ADL accepts a counterparty on the bankrupt's own side",
        ("MODEL", "I7"),
    ),
    Mutant(
        "liquidation_skips_fund",
        "modules/waterfall.vy",
        "    covered: uint256 = min(need, ledger.insurance_due)\n    ledger.insurance_due -= covered\n"
        "    if covered != need:\n        covered += extcall ledger.insurance_fund.cover(need - covered)\n",
        "    covered: uint256 = 0\n",
        "liquidation skips the insurance fund (its dues and its balance): bad debt goes straight to ADL",
        ("I6",),
    ),
    Mutant(
        "withdraw_skips_funding",
        "Clearinghouse.vy",
        "    ledger._check_amount(amount)\n    funding._settle_all(msg.sender, constants.MAX_MARKETS)\n"
        "    ledger.margin[msg.sender] -= convert(amount, int256)\n",
        "    ledger._check_amount(amount)\n    ledger.margin[msg.sender] -= convert(amount, int256)\n",
        "funding not settled on withdraw",
        ("MODEL",),
    ),
)


def make_mutant(name: str, into: Path | None = None) -> Path:
    """A copy of contracts/ with mutant `name` applied; returns the new contracts directory.

    By default under ``.build/fuzz/mutants/NAME`` (a stable path, so compiles are cached).
    """
    dest = (into or repo_root() / ".build" / "fuzz" / "mutants" / name) / "contracts"
    return patched_contracts(MUTANTS[name], dest)


def mutant_artifacts(name: str) -> dict[str, Artifact]:
    """The compiled system with mutant `name`: only the contracts built from the patched
    file are recompiled (a module under ``modules/`` may be in any of them)."""
    m = MUTANTS[name]
    base = load_artifacts()
    mutated = tuple(n for n, f in CONTRACT_FILES.items() if f == m.file) or tuple(CONTRACT_FILES)
    base.update(load_artifacts(make_mutant(name), names=mutated))
    return base


__all__ = ["MUTANTS", "make_mutant", "mutant_artifacts"]
