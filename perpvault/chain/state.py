"""The whole on-chain state at once: :class:`ChainState`, and the readers that fill it.

One state, three readers (each returns the same :class:`ChainState`, exactly):

- :class:`StateReader` (the hot path, both drivers): one ``eth_call`` to StateReader.vy at
  :data:`READER_ADDRESS`. The raw driver installs its runtime code there with
  ``anvil_setCode`` (no transaction, so nonces and deployment addresses are untouched; it
  survives ``evm_revert`` to any snapshot taken after installation); the ape driver sends it
  as an ``eth_call`` state override instead (nothing installed, so ape's per-test snapshots
  cannot lose it).
- :func:`read_state_batch`: plain view calls in JSON-RPC batches, independent of
  StateReader.vy (the test's second opinion, and the replay's reader: StateReader stops at
  32 accounts).
- :func:`perpvault.chain.ape_driver.read_state_ape`: the same views through ape contract
  objects (the third opinion).

They only return raw numbers; :func:`perpvault.chain.compare.diff` compares a state with
the reference model and :func:`perpvault.chain.invariants.check_invariants` checks I1, I2
and I5 on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from eth_abi import decode as abi_decode
from eth_utils import to_checksum_address

from perpvault.chain.abi import Function, abi_type, load_state_reader
from perpvault.chain.rpc import RpcError, decode_revert

if TYPE_CHECKING:
    from perpvault.chain.raw import RawSystem

READER_ADDRESS = "0x00000000000000000000000000000000F022DEAD"
REASON_BYTES = 32  # StateReader keeps the first word of a view's revert reason


@dataclass(frozen=True)
class PositionState:
    size: int
    open_notional: int
    funding_index: int
    entry_price: int = 0  # position(): 0 when flat
    adl_score: int | None = 0  # adl_score(): 0 when flat; None when it reverted (stale oracle)

    @property
    def stored(self) -> tuple[int, int, int]:
        """The Position struct as stored: (size, open_notional, funding_index)."""
        return (self.size, self.open_notional, self.funding_index)


@dataclass(frozen=True)
class MarketState:
    oracle: str
    funding_index: int
    last_funding_time: int
    funding_price: int
    funding_pool: int
    funding_weight: int
    open_interest: int
    funding_index_now: int | None = None  # funding_index(): None when it reverted

    @property
    def stored(self) -> tuple[int, int, int, int, int, int]:
        """The MarketState struct as stored, oracle left out."""
        return (
            self.funding_index,
            self.last_funding_time,
            self.funding_price,
            self.funding_pool,
            self.funding_weight,
            self.open_interest,
        )


@dataclass(frozen=True)
class HealthState:
    """Clearinghouse.health(): equity, initial and maintenance requirements, notional."""

    equity: int
    initial: int
    maintenance: int
    notional: int


@dataclass(frozen=True)
class AccountState:
    address: str  # checksummed
    known: bool  # registered in the clearinghouse (account_at)
    margin: int
    market_mask: int
    wallet: int  # collateral token balance outside the clearinghouse
    shares: int  # LiquidityVault shares (balanceOf)
    health: HealthState | None  # None: health() reverted (stale oracle)
    revert_reason: str  # health()'s revert reason, cut to REASON_BYTES ("" when it did not revert)
    positions: tuple[PositionState, ...]  # one per market, by market id

    @property
    def equity(self) -> int | None:
        return None if self.health is None else self.health.equity


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
    vault_balance: int  # collateral tokens the LiquidityVault holds itself
    vault_total_supply: int
    vault_total_assets: int | None  # None: totalAssets() reverted
    paused: bool
    vault_peak_share_value: int
    vault_peak_time: int
    token_total_supply: int
    extras: dict[str, Any] = field(default_factory=dict)

    def known(self) -> list[AccountState]:
        return [a for a in self.accounts.values() if a.known]

    def book(self) -> dict[str, Any]:
        """Everything but block number and timestamp, for comparing two reads of one state."""
        return {
            "accounts": self.accounts,
            "markets": self.markets,
            "insurance_due": self.insurance_due,
            "balances": (
                self.clearinghouse_balance,
                self.fund_balance,
                self.vault_balance,
                self.token_total_supply,
            ),
            "fund": (self.fund_total_in, self.fund_total_out),
            "vault": (
                self.vault_total_supply,
                self.vault_total_assets,
                self.vault_peak_share_value,
                self.vault_peak_time,
            ),
            "paused": self.paused,
        }


def cut_reason(reason: str) -> str:
    """A revert reason as StateReader reports it: its first REASON_BYTES bytes."""
    return reason.encode()[:REASON_BYTES].decode(errors="ignore")


def _address(handle: Any) -> str:
    """An address from an address string or anything with an ``address`` (ape contracts)."""
    return str(getattr(handle, "address", handle))


# --- the one-call reader -----------------------------------------------------------------


class Transport(Protocol):
    """What StateReader needs of a node connection (perpvault.chain.rpc.Rpc has it)."""

    def call(self, method: str, params: list | None = None) -> Any: ...

    def start(self, method: str, params: list | None = None) -> None: ...

    def finish(self, method: str = "") -> Any: ...

    def batch(self, requests: list[tuple[str, list]]) -> list[Any]: ...


PAGE = 32  # StateReader.vy's MAX_ACCOUNTS: accounts per eth_call
PAGES_PER_BATCH = 64  # pages per JSON-RPC batch (Anvil refuses very large batches)


class StateReader:
    """Reads a :class:`ChainState` with one eth_call (one per page of :data:`PAGE` accounts
    when there are more: the further pages in one JSON-RPC batch, pinned to the first's
    block).

    `system`: anything whose ``clearinghouse``, ``usdc``, ``fund`` and ``vault`` are the
    contracts (addresses or ape objects). `extra` accounts (traders before their first
    trade, LPs) are read too, wallet and shares only, while the clearinghouse does not know
    them. `override`: send the code with every call (a state override) instead of
    installing it once with ``anvil_setCode``.
    """

    def __init__(
        self,
        transport: Transport,
        system: Any,
        extra: list[str] | tuple[str, ...] = (),
        *,
        override: bool = False,
        address: str = READER_ADDRESS,
    ):
        self.transport = transport
        self.address = address
        self._contracts = tuple(
            _address(getattr(system, n)) for n in ("clearinghouse", "usdc", "fund", "vault")
        )
        artifact = load_state_reader()
        fn_abi = next(e for e in artifact.abi if e.get("name") == "read")
        self._fn = Function(
            "read",
            tuple(abi_type(i) for i in fn_abi["inputs"]),
            tuple(abi_type(o) for o in fn_abi["outputs"]),
            "view",
        )
        self._runtime = artifact.bytecode
        self._override = {address: {"code": "0x" + self._runtime.hex()}} if override else None
        if not override:
            self.install()
        self.set_extra(extra)

    def install(self) -> None:
        """Put the reader's code at its address (again after a revert to an older snapshot)."""
        self.transport.call("anvil_setCode", [self.address, "0x" + self._runtime.hex()])

    def set_extra(self, extra: list[str] | tuple[str, ...]) -> None:
        self._extra = [_address(a) for a in extra]
        if len(self._extra) >= PAGE:
            raise ValueError(f"at most {PAGE - 1} extra accounts (a page holds {PAGE})")
        self._first_page = self._page(0, self._extra)

    def _page(self, first: int, extra: list[str]) -> dict:
        calldata = "0x" + self._fn.encode(*self._contracts, extra, first).hex()
        return {"to": self.address, "data": calldata, "gas": hex(200_000_000)}

    def _params(self, tx: dict, block: str) -> list:
        return [tx, block] if self._override is None else [tx, block, self._override]

    def read(self, block: str = "latest") -> ChainState:
        raw = _hex(self.transport.call("eth_call", self._params(self._first_page, block)))
        return self._complete(*_decode_page(raw), decode=_decode_page)

    def start(self) -> None:
        """Send the read and return at once (:meth:`finish` decodes the reply); see Rpc.start."""
        self.transport.start("eth_call", self._params(self._first_page, "latest"))

    def finish(self) -> ChainState:
        raw = _hex(self.transport.finish("eth_call"))
        return self._complete(*_decode_page(raw), decode=_decode_page)

    def read_slow(self, block: str = "latest") -> ChainState:
        """The same read decoded by eth_abi (~10x slower): a cross-check of :func:`decode_book`."""
        raw = _hex(self.transport.call("eth_call", self._params(self._first_page, block)))
        return self._complete(*self._slow_page(raw), decode=self._slow_page)

    def _slow_page(self, raw: bytes) -> tuple[ChainState, int]:
        book = abi_decode(list(self._fn.outputs), raw)[0]
        return _from_book(book), book[-1]

    def _complete(self, state: ChainState, total: int, *, decode: Any) -> ChainState:
        """`state` (the first page) with the known accounts of the further pages, if any."""
        known = [a for a in state.accounts.values() if a.known]
        if len(known) >= total:
            return state
        block = hex(state.block_number)
        firsts = range(len(known), total, PAGE)
        requests = [("eth_call", self._params(self._page(f, []), block)) for f in firsts]
        replies = [
            reply
            for i in range(0, len(requests), PAGES_PER_BATCH)
            for reply in self.transport.batch(requests[i : i + PAGES_PER_BATCH])
        ]
        for reply in replies:
            known += [a for a in decode(_hex(reply))[0].accounts.values() if a.known]
        extras = [a for a in state.accounts.values() if not a.known]
        state.accounts = {a.address: a for a in [*known, *extras]}
        return state


def _hex(value: Any) -> bytes:
    return bytes.fromhex(value[2:]) if isinstance(value, str) else bytes(value)


_checksums: dict[bytes, str] = {}


def _checksummed(word: bytes) -> str:
    """A 32-byte ABI word holding an address -> checksummed address (memoized: few distinct
    accounts)."""
    cached = _checksums.get(word)
    if cached is None:
        cached = _checksums[word] = to_checksum_address(word[12:])
    return cached


def _reason(word: bytes) -> str:
    """StateReader's reason word (Error(string)'s first 32 bytes, zero-padded) as text."""
    return word.rstrip(b"\0").decode(errors="ignore")


# Decoded accounts and markets by their ABI bytes: between two steps most accounts are
# unchanged, and every example starts again from the same post-setup state, so most reads
# decode only the few words that locate each account (exact: equal bytes, equal values).
_DECODED: dict[bytes, Any] = {}
_DECODED_MAX = 20_000

ACCOUNT_HEAD = 13  # words of an AccountState before its positions: 12 values and the offset
POSITION_WORDS = 6  # PositionState: size, open_notional, funding_index, entry, score, score_ok
MARKET_WORDS = 9  # MarketRead: the 7 stored words, funding_index(), its ok flag
BOOK_HEAD = 18  # words of the Book tuple's head (the two arrays as offsets)


def _s(x: int) -> int:
    """An ABI word read unsigned, reinterpreted as int256 (two's complement)."""
    return x - (1 << 256) if x >> 255 else x


def _decode_account(chunk: bytes) -> AccountState:
    """One AccountState encoding: the head (12 words and the offset of its positions, from the
    AccountState start), then the positions: their count and POSITION_WORDS words each."""
    w = [int.from_bytes(chunk[k : k + 32], "big") for k in range(0, len(chunk), 32)]
    p = w[ACCOUNT_HEAD - 1] // 32
    positions = tuple(
        PositionState(
            _s(w[q]), _s(w[q + 1]), _s(w[q + 2]), w[q + 3], _s(w[q + 4]) if w[q + 5] else None
        )
        for q in range(p + 1, p + 1 + POSITION_WORDS * w[p], POSITION_WORDS)
    )
    health = HealthState(_s(w[6]), w[7], w[8], w[9]) if w[10] else None
    return AccountState(
        _checksummed(chunk[:32]),
        w[1] != 0,
        _s(w[2]),
        w[3],
        w[4],
        w[5],
        health,
        "" if w[10] else _reason(chunk[11 * 32 : 12 * 32]),
        positions,
    )


def _decode_market(chunk: bytes) -> MarketState:
    w = [int.from_bytes(chunk[k : k + 32], "big") for k in range(32, 32 * MARKET_WORDS, 32)]
    return MarketState(
        _checksummed(chunk[:32]),
        _s(w[0]),
        w[1],
        w[2],
        _s(w[3]),
        _s(w[4]),
        w[5],
        _s(w[6]) if w[7] else None,
    )


def decode_book(data: bytes) -> ChainState:
    """One page of StateReader.read, decoded by hand (see :func:`_decode_page`)."""
    return _decode_page(data)[0]


def _decode_page(data: bytes) -> tuple[ChainState, int]:
    """Decode StateReader.read's return value by hand (eth_abi takes ~2 ms for ~15 accounts).

    Layout (ABI): offset of the Book tuple; the tuple head (BOOK_HEAD words, the two arrays
    as offsets from the tuple start); accounts: length, one offset per AccountState (from
    the array body start), each AccountState ACCOUNT_HEAD words (the last the offset of its
    positions, from the AccountState start), positions: length then POSITION_WORDS words
    each; markets: length then MARKET_WORDS words each (MarketRead is static). Each
    account's and market's bytes are decoded once and remembered (:data:`_DECODED`).
    Returns the page and the clearinghouse's number of known accounts (the last head word).
    """

    def u(i: int) -> int:
        return int.from_bytes(data[32 * i : 32 * i + 32], "big")

    if len(_DECODED) > _DECODED_MAX:
        _DECODED.clear()
    t = u(0) // 32  # word index of the Book tuple
    head = [u(t + i) for i in range(BOOK_HEAD)]
    acc = t + head[2] // 32
    mkt = t + head[3] // 32
    accounts: dict[str, AccountState] = {}
    body = acc + 1
    for k in range(u(acc)):
        a = body + u(body + k) // 32
        p = a + u(a + ACCOUNT_HEAD - 1) // 32
        chunk = data[32 * a : 32 * (p + 1 + POSITION_WORDS * u(p))]
        account = _DECODED.get(chunk)
        if account is None:
            account = _DECODED[chunk] = _decode_account(chunk)
        accounts[account.address] = account
    markets = []
    size = 32 * MARKET_WORDS
    for q in range(mkt + 1, mkt + 1 + MARKET_WORDS * u(mkt), MARKET_WORDS):
        chunk = data[32 * q : 32 * q + size]
        market = _DECODED.get(chunk)
        if market is None:
            market = _DECODED[chunk] = _decode_market(chunk)
        markets.append(market)
    state = ChainState(
        block_number=head[0],
        timestamp=head[1],
        accounts=accounts,
        markets=tuple(markets),
        insurance_due=head[4],
        clearinghouse_balance=head[5],
        fund_balance=head[6],
        fund_total_in=head[7],
        fund_total_out=head[8],
        vault_balance=head[9],
        vault_total_supply=head[10],
        vault_total_assets=head[11] if head[12] else None,
        paused=head[13] != 0,
        vault_peak_share_value=head[14],
        vault_peak_time=head[15],
        token_total_supply=head[16],
    )
    return state, head[17]


def _from_book(book: tuple) -> ChainState:
    """StateReader.read's value as eth_abi decodes it, as a ChainState."""
    (
        block_number,
        timestamp,
        accounts,
        markets,
        insurance_due,
        ch_balance,
        fund_balance,
        total_in,
        total_out,
        vault_balance,
        supply,
        assets,
        assets_ok,
        paused,
        peak_value,
        peak_time,
        token_supply,
        _account_count,
    ) = book
    out: dict[str, AccountState] = {}
    for (
        address,
        known,
        margin,
        mask,
        wallet,
        shares,
        health,
        health_ok,
        reason,
        positions,
    ) in accounts:
        address = to_checksum_address(address)
        out[address] = AccountState(
            address,
            known,
            margin,
            mask,
            wallet,
            shares,
            HealthState(*health) if health_ok else None,
            "" if health_ok else _reason(reason),
            tuple(
                PositionState(*stored, entry, score if score_ok else None)
                for stored, entry, score, score_ok in positions
            ),
        )
    return ChainState(
        block_number=block_number,
        timestamp=timestamp,
        accounts=out,
        markets=tuple(
            MarketState(to_checksum_address(m[0]), *m[1:], index if ok else None)
            for m, index, ok in markets
        ),
        insurance_due=insurance_due,
        clearinghouse_balance=ch_balance,
        fund_balance=fund_balance,
        fund_total_in=total_in,
        fund_total_out=total_out,
        vault_balance=vault_balance,
        vault_total_supply=supply,
        vault_total_assets=assets if assets_ok else None,
        paused=paused,
        vault_peak_share_value=peak_value,
        vault_peak_time=peak_time,
        token_total_supply=token_supply,
    )


# --- the batch reader --------------------------------------------------------------------


def read_state_batch(
    system: RawSystem, extra: list[str] | tuple[str, ...] = (), block: str | None = None
) -> ChainState:
    """The same read with plain view calls, in JSON-RPC batches (counts, accounts, the views,
    then the views of open positions). All batches are pinned to one block (`block`, a hex
    block number; the latest by default)."""
    rpc, c = system.rpc, system.calls
    ch, usdc, fund, vault = system.clearinghouse, system.usdc, system.fund, system.vault
    block = block or hex(rpc.block_number())

    def q(to: str, data: bytes) -> tuple[str, list]:
        return ("eth_call", [{"to": to, "data": "0x" + data.hex()}, block])

    header = rpc.batch(
        [q(ch, c.account_count), q(ch, c.market_count), ("eth_getBlockByNumber", [block, False])]
    )
    n_accounts, n_markets = int(header[0], 16), int(header[1], 16)
    known = [
        to_checksum_address(c.account_at_fn.decode(bytes.fromhex(r[2:])))
        for r in rpc.batch([q(ch, c.account_at(i)) for i in range(n_accounts)])
    ]
    is_known = system.abis["Clearinghouse"].fn("is_known")
    extra = list(dict.fromkeys(to_checksum_address(_address(a)) for a in extra))
    extra = [a for a in extra if a not in known]
    flags = rpc.batch([q(ch, is_known.encode(a)) for a in extra])
    extra = [a for a, f in zip(extra, flags, strict=True) if not int(f, 16)]

    requests: list[tuple[str, list]] = []
    for a in known:
        requests += [
            q(ch, c.margin(a)),
            q(ch, c.market_mask(a)),
            q(usdc, c.balance_of(a)),
            q(vault, c.vault_shares(a)),
            q(ch, c.health(a)),
        ]
        requests += [q(ch, c.positions(a, m)) for m in range(n_markets)]
    for a in extra:
        requests += [q(usdc, c.balance_of(a)), q(vault, c.vault_shares(a))]
    for m in range(n_markets):
        requests += [q(ch, c.markets(m)), q(ch, c.funding_index(m))]
    totals: list[
        tuple[tuple[str, list], Function | None]
    ] = [  # (request, decoder: None for a uint256)
        (q(ch, c.insurance_due), None),
        (q(usdc, c.balance_of(ch)), None),
        (q(usdc, c.balance_of(fund)), None),
        (q(usdc, c.balance_of(vault)), None),
        (q(fund, c.fund_total_in), None),
        (q(fund, c.fund_total_out), None),
        (q(vault, c.vault_total_supply), None),
        (q(vault, c.vault_total_assets), None),
        (q(ch, c.paused), c.paused_fn),
        (q(ch, c.vault_peak_share_value), None),
        (q(ch, c.vault_peak_time), None),
        (q(usdc, c.token_total_supply), None),
    ]
    requests += [r for r, _ in totals]
    results = iter(rpc.batch(requests, raise_errors=False))

    def value(fn: Function | None = None) -> Any:
        """The next result decoded (None if it reverted)."""
        r = next(results)
        if isinstance(r, RpcError):
            return None
        data = bytes.fromhex(r[2:])
        return fn.decode(data) if fn else int.from_bytes(data, "big", signed=False)

    rows: dict[str, tuple] = {}
    for a in known:
        margin, mask, wallet, shares = value(c.margin_fn), value(), value(), value()
        r = next(results)
        health, reason = (
            (None, cut_reason(decode_revert(_revert_data(r))))
            if isinstance(r, RpcError)
            else (HealthState(*c.health_fn.decode(bytes.fromhex(r[2:]))), "")
        )
        stored = [value(c.positions_fn) for _ in range(n_markets)]
        rows[a] = (margin, mask, wallet, shares, health, reason, stored)
    wallets = {a: (value(), value()) for a in extra}
    markets = [(value(c.markets_fn), value(c.funding_index_fn)) for _ in range(n_markets)]
    (
        due,
        ch_balance,
        fund_balance,
        vault_balance,
        total_in,
        total_out,
        supply,
        assets,
        paused,
        peak,
        peak_time,
        token_supply,
    ) = (value(fn) for _, fn in totals)

    # Entry price and ADL score of every open position: a last batch, now that sizes are known.
    open_positions = [(a, m) for a in known for m in range(n_markets) if rows[a][6][m][0] != 0]
    views = iter(
        rpc.batch(
            [
                r
                for a, m in open_positions
                for r in (q(ch, c.position(a, m)), q(ch, c.adl_score(a, m)))
            ],
            raise_errors=False,
        )
    )
    detail: dict[tuple[str, int], tuple[int, int | None]] = {}
    for a, m in open_positions:
        entry, score = next(views), next(views)
        detail[a, m] = (
            c.position_fn.decode(bytes.fromhex(entry[2:]))[2],
            None
            if isinstance(score, RpcError)
            else c.adl_score_fn.decode(bytes.fromhex(score[2:])),
        )
    accounts: dict[str, AccountState] = {}
    for a, (margin, mask, wallet, shares, health, reason, stored) in rows.items():
        positions = tuple(
            PositionState(*stored[m], *detail.get((a, m), (0, 0))) for m in range(n_markets)
        )
        accounts[a] = AccountState(a, True, margin, mask, wallet, shares, health, reason, positions)
    flat = tuple(PositionState(0, 0, 0) for _ in range(n_markets))
    for a, (wallet, shares) in wallets.items():
        accounts[a] = AccountState(
            a, False, 0, 0, wallet, shares, HealthState(0, 0, 0, 0), "", flat
        )
    return ChainState(
        block_number=int(block, 16),
        timestamp=int(header[2]["timestamp"], 16),
        accounts=accounts,
        markets=tuple(
            MarketState(to_checksum_address(s[0]), *s[1:], index) for s, index in markets
        ),
        insurance_due=due,
        clearinghouse_balance=ch_balance,
        fund_balance=fund_balance,
        fund_total_in=total_in,
        fund_total_out=total_out,
        vault_balance=vault_balance,
        vault_total_supply=supply,
        vault_total_assets=assets,
        paused=paused,
        vault_peak_share_value=peak,
        vault_peak_time=peak_time,
        token_total_supply=token_supply,
    )


def _revert_data(error: RpcError) -> bytes:
    return _hex(error.data) if isinstance(error.data, str) and error.data.startswith("0x") else b""


__all__ = [
    "READER_ADDRESS",
    "AccountState",
    "ChainState",
    "HealthState",
    "MarketState",
    "PositionState",
    "StateReader",
    "cut_reason",
    "decode_book",
    "read_state_batch",
]
