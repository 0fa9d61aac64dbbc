"""I9's arithmetic half (perpvault.prove.vault_rounding) needs the vault's guard: the lemmas
and their rounding-flip mutants run with every z3 check (tests/prove/test_proofs.py); this pins
that without "no deposit while the vault's equity is negative" the lemma is false, which is
why the vault refuses them (docs/security.md, known weakness 3, fixed)."""

from __future__ import annotations

from perpvault.prove import vault_rounding


def test_a_deposit_into_a_vault_with_negative_equity_can_lower_the_price():
    model = vault_rounding.negative_equity_deposit()
    assert int(model["equity0"]) < 0
