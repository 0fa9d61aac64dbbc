"""The keeper of the risk waterfall (SPEC section 6): find liquidatable accounts, plan each
liquidation on the reference model (perpvault.keeper.plan), check the plan with an ``eth_call``
dry run, send it, and say what happened.

:class:`Keeper` works through ape (tests, demo) and plans on the model read from the chain
(perpvault.chain.ape_driver.model_of). :class:`KeeperBot` is the same keeper as a
long-running bot over raw JSON-RPC that reads its own model every round and survives its node
being killed and restarted (docs/security.md, "The keeper when its node fails").
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any

from perpvault.keeper.plan import NoPlan, Plan, adl_key, plan_liquidation
from perpvault.keeper.tally import Liquidation, waterfall_events
from perpvault.model import Exchange


def _address(account: Any) -> str:
    return str(getattr(account, "address", account))


def _checksummed(plan: Plan) -> Plan:
    """The plan with its counterparties as the chain spells them (the model keys lower case)."""
    from eth_utils import to_checksum_address

    return replace(plan, counterparties=[to_checksum_address(a) for a in plan.counterparties])


def dry_run(contract: Any, method: str, args: tuple, sender: Any) -> str | None:
    """`eth_call` `contract.method(*args)` from `sender`; the revert reason, or None if it passes.

    Goes through web3 directly: ape enriches every revert with a full opcode trace, which
    takes seconds on the waterfall's loops, and a keeper dry-runs often.
    """
    from web3.exceptions import ContractLogicError

    data = getattr(contract, method).encode_input(*args)
    web3 = contract.provider.web3
    try:
        web3.eth.call({"from": _address(sender), "to": contract.address, "data": data})
    except ContractLogicError as exc:
        message = str(exc.message if getattr(exc, "message", None) else exc)
        return message.removeprefix("execution reverted: ").strip()
    return None


class Keeper:
    """Finds liquidatable accounts and runs the waterfall on them with the right ADL list.

    The plan is made on the model of the latest block, at the pending block's timestamp, and
    checked by a dry run before sending; funding accrued between the two (or a price update)
    can change scores, in which case the dry run names the reason and nothing is sent.
    """

    def __init__(self, system: Any, sender: Any):
        self.system = system
        self.ch = system.clearinghouse
        self.sender = sender

    # -- reading -------------------------------------------------------------------------------

    def known_accounts(self) -> list[str]:
        return [self.ch.account_at(i) for i in range(self.ch.account_count())]

    def liquidatable_accounts(self) -> list[str]:
        return [a for a in self.known_accounts() if self.ch.is_liquidatable(a)]

    def adl_queue(self, market: int, longs: bool) -> list[str]:
        """Every position on one side of `market`, first in line first: (score desc, address asc),
        from the chain's views. The LiquidityVault's own position is a candidate like any other."""
        side = []
        for a in self.known_accounts():
            q = self.ch.positions(a, market).size
            if q != 0 and (q > 0) == longs:
                side.append((adl_key(self.ch.adl_score(a, market), a), a))
        return [a for _, a in sorted(side)]

    # -- planning ------------------------------------------------------------------------------

    def model(self) -> Exchange:
        """The keeper's view of the chain: the reference model read from the latest block, at the
        timestamp of the block the liquidation will run in."""
        import ape  # lazily: planning itself needs no chain

        from perpvault.chain.ape_driver import model_of

        ex = model_of(self.system)
        return ex.at(max(ex.now, ape.chain.pending_timestamp))

    def plan(self, account: str) -> Plan:
        """The model's waterfall in plan mode on :meth:`model`: the counterparties it will consume."""
        return _checksummed(plan_liquidation(self.model(), _address(account), _address(self.sender)))

    # -- acting --------------------------------------------------------------------------------

    def counterparties(self, account: str) -> list[str]:
        """The flat ADL list `liquidate(account, ...)` needs: empty when the vault takes everything."""
        reason = dry_run(self.ch, "liquidate", (account, []), self.sender)
        if reason is None:
            return []
        if reason != "ch: adl list too short":
            raise RuntimeError(f"liquidate({account}) would revert: {reason}")
        cps = self.plan(account).counterparties
        reason = dry_run(self.ch, "liquidate", (account, cps), self.sender)
        if reason is not None:
            raise RuntimeError(f"liquidate({account}, {cps}) would revert: {reason}")
        return cps

    def liquidate(self, account: str) -> Liquidation:
        account = _address(account)
        cps = self.counterparties(account)
        receipt = self.ch.liquidate(account, cps, sender=self.sender)
        return Liquidation(account, cps, receipt, waterfall_events(receipt))

    def run(self) -> list[Liquidation]:
        """Liquidate every liquidatable account, in account order."""
        return [self.liquidate(a) for a in self.liquidatable_accounts() if self.ch.is_liquidatable(a)]


# --- a keeper bot over raw JSON-RPC that survives its node ------------------------------------
#
# `Keeper` above drives the chain through ape (the tests, the demo). A keeper that runs for
# hours against a node needs to live through the node going away: `KeeperBot` talks plain
# JSON-RPC (perpvault.chain.rpc), re-reads everything it needs every round (it keeps no state
# of its own but the identity of the chain it keeps), and on a lost connection retries with
# exponential backoff. When the node answers again it checks what came back:
#
# * the Clearinghouse's code is there, unchanged: the node was restarted from a state dump
#   (anvil --load-state / --state) or only the connection dropped. It says so (and whether the
#   chain went back to an earlier block) and resumes: everything is re-read next round.
# * the code is gone or different: the node came back empty (or on another chain). It stops
#   with ChainGone and says why. Redeploying would start a new exchange without its accounts,
#   margin and positions, which is not a keeper's call to make.
#
# A liquidation that passes its dry run but reverts on chain (someone moved first) is reported
# with its decoded reason in `failures` and the log, never swallowed; the bot goes on with the
# next account.

log = logging.getLogger("perpvault.keeper")


class NodeLost(RuntimeError):
    """The node did not answer again within the bot's `give_up_after` seconds."""


class ChainGone(RuntimeError):
    """The node came back without the contracts the bot was keeping."""


@dataclass(frozen=True)
class ChainIdentity:
    chain_id: int
    genesis: str  # hash of block 0
    code_hash: str  # keccak of the Clearinghouse's runtime code ("" when there is none)
    block: int


@dataclass
class BotLiquidation:
    """One liquidation the bot sent: mined (`reason` None) or reverted on chain with `reason`."""

    account: str
    counterparties: list[str]
    tx_hash: str
    reason: str | None = None


def _transport_errors() -> tuple[type[BaseException], ...]:
    import http.client

    from perpvault.chain import rpc

    errors: tuple[type[BaseException], ...] = (OSError, ConnectionError, http.client.HTTPException)
    unreachable = getattr(rpc, "NodeUnreachable", None)  # a strict client's "node gone"
    return errors + ((unreachable,) if unreachable else ())


class KeeperBot:
    """The waterfall's keeper as a long-running bot over JSON-RPC (see the comment above).

    `sender` must be unlocked on the node (a dev account) or the node must sign for it,
    unless `signer` (:mod:`perpvault.chain.signers`: a private key or an ape account) signs;
    then `sender` may be None (it is the signer's address). Every transaction pays the node's
    EIP-1559 fees (:meth:`perpvault.chain.rpc.Rpc.fee_fields`), so a stock node accepts it.
    `say` receives every line the bot reports (default: the ``perpvault.keeper`` logger).
    """

    def __init__(
        self,
        url: str,
        clearinghouse: str,
        fund: str,
        sender: str | None,
        *,
        signer: Any = None,
        abis: dict[str, Any] | None = None,
        say: Any = None,
        backoff: float = 0.1,
        max_backoff: float = 2.0,
        give_up_after: float = 120.0,
        before_send: Any = None,
    ):
        from perpvault.chain.abi import load_artifacts

        if abis is None:
            abis = {n: a.functions for n, a in load_artifacts(names=("Clearinghouse", "InsuranceFund")).items()}
        self.url = url
        self.clearinghouse = clearinghouse
        self.fund = fund
        if signer is not None and sender is not None and sender.lower() != signer.address.lower():
            raise ValueError(f"keeper: --sender {sender} is not the signer's address {signer.address}")
        if signer is None and sender is None:
            raise ValueError("keeper: a sender (unlocked on the node) or a signer is needed")
        self.signer = signer
        self.sender = signer.address if signer is not None else sender
        self.ch_abi = abis["Clearinghouse"]
        self.fund_abi = abis["InsuranceFund"]
        self.say = say or log.warning
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.give_up_after = give_up_after
        self.before_send = before_send  # (account, counterparties) -> None, just before sending
        self.rpc = self._client()
        self.identity = self._identity()
        if not self.identity.code_hash:
            raise ChainGone(
                f"keeper: no Clearinghouse at {clearinghouse} on the node at {url} (chain id "
                f"{self.identity.chain_id}, block {self.identity.block}): a wrong address, or the node was "
                f"restarted empty. Restart it from its state dump (anvil --load-state / --state) or deploy first."
            )
        self.last_block = self.identity.block  # the latest block a round saw
        self.rounds = 0
        self.reconnects = 0
        self.sent: list[BotLiquidation] = []
        self.failures: list[BotLiquidation] = []

    # -- the node

    def _client(self) -> Any:
        from perpvault.chain.rpc import Rpc

        return Rpc(self.url, timeout=10.0, fees="node", signer=self.signer)

    def _identity(self) -> ChainIdentity:
        from eth_utils import keccak

        code = self.rpc.call("eth_getCode", [self.clearinghouse, "latest"])
        raw = bytes.fromhex(code[2:]) if code and code != "0x" else b""
        return ChainIdentity(
            chain_id=int(self.rpc.call("eth_chainId"), 16),
            genesis=self.rpc.call("eth_getBlockByNumber", ["0x0", False])["hash"],
            code_hash="0x" + keccak(raw).hex() if raw else "",
            block=self.rpc.block_number(),
        )

    def reconnect(self, cause: BaseException) -> None:
        """Retry the node with exponential backoff until it answers (or NodeLost), then check
        what came back: resume on the same contracts, ChainGone otherwise."""
        self.say(f"keeper: lost the node at {self.url} ({type(cause).__name__}: {cause}); reconnecting")
        started = time.monotonic()
        wait = self.backoff
        attempt = 0
        while True:
            attempt += 1
            try:
                self.rpc.close()
                self.rpc = self._client()
                now = self._identity()
                break
            except _transport_errors() as exc:
                if time.monotonic() - started + wait > self.give_up_after:
                    raise NodeLost(
                        f"keeper: the node at {self.url} did not come back within {self.give_up_after:g} s "
                        f"({attempt} attempts; last error {type(exc).__name__}: {exc})"
                    ) from exc
                self.say(f"keeper: node unreachable (attempt {attempt}), retrying in {wait:.1f} s")
                time.sleep(wait)
                wait = min(wait * 2, self.max_backoff)
        self.reconnects += 1
        self._accept(now, f"node back at block {now.block} after {attempt} attempt(s)")

    def check_chain(self) -> None:
        """Start of every round: is this still the chain the bot keeps? A client can re-open a
        dropped keep-alive connection without an error, so a node restarted between two rounds
        is only seen here. Says what changed; ChainGone if the contracts are gone."""
        now = self._identity()
        moved = now.genesis != self.identity.genesis or now.code_hash != self.identity.code_hash
        if moved or now.block < self.last_block:
            self.reconnects += 1
            self._accept(now, f"the node at {self.url} changed between two rounds: now at block {now.block}")
        else:
            self.last_block = now.block

    def _accept(self, now: ChainIdentity, what: str) -> None:
        """Resume on `now` if it still has the Clearinghouse's code (saying what changed), else ChainGone."""
        was = self.identity
        if not now.code_hash or now.code_hash != was.code_hash or now.chain_id != was.chain_id:
            how = "without the Clearinghouse" if not now.code_hash else "with different code at the Clearinghouse"
            raise ChainGone(
                f"keeper: the node at {self.url} came back {how} at {self.clearinghouse} "
                f"(chain id {now.chain_id}, block {now.block}; it was block {self.last_block}"
                f"{', same genesis' if now.genesis == was.genesis else ', new genesis'}): it was restarted empty "
                f"or on another chain. Stopping: redeploying would start a new exchange without its accounts. "
                f"Restart the node from its state dump (anvil --load-state / --state) to resume."
            )
        how = []
        if now.genesis != was.genesis:
            how.append("a new genesis (restored from a state dump)")
        if now.block < self.last_block:
            how.append(f"reset to block {now.block} from {self.last_block}: anything after the dump is gone")
        self.say(f"keeper: {what}, Clearinghouse code unchanged{'; ' + ', '.join(how) if how else ''}; resuming")
        self.identity = now
        self.last_block = now.block

    # -- reading (every round, from scratch)

    def _view(self, abi: Any, to: str, name: str, *args: Any) -> Any:
        fn = abi.fn(name)
        return fn.decode(self.rpc.eth_call(to, fn.encode(*args), label=name))

    def _ch(self, name: str, *args: Any) -> Any:
        return self._view(self.ch_abi, self.clearinghouse, name, *args)

    def known_accounts(self) -> list[str]:
        """Every account the Clearinghouse knows, checksummed."""
        from eth_utils import to_checksum_address

        return [to_checksum_address(self._ch("account_at", i)) for i in range(self._ch("account_count"))]

    def liquidatable_accounts(self) -> list[str]:
        return [a for a in self.known_accounts() if self._ch("is_liquidatable", a)]

    def model(self) -> Exchange:
        """The bot's view of the chain: the reference model of the latest block (the markets, every
        known account, the fund, the vault's peak) at the time the liquidation will run. Prices are
        read as the Clearinghouse reads them (`mark_price`, whatever the oracle behind it): whether
        they are still fresh when the transaction runs is for the dry run to find."""
        from perpvault.model.exchange import Addresses
        from perpvault.model.state import MarketParams, MarketState, Position, RiskParams

        n = self._ch("market_count")
        now = max(self.rpc.timestamp() + 1, int(time.time()))
        owner = self._ch("owner")
        markets = [(MarketParams.of(self._ch("params", m)), self._ch("mark_price", m)) for m in range(n)]
        addresses = Addresses(clearinghouse=self.clearinghouse.lower(), fund=self.fund.lower(),
                              vault=str(self._ch("vault")).lower())
        ex = Exchange(owner, owner, markets=markets, risk=RiskParams.of(self._ch("risk")), now=now,
                      addresses=addresses)
        ch = ex.w.ch
        for m in range(n):
            ch.markets[m] = MarketState(*(int(v) for v in self._ch("markets", m)[1:]))  # without the oracle
        ch.paused = bool(self._ch("paused"))
        ch.insurance_due = self._ch("insurance_due")
        ch.vault_peak_share_value = self._ch("vault_peak_share_value")
        ch.vault_peak_time = self._ch("vault_peak_time")
        ch.known = [a.lower() for a in self.known_accounts()]
        ch.known_set = set(ch.known)
        for a in ch.known:
            account = ch.acct(a)
            account.margin = self._ch("margin", a)
            account.market_mask = self._ch("market_mask", a)
            for m in range(n):
                position = Position(*(int(v) for v in self._ch("positions", a, m)))
                if position != Position():
                    account.positions[m] = position
        ch.load_sides(lambda key: self._ch("side_count", key), lambda key, slot: self._ch("side_at", key, slot))
        fund = ex.w.fund
        fund.total_in = self._view(self.fund_abi, self.fund, "total_in")
        fund.total_out = self._view(self.fund_abi, self.fund, "total_out")
        ex.w.token.balances[fund.address] = fund.available()  # what `cover` can pay out (I5)
        # The vault's share supply and idle tokens: the loss cap prices a share with them.
        from perpvault.chain.abi import Function

        vault = addresses.vault
        supply = Function("totalSupply", (), ("uint256",), "view")
        balance = Function("balanceOf", ("address",), ("uint256",), "view")
        ex.w.vault.total_supply = supply.decode(self.rpc.eth_call(vault, supply.encode(), label="totalSupply"))
        token = str(self._ch("collateral"))
        ex.w.token.balances[vault] = balance.decode(
            self.rpc.eth_call(token, balance.encode(vault), label="balanceOf"))
        return ex

    # -- acting

    def dry_run(self, account: str, counterparties: list[str]) -> str | None:
        from perpvault.chain.rpc import CallReverted

        data = self.ch_abi.fn("liquidate").encode(account, counterparties)
        try:
            self.rpc.eth_call(self.clearinghouse, data, sender=self.sender, label="liquidate")
        except CallReverted as exc:
            return exc.reason
        return None

    def counterparties(self, account: str) -> list[str] | None:
        """The ADL list for `account` (checked by a dry run), or None (reported) if it would revert."""
        reason = self.dry_run(account, [])
        if reason is None:
            return []
        if reason == "ch: adl list too short":
            try:
                cps = _checksummed(plan_liquidation(self.model(), account, self.sender)).counterparties
            except NoPlan as exc:
                self.say(f"keeper: not liquidating {account}: the model's waterfall reverts with {exc.reason!r}")
                return None
            reason = self.dry_run(account, cps)
            if reason is None:
                return cps
        self.say(f"keeper: not liquidating {account}: the dry run reverts with {reason!r}")
        return None

    def liquidate(self, account: str) -> BotLiquidation | None:
        from perpvault.chain.rpc import ReceiptTimeout, RpcError, TxReverted
        from perpvault.chain.signers import SignerDeclined

        cps = self.counterparties(account)
        if cps is None:
            return None
        if self.before_send is not None:
            self.before_send(account, cps)
        data = self.ch_abi.fn("liquidate").encode(account, cps)
        try:
            receipt = self.rpc.send_transaction(self.sender, self.clearinghouse, data, label=f"liquidate {account}")
        except TxReverted as exc:
            failed = BotLiquidation(account, cps, exc.tx_hash, exc.reason)
            self.failures.append(failed)
            self.say(f"keeper: liquidate({account}) reverted on chain: {exc.reason!r} (tx {exc.tx_hash})")
            return failed
        except (RpcError, ReceiptTimeout, SignerDeclined) as exc:
            # The node refused the transaction (insufficient funds for its fees, a nonce
            # clash), it sat in the pool, or the signer did not sign: reported, and the round
            # goes on with the next account.
            failed = BotLiquidation(account, cps, getattr(exc, "tx_hash", ""), str(exc))
            self.failures.append(failed)
            self.say(f"keeper: liquidate({account}) not mined: {exc}")
            return failed
        done = BotLiquidation(account, cps, receipt["transactionHash"])
        self.sent.append(done)
        self.say(f"keeper: liquidated {account} with {len(cps)} ADL counterparties (tx {done.tx_hash})")
        return done

    def round(self) -> list[BotLiquidation]:
        """One pass: check the chain, then liquidate every liquidatable account. Transport
        errors propagate (run() reconnects)."""
        self.check_chain()
        out = [r for a in self.liquidatable_accounts() if (r := self.liquidate(a)) is not None]
        self.rounds += 1
        self.last_block = max(self.last_block, self.rpc.block_number())
        return out

    def run(self, *, rounds: int | None = None, interval: float = 1.0, stop: Any = None) -> None:
        """Run rounds every `interval` seconds until `rounds` are done or `stop` (a
        threading.Event) is set; survive the node going away (see the class)."""
        done = 0
        while (rounds is None or done < rounds) and not (stop is not None and stop.is_set()):
            try:
                self.round()
                done += 1
            except _transport_errors() as exc:
                self.reconnect(exc)
                continue
            except (ChainGone, NodeLost):
                raise
            except Exception as exc:
                # A round cut short by the node changing under it (a read of a chain that is not
                # the one it planned on) shows in a fresh check; anything else is a real error.
                seen = self.reconnects
                try:
                    self.check_chain()
                except _transport_errors():
                    self.reconnect(exc)
                    continue
                if self.reconnects == seen:
                    raise
                continue
            if stop is not None:
                stop.wait(interval)
            else:
                time.sleep(interval)


# --- `perpvault keeper`: the bot from the command line -------------------------------------


def register(sub: Any) -> None:
    """Adds the ``keeper`` subcommand (for perpvault.cli's JOBS)."""
    from perpvault.cliargs import positive_float, positive_int

    p = sub.add_parser("keeper", help="run the liquidation keeper bot against a node; survives the node restarting",
                       description="The liquidation keeper: every round it reads the chain, plans each "
                                   "liquidation on the reference model (the ADL list the contract accepts), "
                                   "sends it, and sweeps the fund's dues. It waits for a node that goes away "
                                   "and resumes when it comes back (checking it is the same chain).")
    p.add_argument("--url", default="http://127.0.0.1:8545",
                   help="the node's JSON-RPC URL: http://host:port (a local node) or https://host/path (a hosted one)")
    p.add_argument("--clearinghouse", required=True, help="the Clearinghouse's address")
    p.add_argument("--fund", required=True, help="the InsuranceFund's address")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--sender", help="the keeper's address, unlocked on the node (a dev account)")
    who.add_argument("--key-env", metavar="VAR",
                     help="sign with the private key in environment variable VAR (never on the command line)")
    who.add_argument("--account", metavar="ALIAS",
                     help="sign with the ape account ALIAS (ape accounts list); a keyfile is unlocked once at start "
                          "(APE_ACCOUNTS_<alias>_PASSPHRASE or a prompt) and then signs unattended")
    p.add_argument("--rounds", type=positive_int, default=None,
                   help="stop after this many rounds, >= 1 (default: run until killed)")
    p.add_argument("--interval", type=positive_float, default=1.0, help="seconds between rounds, > 0 (default 1)")
    p.add_argument("--give-up-after", type=positive_float, default=120.0,
                   help="seconds to wait for a lost node, > 0 (default 120)")
    p.set_defaults(func=run_bot)


def run_bot(args: Any) -> int:
    """Runs the bot; exit 0 when the rounds are done, 3 when the chain is gone, 4 when the node is lost."""
    import os
    import re
    import sys

    from perpvault.cliargs import usage_error

    signer = None
    if getattr(args, "key_env", None):
        from perpvault.chain.signers import KeySigner

        if re.fullmatch(r"(0x)?[0-9a-fA-F]{64}", args.key_env):
            usage_error("perpvault keeper", "--key-env takes the NAME of an environment variable, and this looks like "
                                            "a private key itself: it is now in your shell history and visible to ps")
        key = os.environ.get(args.key_env, "").strip()
        if not key:
            usage_error("perpvault keeper", f"--key-env {args.key_env}: that environment variable is empty or unset")
        try:
            signer = KeySigner(key)
        except ValueError:
            usage_error("perpvault keeper", f"--key-env {args.key_env}: not a private key (64 hex digits)")
    elif getattr(args, "account", None):
        from perpvault.chain.signers import ApeSigner

        try:
            signer = ApeSigner.load(args.account)
        except Exception as exc:  # ape's AccountsError and friends: say which alias, briefly
            usage_error("perpvault keeper", f"--account {args.account}: {(str(exc).splitlines() or [repr(exc)])[0]}")
    from perpvault.chain.rpc import parse_url

    try:
        parse_url(args.url)
    except ValueError as exc:
        usage_error("perpvault keeper", f"--url: {exc}")
    try:
        bot = KeeperBot(args.url, args.clearinghouse, args.fund, getattr(args, "sender", None), signer=signer,
                        say=print, give_up_after=args.give_up_after)
        bot.run(rounds=args.rounds, interval=args.interval)
    except ChainGone as exc:
        print(exc, file=sys.stderr)
        return 3
    except NodeLost as exc:
        print(exc, file=sys.stderr)
        return 4
    print(f"keeper: {bot.rounds} rounds, {len(bot.sent)} liquidations, {len(bot.failures)} reverted on chain")
    return 0


__all__ = [
    "BotLiquidation",
    "ChainGone",
    "ChainIdentity",
    "Keeper",
    "KeeperBot",
    "NodeLost",
    "dry_run",
    "register",
    "run_bot",
]
