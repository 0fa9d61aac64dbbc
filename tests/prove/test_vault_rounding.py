"""I9's arithmetic half (perpvault.prove.vault_rounding): the vault's floor/ceil conversions,
with the book movements halmos proves on the bytecode, never lower the share price -- and the
lemma is not vacuous: flipping one entry point's rounding, or letting the vault's equity be
negative, is a counterexample."""

from __future__ import annotations

import pytest

from perpvault.prove import vault_rounding


def test_every_entry_point_keeps_the_share_price():
    rows = vault_rounding.run()
    assert [r.check for r in rows] == [f"I9[{op}]: price not lower" for op in vault_rounding.OPS]
    assert all(r.result == "proved" for r in rows), [(r.check, r.result) for r in rows]


@pytest.mark.parametrize("op", vault_rounding.OPS)
def test_rounding_the_holders_way_lowers_the_price(op):
    row = vault_rounding.run({op})[vault_rounding.OPS.index(op)]
    assert row.result == "counterexample", row


def test_a_deposit_into_a_vault_with_negative_equity_can_lower_the_price():
    model = vault_rounding.negative_equity_deposit()
    assert int(model["equity0"]) < 0
