"""The keeper on a stock node: EIP-1559 fees from the node, signed by a key or an ape account.

A stock Anvil (its default base fee, 1 gwei, moving with every block) refuses the drivers'
``gasPrice 0`` transactions with "max fee per gas less than block base fee"; the keeper must
pay the node's fees and sign without the node (a keeper's key is not unlocked on a real node).
"""

from __future__ import annotations

import pytest

from perpvault.chain.raw import open_raw
from perpvault.chain.rpc import Rpc, RpcError, start_anvil
from perpvault.chain.signers import ApeSigner, KeySigner
from perpvault.keeper import KeeperBot
from perpvault.units import size
from tests.security.test_keeper_faults import CRASH, _book, _position, _set_price

# Not one of Anvil's dev accounts: the node cannot sign for it.
KEEPER_KEY = "0x" + "4b" * 32


@pytest.fixture
def stock():
    """A stock Anvil (nonzero base fee), the book deployed with the node's fees, the price
    crashed so the taker is liquidatable."""
    anvil = start_anvil(zero_fees=False)
    try:
        driver, _ = open_raw(anvil)
        _, taker = _book(driver)
        rpc = anvil.rpc()
        _set_price(rpc, driver.system, CRASH)
        yield anvil, driver.system, rpc, taker
    finally:
        anvil.stop()


def _fund(rpc: Rpc, address: str) -> int:
    rpc.call("anvil_setBalance", [address, hex(10**18)])
    return 10**18


def _balance(rpc: Rpc, address: str) -> int:
    return int(rpc.call("eth_getBalance", [address, "latest"]), 16)


def test_stock_node__refuses_a_zero_gas_price_transaction(stock):
    """What the keeper sent before: gasPrice 0, which a stock node refuses."""
    anvil, system, _, _ = stock
    base_fee = int(Rpc(anvil.url).call("eth_getBlockByNumber", ["latest", False])["baseFeePerGas"], 16)
    assert base_fee > 0
    zero = Rpc(anvil.url, fees="zero")
    with pytest.raises(RpcError, match="max fee per gas less than block base fee"):
        zero.send_transaction(system.oracle_updater, system.feed, b"")


def test_keeper_signing_with_a_key__liquidates_on_a_stock_node_paying_its_fees(stock):
    anvil, system, rpc, taker = stock
    signer = KeySigner(KEEPER_KEY)
    assert signer.address not in rpc.accounts()  # the node cannot sign for it
    before = _fund(rpc, signer.address)
    lines: list[str] = []
    bot = KeeperBot(anvil.url, system.clearinghouse, system.fund, None, signer=signer, abis=system.abis,
                    say=lines.append)
    bot.run(rounds=1, interval=0)

    assert [liq.account for liq in bot.sent] == [taker], lines
    assert 0 <= _position(rpc, system, taker) < size(1)
    receipt = rpc.call("eth_getTransactionReceipt", [bot.sent[0].tx_hash])
    tx = rpc.call("eth_getTransactionByHash", [bot.sent[0].tx_hash])
    assert receipt["from"].lower() == signer.address.lower()
    assert tx["type"] == "0x2"
    paid = int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16)
    assert paid > 0
    # The keeper paid the fee and got the keeper's reward in USDC, not in ETH.
    assert _balance(rpc, signer.address) == before - paid


def test_keeper_signing_with_an_ape_account__liquidates_on_a_stock_node(stock):
    from ape import accounts

    anvil, system, rpc, taker = stock
    signer = ApeSigner(accounts.test_accounts.generate_test_account())
    assert signer.address not in rpc.accounts()  # only ape can sign for it
    before = _fund(rpc, signer.address)
    bot = KeeperBot(anvil.url, system.clearinghouse, system.fund, None, signer=signer, abis=system.abis,
                    say=lambda _line: None)
    bot.run(rounds=1, interval=0)

    assert [liq.account for liq in bot.sent] == [taker]
    receipt = rpc.call("eth_getTransactionReceipt", [bot.sent[0].tx_hash])
    assert receipt["from"].lower() == signer.address.lower()
    assert _balance(rpc, signer.address) == before - int(receipt["gasUsed"], 16) * int(
        receipt["effectiveGasPrice"], 16)


def test_keeper_without_eth_for_its_fees__reports_the_nodes_refusal_and_goes_on(stock):
    """The node refuses the transaction (insufficient funds for gas x maxFee): a failure the
    bot reports, not a crash; the round completes."""
    anvil, system, rpc, taker = stock
    lines: list[str] = []
    bot = KeeperBot(anvil.url, system.clearinghouse, system.fund, None, signer=KeySigner(KEEPER_KEY),
                    abis=system.abis, say=lines.append)
    bot.run(rounds=1, interval=0)
    assert bot.rounds == 1 and bot.sent == []
    assert [f.account for f in bot.failures] == [taker]
    assert "insufficient funds" in bot.failures[0].reason.lower(), bot.failures[0].reason
    assert any(f"liquidate({taker}) not mined" in line for line in lines)
    assert _position(rpc, system, taker) == size(1)  # nothing happened on chain


def test_keeper_signer_and_a_different_sender__refused_before_anything_is_sent(stock):
    anvil, system, rpc, _ = stock
    with pytest.raises(ValueError, match="is not the signer's address"):
        KeeperBot(anvil.url, system.clearinghouse, system.fund, rpc.accounts()[2], signer=KeySigner(KEEPER_KEY),
                  abis=system.abis)


@pytest.mark.parametrize("env, args, message", [
    ({}, ["--key-env", "KEEPER_KEY"], "--key-env KEEPER_KEY: that environment variable is empty or unset"),
    ({"KEEPER_KEY": "0x1234"}, ["--key-env", "KEEPER_KEY"], "--key-env KEEPER_KEY: not a private key (64 hex digits)"),
    ({}, ["--key-env", KEEPER_KEY], "--key-env takes the NAME of an environment variable, and this looks like a "
                                    "private key itself: it is now in your shell history and visible to ps"),
    ({"KEEPER_KEY": KEEPER_KEY}, ["--key-env", "KEEPER_KEY", "--url", "ftp://node:21"],
     "--url: not a JSON-RPC URL: 'ftp://node:21' (http://host[:port][/path] or https://...)"),
])
def test_keeper_command__a_missing_or_bad_key_or_url__one_line_and_exit_2(env, args, message, monkeypatch, capsys):
    from perpvault.cli import main

    monkeypatch.delenv("KEEPER_KEY", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SystemExit) as exit_:
        main(["keeper", "--clearinghouse", "0x" + "11" * 20, "--fund", "0x" + "22" * 20, *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == f"perpvault keeper: error: {message}"
    assert KEEPER_KEY[2:] not in err  # a key given by mistake is never echoed


@pytest.mark.parametrize("url, parsed", [
    ("http://127.0.0.1:8545", ("127.0.0.1", 8545, "/", False)),
    ("127.0.0.1:18545", ("127.0.0.1", 18545, "/", False)),
    ("https://sepolia.example.org/v3/KEY", ("sepolia.example.org", 443, "/v3/KEY", True)),
    ("https://rpc.example.org:8443/?key=1", ("rpc.example.org", 8443, "/?key=1", True)),
])
def test_rpc_urls__http_or_https_with_their_path(url, parsed):
    from perpvault.chain.rpc import parse_url

    assert parse_url(url) == parsed


def test_keeper_command__sender_and_key_together__refused_by_the_parser(capsys):
    from perpvault.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["keeper", "--clearinghouse", "0x" + "11" * 20, "--fund", "0x" + "22" * 20,
              "--sender", "0x" + "33" * 20, "--key-env", "K"])
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_keeper_command__an_unknown_ape_account__one_line_and_exit_2(capsys):
    from perpvault.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["keeper", "--clearinghouse", "0x" + "11" * 20, "--fund", "0x" + "22" * 20, "--account", "no-such-alias"])
    assert exit_.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("perpvault keeper: error: --account no-such-alias: ") and "no-such-alias" in line[50:]
