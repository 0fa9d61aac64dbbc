"""The tests check the same invariants as the demo: perpvault.chain.invariants.check_invariants
on one read of the system (perpvault.chain.ape_driver)."""

from perpvault.chain.ape_driver import assert_fund_accounting, assert_invariants, known_accounts

__all__ = ["assert_fund_accounting", "assert_invariants", "known_accounts"]
