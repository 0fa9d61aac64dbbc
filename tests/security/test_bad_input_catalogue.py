"""The bad-input catalogue (tests/security/bad_inputs.py): each class is refused with its exact
reason, and a real transaction carrying it is mined reverted with every book unchanged."""

from __future__ import annotations

import re

import pytest

from perpvault.keeper import dry_run
from perpvault.paths import repo_root
from tests.security.bad_inputs import CATALOGUE, Case, Ctx, cases, elsewhere, render
from tests.security.doc_tables import assert_doc_shows
from tests.utils.checks import assert_invariants

GAS = 5_000_000  # fixed: no estimation, which would refuse to send a reverting transaction


def books(system, roles: dict, extra: dict) -> list:
    """Everything a refused call must not move, as the raw return data of every view that
    reads it (one JSON-RPC batch): each role's and contract's wallet, margin, positions, equity
    and vault shares; the markets, parameters, risk, pause flag, account list, insurance due;
    the fund's totals; the vault's supply, assets and spread; the oracle's rounds, bounds and
    pending changes;
    and any contract a setup deployed. A revert (a stale oracle's equity) is kept as its error."""
    from perpvault.chain.rpc import Rpc

    ch, feed, vault, fund, usdc = (
        system.clearinghouse,
        system.feed,
        system.vault,
        system.fund,
        system.usdc,
    )
    accounts = [*roles.values(), vault, ch, fund]
    n_markets, n_accounts = ch.market_count(), ch.account_count()
    views = [
        (ch, "market_count", ()),
        (ch, "account_count", ()),
        (ch, "insurance_due", ()),
        (ch, "risk", ()),
        (ch, "paused", ()),
        (fund, "total_in", ()),
        (fund, "total_out", ()),
        (fund, "clearinghouse", ()),
        (vault, "totalSupply", ()),
        (vault, "totalAssets", ()),
        (vault, "spread", ()),
        (feed, "updater", ()),
        (feed, "max_age", ()),
        (feed, "max_jump", ()),
        *((feed, pending, ()) for pending in ("pending_updater", "pending_updater_eta", "pending_max_age",
                                              "pending_max_jump", "pending_bounds_eta", "delay", "pending_delay",
                                              "pending_delay_eta")),
    ]
    views += [(ch, "account_at", (i,)) for i in range(n_accounts)]
    for m in range(n_markets):
        views += [(ch, "markets", (m,)), (ch, "params", (m,)), (feed, "rounds", (m,))]
    for a in accounts:
        views += [
            (usdc, "balanceOf", (a,)),
            (ch, "margin", (a,)),
            (ch, "equity", (a,)),
            (vault, "balanceOf", (a,)),
        ]
        views += [(ch, "positions", (a, m)) for m in range(n_markets)]
    if "adapter" in extra:
        views += [(extra["adapter"], fn, (0,)) for fn in ("feeds", "pending_feeds", "pending_feed_eta")]
    rpc = Rpc(system.clearinghouse.provider.web3.provider.endpoint_uri)
    try:
        requests = [
            (
                "eth_call",
                [
                    {
                        "to": c.address,
                        "data": "0x" + bytes(getattr(c, fn).encode_input(*args)).hex(),
                    },
                    "latest",
                ],
            )
            for c, fn, args in views
        ]
        out = rpc.batch(requests, raise_errors=False)
    finally:
        rpc.close()
    return [
        (f"{fn}{args}", r if isinstance(r, str) else f"reverted: {r.message} {r.data}")
        for (_, fn, args), r in zip(views, out, strict=True)
    ]


def send_raw(contract, function: str, args: tuple, sender) -> dict:
    """Send the call as a real transaction (fixed gas, straight to the node) and return its
    receipt."""
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
        marks = (
            [pytest.mark.xfail(strict=True, raises=AssertionError, reason=case.gap)]
            if case.gap
            else []
        )
        yield pytest.param(
            case,
            id=f"{n:02d}-{re.sub(r'[^a-z0-9]+', '_', case.title.lower()).strip('_')}",
            marks=marks,
        )


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


def test_books__see_a_one_atom_deposit_and_a_one_wei_position_change(book, roles, chain):
    """The read the catalogue compares is fine enough to see the smallest state change (the
    taker's 1 BTC long grows by one wei: a new 1-wei position is below the minimum notional)."""
    from tests.utils.trading import trade

    before = books(book, roles, {})
    book.usdc.mint(roles["trader"], 1, sender=book.owner)
    book.clearinghouse.deposit(1, sender=roles["trader"])
    after_deposit = books(book, roles, {})
    assert after_deposit != before
    trade(book, roles["maker"], roles["taker"], 0, 1, book.markets[0].initial_price, chain=chain)
    assert books(book, roles, {}) != after_deposit


def test_catalogue__at_least_30_classes_each_with_a_reason():
    assert len(CATALOGUE) >= 30
    assert all(e.reason for e in CATALOGUE)
    titles = [e.title for e in CATALOGUE]
    assert len(set(titles)) == len(titles), "a class is listed twice"


@pytest.mark.parametrize("n,entry", elsewhere(), ids=lambda x: str(x) if isinstance(x, int) else "")
def test_catalogue__tested_elsewhere__names_a_real_test(n, entry):
    path, _, name = entry.where.partition("::")
    source = (repo_root() / path).read_text()
    assert re.search(rf"^def {re.escape(name)}\(", source, re.M), (
        f"#{n}: {entry.where} does not exist"
    )
    assert entry.reason.split(",")[0].rstrip(" …") in source, (
        f"#{n}: {path} never mentions {entry.reason!r}"
    )


def test_security_doc__shows_the_catalogue_as_tested():
    assert_doc_shows(render(), "tests.security.bad_inputs.render()")
