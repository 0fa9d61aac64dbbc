"""The tests check the same invariants as the demo (perpvault.chain.invariants)."""

from perpvault.chain.invariants import (
    assert_conservation,
    assert_fund_accounting,
    assert_invariants,
    assert_zero_sum_positions,
    equities,
    known_accounts,
)

__all__ = [
    "assert_conservation",
    "assert_fund_accounting",
    "assert_invariants",
    "assert_zero_sum_positions",
    "equities",
    "known_accounts",
]
