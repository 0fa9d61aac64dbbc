"""The raw chain driver (perpvault.chain.raw): deploy, reverts with reasons, snapshots, and the
one-call read.

Two chains: our own Anvil (start_anvil, the fuzzer's setup) for the driver's mechanics,
and ape's session Anvil, to which the raw client attaches, for agreement with ape's views.
"""

from __future__ import annotations

import pytest

from perpvault.chain.ape_driver import read_state, read_state_ape
from perpvault.chain.deploy import CONTRACTS, deploy
from perpvault.chain.invariants import check_invariants
from perpvault.chain.orders import Order, sign_order
from perpvault.chain.raw import RawDriver, open_raw, raw_deployer
from perpvault.chain.rpc import CallReverted, Rpc, TxReverted, decode_revert
from perpvault.chain.state import StateReader, read_state_batch
from perpvault.units import USDC, price, size

TRADERS = range(4, 8)
MARGIN = 100_000 * USDC


def _fund_and_trade(d: RawDriver) -> list[str]:
    """Four traders with margin, a BTC fill between 4 and 5, an ETH fill between 6 and 7, a
    vault trade."""
    s, a = d.system, [x.address for x in d.accounts]
    for t in TRADERS:
        d.mint(a[t], 10 * MARGIN)
        d.approve(a[t], s.clearinghouse)
        d.deposit(a[t], MARGIN)
    d.mint(a[3], 10 * MARGIN)
    d.approve(a[3], s.vault)
    d.vault_deposit(a[3], 5 * MARGIN)
    d.fill(a[4], a[5], 0, size("0.5"), price(60_100), nonces=(1, 2))
    d.fill(a[6], a[7], 1, -size(3), price(2_990), nonces=(1, 2))
    d.vault_trade(a[6], 0, size("0.2"), price(61_000))
    return a


@pytest.fixture(scope="module")
def raw():
    driver, anvil = open_raw()
    with anvil:
        accounts = _fund_and_trade(driver)
        yield driver, accounts


def test_deploy__wires_the_system_like_perpvault_chain_deploy(raw):
    d, _ = raw
    s, c = d.system, d.system.calls
    ch_abi = s.abis["Clearinghouse"]

    def view(name: str) -> str:  # eth_abi returns addresses in lower case
        return (
            ch_abi.fn(name)
            .decode(d.rpc.eth_call(s.clearinghouse, ch_abi.fn(name).encode()))
            .lower()
        )

    assert view("vault") == s.vault.lower()
    assert view("order_book") == s.order_book.lower()
    assert view("owner") == s.owner.lower()
    assert int.from_bytes(d.rpc.eth_call(s.clearinghouse, c.market_count), "big") == len(s.markets)
    assert d.rpc.uses_send_sync is True  # anvil 1.7 answers eth_sendTransactionSync


def test_deploy__same_addresses_as_ape_deploy_on_a_fresh_chain(raw):
    """Same transactions as perpvault.chain.deploy's ape deployment: the owner's nonces 0, 1,
    ... create the contracts of the deployment table, in its order."""
    import rlp
    from eth_hash.auto import keccak
    from eth_utils import to_checksum_address

    d, _ = raw
    owner = bytes.fromhex(d.system.owner[2:])
    created = [
        to_checksum_address(keccak(rlp.encode([owner, nonce]))[12:])
        for nonce in range(len(CONTRACTS))
    ]
    assert list(d.system.addresses.values()) == created


def test_withdraw__beyond_margin__raises_with_decoded_reason(raw):
    d, a = raw
    with pytest.raises(TxReverted) as info:
        d.withdraw(a[4], 100 * MARGIN)
    assert info.value.reason == "ch: insufficient margin"
    assert info.value.label == "Clearinghouse.withdraw"
    assert info.value.receipt["status"] == "0x0"


def test_match_orders__wrong_signature__raises_order_book_reason(raw):
    d, a = raw
    s = d.system
    maker = Order(a[4], 0, -size("0.1"), price(60_000), 77, 2**40)
    taker = Order(a[5], 0, size("0.1"), price(60_000), 78, 2**40)
    data = s.calls.match_orders(
        maker.as_tuple(), s.signer.sign(taker), taker.as_tuple(), s.signer.sign(taker), size("0.1")
    )
    with pytest.raises(TxReverted, match="ob: invalid signature"):
        s.tx(a[5], s.order_book, data)


def test_poll_mode__sends_and_decodes_reverts_like_sync_mode(raw):
    d, a = raw
    s = d.system
    rpc = Rpc(f"http://{d.rpc.host}:{d.rpc.port}", tx_mode="poll")
    assert rpc.send_transaction(a[4], s.clearinghouse, s.calls.deposit(5))["status"] == "0x1"
    with pytest.raises(TxReverted, match="ch: insufficient margin"):
        rpc.send_transaction(a[4], s.clearinghouse, s.calls.withdraw(100 * MARGIN))
    rpc.close()


def test_eth_call__revert__raises_call_reverted_with_reason(raw):
    d, a = raw
    s = d.system
    with pytest.raises(CallReverted) as info:
        d.rpc.eth_call(s.clearinghouse, s.calls.withdraw(100 * MARGIN), sender=a[4])
    assert info.value.reason == "ch: insufficient margin"


def test_decode_revert__panic_and_custom_data():
    assert decode_revert(bytes.fromhex("4e487b71") + (0x11).to_bytes(32, "big")) == "Panic(0x11)"
    assert decode_revert(b"") == ""
    assert decode_revert(b"\x12\x34\x56\x78") == "0x12345678"


def test_snapshot_revert__restores_state(raw):
    d, a = raw
    before = d.read()
    snap = d.snapshot()
    d.deposit(a[4], 1_234)
    d.advance_time(600)
    d.settle_funding(a[2], a[5])
    assert d.read().accounts[a[4]].margin == before.accounts[a[4]].margin + 1_234
    d.revert(snap)
    after = d.read()
    assert after.book() == before.book()
    assert after.block_number == before.block_number


def test_read__one_call_equals_eth_abi_decode_and_batch_read(raw):
    d, a = raw
    one_call = d.read()
    assert one_call == d.reader.read_slow()
    batch = read_state_batch(d.system, extra=a)
    assert batch.book() == one_call.book()
    assert check_invariants(one_call) == []
    assert one_call.accounts[a[4]].positions[0].size == -size("0.5")
    assert one_call.accounts[a[7]].positions[1].size == -size(3)
    assert not one_call.accounts[a[0]].known  # the owner never deposited: wallet only


def test_read__remembered_account_decodes_follow_every_change(raw):
    """decode_book remembers each account's decode by its bytes: a changed account must be
    decoded afresh, an unchanged one reused, and both equal eth_abi's decoding."""
    d, a = raw
    snap = d.snapshot()
    try:
        first = d.read()
        d.deposit(a[4], 1)  # one atom: only trader 4's margin (and the token balances) move
        second = d.read()
        assert second == d.reader.read_slow()
        assert second.accounts[a[4]].margin == first.accounts[a[4]].margin + 1
        assert (
            second.accounts[a[0]] is first.accounts[a[0]]
        )  # unchanged bytes (a wallet only): the remembered decode
    finally:
        d.revert(snap)


def test_state_reader__struct_layouts_match_the_clearinghouse_abi(raw):
    """StateReader.vy re-declares Position, Health and MarketState: they must match the
    contract's getters (each embedded in the reader's per-position, per-account and per-market
    records)."""
    d, _ = raw
    ch = d.system.abis["Clearinghouse"]
    (book_type,) = d.reader._fn.outputs
    (position,) = ch.fn("positions").outputs
    (health,) = ch.fn("health").outputs
    (market,) = ch.fn("markets").outputs
    assert f"({position},uint256,int256,bool)[]" in book_type  # stored, entry price, adl score, ok
    assert (
        f"uint256,uint256,{health},bool,bytes32,(" in book_type
    )  # wallet, shares, health, ok, reason
    assert f"({market},int256,bool)[]" in book_type  # stored, funding_index(), ok


def test_check_invariants__reports_a_broken_book(raw):
    d, a = raw
    state = d.read()
    state.clearinghouse_balance += 1
    assert [v[:3] for v in check_invariants(state)] == ["I2:"]


def test_signer__matches_perpvault_chain_orders(raw):
    d, a = raw
    order = Order(a[4], 1, -size("1.5"), price(3_000), 5, 2**40)
    key = d.accounts[4].private_key
    expected = sign_order(key, order, chain_id=d.rpc.chain_id, order_book=d.system.order_book)
    assert d.system.signer.sign(order) == expected


def test_attach_to_ape_chain__raw_read_agrees_with_ape_views(chain, accounts, project):
    """Deploy with the raw client on ape's own Anvil, then read the same book through ape."""
    rpc = Rpc(chain.provider.http_uri)
    owner, updater = accounts[0], accounts[1]
    system = deploy(owner.address, updater.address, via=raw_deployer(rpc))
    keys = {acct.address: acct.private_key for acct in accounts}
    for addr, key in keys.items():
        system.signer.add_key(addr, key)
    d = RawDriver(system, StateReader(rpc, system, extra=[x.address for x in accounts]), ())
    a = [x.address for x in accounts]
    for t in TRADERS:
        d.mint(a[t], 10 * MARGIN)
        d.approve(a[t], system.clearinghouse)
        d.deposit(a[t], MARGIN)
    d.fill(a[4], a[5], 0, size("0.25"), price(60_050), nonces=(9, 10))
    d.fill(a[6], a[4], 1, size(2), price(3_010), nonces=(11, 12))

    class ApeSystem:  # the attributes read_state_ape needs, as ape contract objects
        clearinghouse = project.Clearinghouse.at(system.clearinghouse)
        usdc = project.MockUSDC.at(system.usdc)
        fund = project.InsuranceFund.at(system.fund)
        vault = project.LiquidityVault.at(system.vault)

    ch = ApeSystem.clearinghouse
    raw_state = d.read()
    for t in (4, 5, 6):
        got = raw_state.accounts[a[t]]
        assert got.margin == ch.margin(a[t])
        assert got.equity == ch.equity(a[t])
        for m in (0, 1):
            pos = ch.positions(a[t], m)
            assert (
                got.positions[m].size,
                got.positions[m].open_notional,
                got.positions[m].funding_index,
            ) == tuple(pos)
    assert read_state_ape(ApeSystem, extra=accounts).book() == raw_state.book()
    assert read_state(ApeSystem, extra=accounts) == raw_state  # the ape driver's one-call read
    assert check_invariants(raw_state) == []
    rpc.close()
