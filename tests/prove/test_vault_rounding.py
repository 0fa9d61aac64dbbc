"""I9's arithmetic half (perpvault.prove.vault_rounding) needs its assumption: the lemmas and
their rounding-flip mutants run with every z3 check (tests/prove/test_proofs.py); this pins
that without "the vault's equity is not negative" the lemma is false, which is the finding
in docs/security.md (known weakness 3)."""

from __future__ import annotations

from perpvault.prove import vault_rounding


def test_a_deposit_into_a_vault_with_negative_equity_can_lower_the_price():
    model = vault_rounding.negative_equity_deposit()
    assert int(model["equity0"]) < 0
