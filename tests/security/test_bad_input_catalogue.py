"""The bad-input catalogue (tests/security/bad_inputs.py): each class is refused with its exact
reason, and a real transaction carrying it is mined reverted with every book unchanged."""

from __future__ import annotations

import re

import pytest

from perpvault.fuzz.state import read_state_ape
from perpvault.keeper import dry_run
from perpvault.paths import repo_root
from tests.security.bad_inputs import CATALOGUE, Case, Ctx, cases, elsewhere, render
from tests.security.doc_tables import assert_doc_shows
from tests.utils.checks import assert_invariants

GAS = 5_000_000  # fixed: no estimation, which would refuse to send a reverting transaction


def books(system, roles: dict, extra: dict) -> dict:
    """Everything a refused call must not move: every account's wallet, margin and positions,
    the markets, the fund and the vault (perpvault.fuzz's full read), plus shares, the oracle,
    parameters, the pause flag, and any contract a setup deployed."""
    ch, feed, vault = system.clearinghouse, system.feed, system.vault
    accounts = [*roles.values(), vault, ch, system.fund]
    out = read_state_ape(system, extra=accounts).book()
    out["shares"] = tuple(vault.balanceOf(a) for a in accounts)
    out["vault_spread"] = vault.spread()
    out["oracle"] = tuple(feed.rounds(m) for m in range(ch.market_count()))
    out["oracle_setup"] = (feed.updater(), feed.max_age(), feed.max_jump())
    out["params"] = tuple(ch.params(m) for m in range(ch.market_count()))
    out["risk"] = ch.risk()
    out["paused"] = ch.paused()
    out["fund_clearinghouse"] = system.fund.clearinghouse()
    if "adapter" in extra:
        out["adapter_feed"] = extra["adapter"].feeds(0)
    return out


def send_raw(contract, function: str, args: tuple, sender) -> dict:
    """Send the call as a real transaction (fixed gas, straight to the node) and return its receipt."""
    web3 = contract.provider.web3
    data = getattr(contract, function).encode_input(*args)
    tx_hash = web3.eth.send_transaction(
        {"from": sender.address, "to": contract.address, "data": data, "gas": GAS}
    )
    return web3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)


@pytest.fixture
def ctx(book, roles, chain, project) -> Ctx:
    return Ctx(book, roles, chain, project)


def _target(c: Ctx, case: Case):
    if case.target.startswith("extra."):
        return c.extra[case.target.removeprefix("extra.")]
    return getattr(c.system, case.target)


def _params():
    for n, case in cases():
        marks = [pytest.mark.xfail(strict=True, reason=case.gap)] if case.gap else []
        yield pytest.param(case, id=f"{n:02d}-{re.sub(r'[^a-z0-9]+', '_', case.title.lower()).strip('_')}",
                           marks=marks)


@pytest.mark.parametrize("case", _params())
def test_bad_input__refused_with_its_reason__books_unchanged(ctx: Ctx, case: Case):
    if case.setup:
        case.setup(ctx)
    contract = _target(ctx, case)
    args = case.args(ctx)
    sender = ctx.roles[case.sender]
    before = books(ctx.system, ctx.roles, ctx.extra)

    assert dry_run(contract, case.function, args, sender) == case.reason
    receipt = send_raw(contract, case.function, args, sender)
    assert receipt["status"] == 0, f"{case.call} with {case.title} was mined as a success"

    assert books(ctx.system, ctx.roles, ctx.extra) == before
    assert_invariants(ctx.system)


def test_catalogue__at_least_30_classes_each_with_a_reason():
    assert len(CATALOGUE) >= 30
    assert all(e.reason for e in CATALOGUE)
    titles = [e.title for e in CATALOGUE]
    assert len(set(titles)) == len(titles), "a class is listed twice"


@pytest.mark.parametrize("n,entry", elsewhere(), ids=lambda x: str(x) if isinstance(x, int) else "")
def test_catalogue__tested_elsewhere__names_a_real_test(n, entry):
    path, _, name = entry.where.partition("::")
    source = (repo_root() / path).read_text()
    assert re.search(rf"^def {re.escape(name)}\(", source, re.M), f"#{n}: {entry.where} does not exist"
    assert entry.reason.split(",")[0].rstrip(" …") in source, f"#{n}: {path} never mentions {entry.reason!r}"


def test_security_doc__shows_the_catalogue_as_tested():
    assert_doc_shows(render(), "tests.security.bad_inputs.render()")
