"""Fault tolerance of the keeper (perpvault.keeper.KeeperBot): its node is killed under it.

Each test starts its own Anvil (not ape's), deploys over raw JSON-RPC, runs the bot in a
thread and kills the node with SIGKILL. The bot must reconnect with backoff, and then:
resume when the node comes back from its state dump (and liquidate what became liquidatable
meanwhile); stop with ChainGone, saying why, when the node comes back empty; give up with
NodeLost when it does not come back. A liquidation that passes its dry run and then reverts
on chain is reported with its decoded reason.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from perpvault.chain.raw import open_raw
from perpvault.chain.rpc import free_port, start_anvil
from perpvault.keeper import ChainGone, KeeperBot, NodeLost
from perpvault.units import price, size, usdc

BTC = 0
CRASH = price(52_000)  # the taker's 1 BTC long at 60,000 on 10,000 USDC falls below maintenance


def _book(driver) -> tuple[str, str]:
    """An LP in the vault; the taker (dev account 5) long 1 BTC at 60,000 against the maker (4),
    10,000 USDC each. Returns (keeper, taker)."""
    s, accts = driver.system, [a.address for a in driver.accounts]
    keeper, lp, maker, taker = accts[2], accts[3], accts[4], accts[5]
    for who, amount in ((lp, usdc(1_000_000)), (maker, usdc(10_000)), (taker, usdc(10_000))):
        driver.mint(who, amount)
        driver.approve(who, s.clearinghouse)
        driver.approve(who, s.vault)
    driver.vault_deposit(lp, usdc(1_000_000))
    driver.deposit(maker, usdc(10_000))
    driver.deposit(taker, usdc(10_000))
    driver.fill(maker, taker, BTC, size(1), price(60_000), nonces=(1, 2))
    return keeper, taker


def _position(rpc, system, account: str) -> int:
    fn = system.abis["Clearinghouse"].fn("positions")
    return fn.decode(rpc.eth_call(system.clearinghouse, fn.encode(account, BTC)))[0]


def _set_price(rpc, system, new_price: int) -> None:
    rpc.send_transaction(system.oracle_updater, system.feed, system.calls.set_price(BTC, new_price))


def _wait(predicate, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Running:
    """The bot in a thread; `error` holds what ended it."""

    def __init__(self, bot: KeeperBot):
        self.bot, self.stop, self.error = bot, threading.Event(), None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.bot.run(interval=0.1, stop=self.stop)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            self.error = exc

    def join(self) -> None:
        self.stop.set()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive()


@pytest.fixture
def node(tmp_path):
    """Anvil on a fixed free port, dumping its state every second; restartable on that port."""
    port = free_port()
    dump = tmp_path / "state.json"
    started = []

    def start(*, load: bool):
        args = ("--dump-state", str(dump), "--state-interval", "1") + (
            ("--load-state", str(dump)) if load else ()
        )
        anvil = start_anvil(port, extra_args=args)
        started.append(anvil)
        return anvil

    yield start, dump
    for anvil in started:
        anvil.stop()


def _kill(anvil) -> None:
    os.kill(anvil.process.pid, signal.SIGKILL)
    anvil.process.wait(timeout=10)


def _deployed(start):
    anvil = start(load=False)
    driver, _ = open_raw(anvil)
    keeper, taker = _book(driver)
    return anvil, driver, keeper, taker


def test_node_killed__restarted_from_its_state_dump__bot_reconnects_resumes_and_liquidates(node):
    start, dump = node
    anvil, driver, keeper, taker = _deployed(start)
    s = driver.system
    lines: list[str] = []
    bot = KeeperBot(
        anvil.url, s.clearinghouse, s.fund, keeper, abis=s.abis, say=lines.append, give_up_after=60
    )
    running = Running(bot)
    _wait(lambda: bot.rounds >= 1, what="a first round")
    assert bot.sent == []  # nothing to do yet
    mtime = dump.stat().st_mtime if dump.exists() else 0
    _wait(
        lambda: dump.exists() and dump.stat().st_mtime > mtime, what="a state dump after the book"
    )

    _kill(anvil)
    _wait(lambda: any("unreachable" in line for line in lines), what="the bot to notice")
    anvil = start(load=True)
    _wait(lambda: bot.reconnects == 1, what="the reconnect")
    rpc = anvil.rpc()
    _set_price(rpc, s, CRASH)
    _wait(lambda: bot.sent, what="the liquidation after the restart")
    running.join()
    assert 0 <= _position(rpc, s, taker) < size(1)  # (partially) liquidated on the restored chain

    assert running.error is None
    assert any("lost the node" in line for line in lines)
    assert any("Clearinghouse code unchanged" in line and "resuming" in line for line in lines)
    assert [liq.account for liq in bot.sent] == [taker]
    assert bot.failures == []


def test_node_killed__restarted_empty__bot_stops_saying_the_chain_is_gone(node):
    start, _ = node
    anvil, driver, keeper, _ = _deployed(start)
    s = driver.system
    lines: list[str] = []
    bot = KeeperBot(
        anvil.url, s.clearinghouse, s.fund, keeper, abis=s.abis, say=lines.append, give_up_after=60
    )
    running = Running(bot)
    _wait(lambda: bot.rounds >= 1, what="a first round")

    _kill(anvil)
    start(load=False)  # same port, fresh chain: no contracts
    running.thread.join(timeout=60)

    assert isinstance(running.error, ChainGone)
    message = str(running.error)
    assert "came back without the Clearinghouse" in message
    assert s.clearinghouse in message and "--load-state" in message
    # Whether the bot saw the connection fail (and reconnected) or its client re-opened the
    # connection silently depends on timing; either way the chain check stops it.


def test_node_killed__never_back__bot_gives_up_with_node_lost(node):
    start, _ = node
    anvil, driver, keeper, _ = _deployed(start)
    s = driver.system
    lines: list[str] = []
    bot = KeeperBot(
        anvil.url, s.clearinghouse, s.fund, keeper, abis=s.abis, say=lines.append, give_up_after=1.5
    )
    running = Running(bot)
    _wait(lambda: bot.rounds >= 1, what="a first round")

    _kill(anvil)
    running.thread.join(timeout=30)

    assert isinstance(running.error, NodeLost)
    assert "did not come back within 1.5 s" in str(running.error)
    retries = [line for line in lines if "retrying in" in line]
    assert len(retries) >= 2
    waits = [float(line.split("retrying in ")[1].split(" s")[0]) for line in retries]
    assert waits == sorted(waits) and waits[-1] > waits[0]  # backoff grows


def test_liquidation_reverting_on_chain__reported_with_its_decoded_reason(node):
    """Someone moves between the bot's dry run and its transaction (here: the price recovers):
    the mined revert is reported with its reason, and the bot carries on."""
    start, _ = node
    anvil, driver, keeper, taker = _deployed(start)
    s = driver.system
    rpc = anvil.rpc()
    _set_price(rpc, s, CRASH)
    lines: list[str] = []

    def price_recovers(account, counterparties):
        _set_price(rpc, s, price(60_000))

    bot = KeeperBot(
        anvil.url,
        s.clearinghouse,
        s.fund,
        keeper,
        abis=s.abis,
        say=lines.append,
        before_send=price_recovers,
    )
    assert bot.liquidatable_accounts() == [taker]
    (result,) = bot.round()

    assert result.reason == "ch: not liquidatable"
    assert bot.failures == [result] and bot.sent == []
    assert any(
        "reverted on chain: 'ch: not liquidatable'" in line and result.tx_hash in line
        for line in lines
    )
    assert _position(rpc, s, taker) == size(1)
    assert bot.round() == []  # healthy again: nothing to do, no error


def test_bankrupt_account__empty_fund__bot_plans_the_adl_list_from_its_own_reads(node):
    """The bot's model, read over raw RPC, feeds plan_liquidation: with the fund empty, the taker's
    bankrupt long is socialized against the maker, the only short, in one transaction."""
    start, _ = node
    anvil, driver, keeper, taker = _deployed(start)
    s = driver.system
    rpc = anvil.rpc()
    maker = driver.accounts[4].address
    _set_price(rpc, s, price(45_000))  # the taker's equity: 10,000 - 15,000 < 0
    bot = KeeperBot(anvil.url, s.clearinghouse, s.fund, keeper, abis=s.abis, say=lambda line: None)
    assert bot.dry_run(taker, []) == "ch: adl list too short"

    (result,) = bot.round()

    assert result.reason is None and result.counterparties == [maker]
    assert _position(rpc, s, taker) == 0 and _position(rpc, s, maker) == 0


def test_node_killed__restarted_from_an_older_dump__bot_says_the_chain_went_back(node, tmp_path):
    """The node comes back from a dump older than what the bot last saw: the bot says the chain
    was reset to an earlier block (what came after is gone) and resumes on it."""
    start, dump = node
    anvil, driver, keeper, _ = _deployed(start)
    s = driver.system
    mtime = dump.stat().st_mtime if dump.exists() else 0
    copied: list[bytes] = []

    def whole_dump_after_the_book() -> bool:
        """A dump written after the book, read whole: Anvil may be mid-write (a copy taken
        then is cut short and will not load)."""
        if not dump.exists() or dump.stat().st_mtime <= mtime:
            return False
        data = dump.read_bytes()
        try:
            json.loads(data)
        except ValueError:
            return False
        copied.append(data)
        return True

    _wait(whole_dump_after_the_book, what="a whole state dump after the book")
    older = tmp_path / "older.json"
    older.write_bytes(copied[-1])
    lines: list[str] = []
    bot = KeeperBot(
        anvil.url, s.clearinghouse, s.fund, keeper, abis=s.abis, say=lines.append, give_up_after=60
    )
    rpc = anvil.rpc()
    rpc.mine(5)
    seen = rpc.block_number()
    running = Running(bot)
    _wait(lambda: bot.last_block >= seen, what="a round at the newer block")

    _kill(anvil)
    dump.write_bytes(older.read_bytes())  # the node restarts from the older dump
    start(load=True)
    _wait(lambda: bot.reconnects == 1, what="the reconnect")
    running.join()

    assert running.error is None
    # "node back at block ..." or "changed between two rounds", depending on whether the bot saw
    # the connection fail: either way it says the chain went back, and resumes.
    (back,) = [line for line in lines if "resuming" in line]
    assert f"from {seen}: anything after the dump is gone" in back and "resuming" in back


def test_keeper_command__liquidates_then_exits_3_when_the_chain_is_gone(node, capsys, monkeypatch):
    """`perpvault keeper` (perpvault.keeper.run_bot): a round liquidates; started against a node
    that was restarted empty it refuses at once, exit 3, saying there is no Clearinghouse."""
    import argparse

    import perpvault.chain.abi
    from perpvault.keeper import register, run_bot

    start, _ = node
    anvil, driver, keeper, taker = _deployed(start)
    s = driver.system
    # The ABIs the command loads: the ones just deployed (no second compile in the test).
    monkeypatch.setattr(perpvault.chain.abi, "load_artifacts", lambda **_: s.artifacts)
    rpc = anvil.rpc()
    _set_price(rpc, s, CRASH)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(
        [
            "keeper",
            "--url",
            anvil.url,
            "--clearinghouse",
            s.clearinghouse,
            "--fund",
            s.fund,
            "--sender",
            keeper,
            "--rounds",
            "1",
            "--interval",
            "0.01",
            "--give-up-after",
            "20",
        ]
    )
    assert args.func is run_bot

    assert run_bot(args) == 0
    assert f"liquidated {taker}" in capsys.readouterr().out
    assert _position(rpc, s, taker) < size(1)

    _kill(anvil)
    start(load=False)
    args.rounds = None  # would run forever on a chain it could keep
    assert run_bot(args) == 3
    assert f"no Clearinghouse at {s.clearinghouse}" in capsys.readouterr().err


def test_node_swapped_between_two_rounds__bot_checks_the_chain_before_acting(node):
    """The node is killed and restarted empty between two rounds: the client may re-open its
    connection without an error, so the round's own chain check must catch it (ChainGone)
    before reading or sending anything."""
    start, _ = node
    anvil, driver, keeper, _ = _deployed(start)
    s = driver.system
    lines: list[str] = []
    bot = KeeperBot(anvil.url, s.clearinghouse, s.fund, keeper, abis=s.abis, say=lines.append)
    assert bot.round() == []

    _kill(anvil)
    start(load=False)
    with pytest.raises(ChainGone, match="came back without the Clearinghouse"):
        bot.run(rounds=1, interval=0)
    assert bot.sent == [] and bot.failures == []
