"""Access control: every privileged function x every role, each cell allowed or its exact revert."""

from __future__ import annotations

import pytest

from perpvault.keeper import dry_run
from tests.security.access_matrix import ENTRIES, OK, ROLES, Entry, render
from tests.security.doc_tables import assert_doc_shows


@pytest.fixture(scope="module")
def roles(system, owner, oracle_updater, keeper, taker, lp, stranger) -> dict[str, str]:
    return {
        "owner": owner.address,
        "oracle_updater": oracle_updater.address,
        "clearinghouse": system.clearinghouse.address,
        "vault": system.vault.address,
        "order_book": system.order_book.address,
        "keeper": keeper.address,
        "trader": taker.address,
        "lp": lp.address,
        "stranger": stranger.address,
    }


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.label)
def test_access_matrix__every_role_gets_exactly_its_cell(system, roles, entry: Entry):
    contract = getattr(system, entry.contract)
    got = {role: dry_run(contract, entry.function, entry.args(system, roles), roles[role]) or OK for role in ROLES}
    expected = {role: entry.expected(role) for role in ROLES}
    assert got == expected


def test_access_matrix__every_privileged_entry_point_denies_a_stranger():
    assert all("stranger" not in e.allowed for e in ENTRIES)
    assert all(e.denied != OK for e in ENTRIES)


def test_security_doc__shows_the_matrix_as_tested():
    assert_doc_shows(render(), "tests.security.access_matrix.render()")
