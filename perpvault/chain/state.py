"""Read the whole on-chain book at once, and check I1/I2/I5 on what was read.

Three readers return the same :class:`ChainState`:

- :class:`StateReader` (the hot path): one ``eth_call`` to StateReader.vy, whose runtime
  code is installed at :data:`READER_ADDRESS` with ``anvil_setCode`` (no transaction, so
  nonces and deployment addresses are untouched; it survives ``evm_revert`` to any
  snapshot taken after installation).
- :func:`read_state_batch`: plain view calls in JSON-RPC batches (three round trips),
  independent of StateReader.vy; the test uses it to check the reader.
- :func:`read_state_ape`: the same views through ape contract objects (the bench's
  baseline and the test's third opinion).

The comparison with the reference model belongs to the fuzz state machine; these only
return raw numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import to_checksum_address

from perpvault.chain.abi import Function, abi_type, load_state_reader
from perpvault.chain.rpc import RpcError
from perpvault.chain.raw import RawSystem

READER_ADDRESS = "0x00000000000000000000000000000000F022DEAD"


@dataclass(frozen=True)
class PositionState:
    size: int
    open_notional: int
    funding_index: int


@dataclass(frozen=True)
class MarketState:
    oracle: str
    funding_index: int
    last_funding_time: int
    mark_ema: int
    funding_pool: int
    funding_weight: int
    open_interest: int


@dataclass(frozen=True)
class AccountState:
    address: str  # checksummed
    known: bool  # registered in the clearinghouse (account_at)
    margin: int
    equity: int | None  # None: equity() reverted (stale oracle)
    wallet: int  # collateral token balance outside the clearinghouse
    positions: tuple[PositionState, ...]  # one per market, by market id


@dataclass
class ChainState:
    block_number: int
    timestamp: int
    accounts: dict[str, AccountState]  # known accounts in registration order, then extras
    markets: tuple[MarketState, ...]
    insurance_due: int
    clearinghouse_balance: int
    fund_balance: int
    fund_total_in: int
    fund_total_out: int
    vault_total_supply: int
    vault_total_assets: int | None  # None: totalAssets() reverted
    extras: dict[str, Any] = field(default_factory=dict)

    def known(self) -> list[AccountState]:
        return [a for a in self.accounts.values() if a.known]

    def book(self) -> dict[str, Any]:
        """Everything but block number and timestamp, for comparing two reads of one state."""
        return {
            "accounts": self.accounts,
            "markets": self.markets,
            "insurance_due": self.insurance_due,
            "clearinghouse_balance": self.clearinghouse_balance,
            "fund": (self.fund_balance, self.fund_total_in, self.fund_total_out),
            "vault": (self.vault_total_supply, self.vault_total_assets),
        }


# --- invariants on a read ----------------------------------------------------------------


def check_invariants(state: ChainState) -> list[str]:
    """I1, I2 (exact) and I5 on one read; returns the violations (empty when all hold).

    I1: in every market the sizes of all known accounts sum to zero.
    I2: token balance == sum(margin) - sum(open_notional) + insurance_due + sum(funding_pool).
    I5: the fund's token balance == total_in - total_out.
    """
    violations: list[str] = []
    known = state.known()
    for m in range(len(state.markets)):
        total = sum(a.positions[m].size for a in known)
        if total != 0:
            violations.append(f"I1 market {m}: sizes sum to {total}")
    margins = sum(a.margin for a in known)
    basis = sum(p.open_notional for a in known for p in a.positions)
    pools = sum(s.funding_pool for s in state.markets)
    books = margins - basis + state.insurance_due + pools
    if state.clearinghouse_balance != books:
        violations.append(
            f"I2: balance {state.clearinghouse_balance} != books {books} (diff {state.clearinghouse_balance - books})"
        )
    if state.fund_balance != state.fund_total_in - state.fund_total_out:
        violations.append(
            f"I5: fund balance {state.fund_balance} != in - out {state.fund_total_in - state.fund_total_out}"
        )
    return violations


# --- the one-call reader -----------------------------------------------------------------


class StateReader:
    """Reads a :class:`ChainState` with one eth_call.

    `extra` accounts (e.g. traders before their first deposit) are read too, wallets only,
    when the clearinghouse does not know them yet.
    """

    def __init__(self, system: RawSystem, extra: list[str] | tuple[str, ...] = (), address: str = READER_ADDRESS):
        self.system = system
        self.address = address
        artifact = load_state_reader()
        fn_abi = next(e for e in artifact.abi if e.get("name") == "read")
        self._fn = Function("read", tuple(abi_type(i) for i in fn_abi["inputs"]), tuple(abi_type(o) for o in fn_abi["outputs"]), "view")
        self._runtime = artifact.bytecode
        self.install()
        self.set_extra(extra)

    def install(self) -> None:
        """Put the reader's code at its address (again after a revert to an older snapshot)."""
        self.system.rpc.call("anvil_setCode", [self.address, "0x" + self._runtime.hex()])

    def set_extra(self, extra: list[str] | tuple[str, ...]) -> None:
        s = self.system
        self._calldata = "0x" + self._fn.encode(s.clearinghouse, s.usdc, s.fund, s.vault, list(extra)).hex()
        self._tx = {"to": self.address, "data": self._calldata, "gas": hex(200_000_000)}

    def read(self, block: str = "latest") -> ChainState:
        raw = self.system.rpc.call("eth_call", [self._tx, block])
        return decode_book(bytes.fromhex(raw[2:]))

    def start(self) -> None:
        """Send the read and return at once (:meth:`finish` decodes the reply); see Rpc.start."""
        self.system.rpc.start("eth_call", [self._tx, "latest"])

    def finish(self) -> ChainState:
        return decode_book(bytes.fromhex(self.system.rpc.finish("eth_call")[2:]))

    def read_slow(self, block: str = "latest") -> ChainState:
        """The same read decoded by eth_abi (~10x slower): a cross-check of :func:`decode_book`."""
        raw = self.system.rpc.call("eth_call", [self._tx, block])
        return _from_book(abi_decode(list(self._fn.outputs), bytes.fromhex(raw[2:]))[0])


_checksums: dict[bytes, str] = {}


def _address(word: bytes) -> str:
    """A 32-byte ABI word holding an address -> checksummed address (memoized: few distinct accounts)."""
    cached = _checksums.get(word)
    if cached is None:
        cached = _checksums[word] = to_checksum_address(word[12:])
    return cached


# Decoded accounts and markets by their ABI bytes: between two steps most accounts are
# unchanged, and every example starts again from the same post-setup book, so most reads
# decode only the few words that locate each account (exact: equal bytes, equal values).
_DECODED: dict[bytes, Any] = {}
_DECODED_MAX = 20_000


def _s(x: int) -> int:
    """An ABI word read unsigned, reinterpreted as int256 (two's complement)."""
    return x - (1 << 256) if x >> 255 else x


def _decode_account(chunk: bytes) -> AccountState:
    """One AccountState encoding: 6 words, the offset of its positions (from the AccountState
    start), then the positions: their count and 3 words each."""
    w = [int.from_bytes(chunk[k:k + 32], "big") for k in range(0, len(chunk), 32)]
    p = w[6] // 32
    positions = tuple(PositionState(_s(w[q]), _s(w[q + 1]), _s(w[q + 2])) for q in range(p + 1, p + 1 + 3 * w[p], 3))
    return AccountState(_address(chunk[:32]), w[1] != 0, _s(w[2]), _s(w[3]) if w[4] else None, w[5], positions)


def _decode_market(chunk: bytes) -> MarketState:
    w = [int.from_bytes(chunk[k:k + 32], "big") for k in range(32, 224, 32)]
    return MarketState(_address(chunk[:32]), _s(w[0]), w[1], w[2], _s(w[3]), _s(w[4]), w[5])


def decode_book(data: bytes) -> ChainState:
    """Decode StateReader.read's return value by hand (eth_abi takes ~2 ms for ~15 accounts).

    Layout (ABI): offset of the Book tuple; the tuple head (12 words, the two arrays as
    offsets from the tuple start); accounts: length, one offset per AccountState (from the
    array body start), each AccountState 6 words + the offset of its positions (from the
    AccountState start), positions: length then 3 words each; markets: length then 7 words
    each (MarketState is static). Each account's and market's bytes are decoded once and
    remembered (:data:`_DECODED`).
    """

    def u(i: int) -> int:
        return int.from_bytes(data[32 * i:32 * i + 32], "big")

    if len(_DECODED) > _DECODED_MAX:
        _DECODED.clear()
    t = u(0) // 32  # word index of the Book tuple
    head = [u(t + i) for i in range(12)]
    acc = t + head[2] // 32
    mkt = t + head[3] // 32
    accounts: dict[str, AccountState] = {}
    body = acc + 1
    for k in range(u(acc)):
        a = body + u(body + k) // 32
        p = a + u(a + 6) // 32
        chunk = data[32 * a:32 * (p + 1 + 3 * u(p))]
        account = _DECODED.get(chunk)
        if account is None:
            account = _DECODED[chunk] = _decode_account(chunk)
        accounts[account.address] = account
    markets = []
    for q in range(mkt + 1, mkt + 1 + 7 * u(mkt), 7):
        chunk = data[32 * q:32 * q + 224]
        market = _DECODED.get(chunk)
        if market is None:
            market = _DECODED[chunk] = _decode_market(chunk)
        markets.append(market)
    return ChainState(
        block_number=head[0],
        timestamp=head[1],
        accounts=accounts,
        markets=tuple(markets),
        insurance_due=head[4],
        clearinghouse_balance=head[5],
        fund_balance=head[6],
        fund_total_in=head[7],
        fund_total_out=head[8],
        vault_total_supply=head[9],
        vault_total_assets=head[10] if head[11] else None,
    )


def _from_book(book: tuple) -> ChainState:
    (block_number, timestamp, accounts, markets, insurance_due, ch_balance, fund_balance, total_in, total_out,
     supply, assets, assets_ok) = book
    out: dict[str, AccountState] = {}
    for address, known, margin, equity, equity_ok, wallet, positions in accounts:
        address = to_checksum_address(address)
        out[address] = AccountState(
            address, known, margin, equity if equity_ok else None, wallet,
            tuple(PositionState(*p) for p in positions),
        )
    return ChainState(
        block_number=block_number,
        timestamp=timestamp,
        accounts=out,
        markets=tuple(MarketState(to_checksum_address(m[0]), *m[1:]) for m in markets),
        insurance_due=insurance_due,
        clearinghouse_balance=ch_balance,
        fund_balance=fund_balance,
        fund_total_in=total_in,
        fund_total_out=total_out,
        vault_total_supply=supply,
        vault_total_assets=assets if assets_ok else None,
    )


# --- the batch reader --------------------------------------------------------------------


def read_state_batch(system: RawSystem, extra: list[str] | tuple[str, ...] = (), block: str | None = None) -> ChainState:
    """The same read with plain view calls, in three JSON-RPC batches (counts, accounts, rest).

    Pass `block` (a hex block number) to pin all three batches to one block.
    """
    rpc, c = system.rpc, system.calls
    ch, usdc, fund, vault = system.clearinghouse, system.usdc, system.fund, system.vault
    block = block or hex(rpc.block_number())

    def q(to: str, data: bytes) -> tuple[str, list]:
        return ("eth_call", [{"to": to, "data": "0x" + data.hex()}, block])

    header = rpc.batch([q(ch, c.account_count), q(ch, c.market_count), ("eth_getBlockByNumber", [block, False])])
    n_accounts, n_markets = int(header[0], 16), int(header[1], 16)
    known = [
        to_checksum_address(c.account_at_fn.decode(bytes.fromhex(r[2:])))
        for r in rpc.batch([q(ch, c.account_at(i)) for i in range(n_accounts)])
    ]
    is_known = system.abis["Clearinghouse"].fn("is_known")
    extra = [to_checksum_address(a) for a in extra if to_checksum_address(a) not in known]
    flags = rpc.batch([q(ch, is_known.encode(a)) for a in extra])
    extra = [a for a, f in zip(extra, flags) if not int(f, 16)]
    everyone = known + extra

    requests: list[tuple[str, list]] = []
    for a in everyone:
        requests += [q(ch, c.margin(a)), q(ch, c.equity(a)), q(usdc, c.balance_of(a))]
        requests += [q(ch, c.positions(a, m)) for m in range(n_markets)]
    requests += [q(ch, c.markets(m)) for m in range(n_markets)]
    requests += [
        q(ch, c.insurance_due), q(usdc, c.balance_of(ch)), q(usdc, c.balance_of(fund)),
        q(fund, c.fund_total_in), q(fund, c.fund_total_out),
        q(vault, c.vault_total_supply), q(vault, c.vault_total_assets),
    ]
    results = iter(rpc.batch(requests, raise_errors=False))

    def value(fn: Function | None = None) -> Any:
        r = next(results)
        if isinstance(r, RpcError):
            return None
        data = bytes.fromhex(r[2:])
        return fn.decode(data) if fn else int.from_bytes(data, "big", signed=False)

    margin_fn, equity_fn = c.margin_fn, c.equity_fn
    accounts: dict[str, AccountState] = {}
    for i, a in enumerate(everyone):
        margin, equity, wallet = value(margin_fn), value(equity_fn), value()
        positions = tuple(PositionState(*value(c.positions_fn)) for _ in range(n_markets))
        accounts[a] = AccountState(a, i < len(known), margin, equity, wallet, positions)
    markets = tuple(MarketState(to_checksum_address(s[0]), *s[1:]) for s in (value(c.markets_fn) for _ in range(n_markets)))
    due, ch_balance, fund_balance, total_in, total_out, supply, assets = (value() for _ in range(7))
    return ChainState(
        block_number=int(block, 16),
        timestamp=int(header[2]["timestamp"], 16),
        accounts=accounts,
        markets=markets,
        insurance_due=due,
        clearinghouse_balance=ch_balance,
        fund_balance=fund_balance,
        fund_total_in=total_in,
        fund_total_out=total_out,
        vault_total_supply=supply,
        vault_total_assets=assets,
    )


# --- through ape -------------------------------------------------------------------------


def read_state_ape(system: Any, extra: list[Any] | tuple[Any, ...] = ()) -> ChainState:
    """The same read through ape contract objects (`system` is a perpvault.chain.deploy.System).

    One RPC (or more) per view: this is the baseline the raw reader is measured against.
    """
    from ape.exceptions import ContractLogicError

    ch, usdc, fund, vault = system.clearinghouse, system.usdc, system.fund, system.vault
    n_markets = ch.market_count()
    known = [to_checksum_address(str(ch.account_at(i))) for i in range(ch.account_count())]
    extra_addresses = [to_checksum_address(str(getattr(a, "address", a))) for a in extra]
    extra_addresses = [a for a in extra_addresses if a not in known and not ch.is_known(a)]

    accounts: dict[str, AccountState] = {}
    for i, a in enumerate(known + extra_addresses):
        try:
            equity: int | None = ch.equity(a)
        except ContractLogicError:
            equity = None
        positions = tuple(PositionState(*ch.positions(a, m)) for m in range(n_markets))
        accounts[a] = AccountState(a, i < len(known), ch.margin(a), equity, usdc.balanceOf(a), positions)
    markets = tuple(MarketState(to_checksum_address(str(s[0])), *s[1:]) for s in (ch.markets(m) for m in range(n_markets)))
    try:
        assets: int | None = vault.totalAssets()
    except ContractLogicError:
        assets = None
    block = system.clearinghouse.chain_manager.blocks.head
    return ChainState(
        block_number=block.number,
        timestamp=block.timestamp,
        accounts=accounts,
        markets=markets,
        insurance_due=ch.insurance_due(),
        clearinghouse_balance=usdc.balanceOf(ch),
        fund_balance=usdc.balanceOf(fund),
        fund_total_in=fund.total_in(),
        fund_total_out=fund.total_out(),
        vault_total_supply=vault.totalSupply(),
        vault_total_assets=assets,
    )
