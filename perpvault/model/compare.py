"""Load the reference model from a deployed system, and diff the two after every step.

`model_from_chain` builds an `Exchange` whose state is read from the chain (so a fresh
deployment, whatever its block timestamps, is the model's exact starting point);
`diff_against_chain` lists every stored number and view on which they disagree.
Both read the chain only through the contracts' public getters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import eth_abi

from perpvault.model.exchange import Addresses, Exchange
from perpvault.model.maths import Revert
from perpvault.model.state import MarketParams, MarketState, Position, RiskParams, Round, addr


def _tuple(x: Any) -> tuple:
    """A struct returned by ape (a namedtuple-like object) as a plain tuple of ints."""
    return tuple(int(v) if not isinstance(v, str) else v for v in x)


def latest_timestamp(chain: Any) -> int:
    """eth_call runs at the latest block's timestamp: the time the model's views use."""
    return int(chain.blocks.head.timestamp)


def model_from_chain(system: Any, chain: Any, accounts: Iterable[Any] = ()) -> Exchange:
    """The model of `system` as it stands now on chain (addresses, parameters and state)."""
    ch = system.clearinghouse
    n_markets = int(ch.market_count())
    markets = [
        (MarketParams.of(_tuple(ch.params(m))), int(system.feed.latest(m)[0]))
        for m in range(n_markets)
    ]
    ex = Exchange(
        system.owner,
        system.oracle_updater,
        markets=markets,
        risk=RiskParams.of(_tuple(ch.risk())),
        now=latest_timestamp(chain),
        addresses=Addresses(
            token=addr(system.usdc),
            feed=addr(system.feed),
            fund=addr(system.fund),
            clearinghouse=addr(ch),
            vault=addr(system.vault),
            order_book=addr(system.order_book),
        ),
        oracle_max_age=int(system.feed.max_age()),
        oracle_max_jump=int(system.feed.max_jump()),
        vault_spread=int(system.vault.spread()),
    )
    w = ex.w
    for m in range(n_markets):
        p, t = system.feed.latest(m)
        w.feed.rounds[m] = Round(price=int(p), updated_at=int(t))
        s = ch.markets(m)
        w.ch.markets[m] = MarketState(
            funding_index=int(s.funding_index),
            last_funding_time=int(s.last_funding_time),
            mark_ema=int(s.mark_ema),
            funding_pool=int(s.funding_pool),
            funding_weight=int(s.funding_weight),
            open_interest=int(s.open_interest),
        )
    w.ch.paused = bool(ch.paused())
    w.ch.insurance_due = int(ch.insurance_due())
    w.ch.vault_peak_equity = int(ch.vault_peak_equity())
    w.ch.vault_peak_time = int(ch.vault_peak_time())
    known = [addr(ch.account_at(i)) for i in range(int(ch.account_count()))]
    w.ch.known = list(known)
    w.ch.known_set = set(known)
    everyone = set(known) | {addr(a) for a in accounts}
    for a in everyone:
        acct = w.ch.acct(a)
        acct.margin = int(ch.margin(a))
        acct.market_mask = int(ch.market_mask(a))
        for m in range(n_markets):
            p = ch.positions(a, m)
            if int(p.size) or int(p.open_notional) or int(p.funding_index):
                acct.positions[m] = Position(
                    int(p.size), int(p.open_notional), int(p.funding_index)
                )
    holders = everyone | {w.ch.address, w.fund.address, w.vault.address}
    w.token.balances = {a: int(system.usdc.balanceOf(a)) for a in holders}
    w.token.total_supply = int(system.usdc.totalSupply())
    w.fund.total_in = int(system.fund.total_in())
    w.fund.total_out = int(system.fund.total_out())
    w.vault.total_supply = int(system.vault.totalSupply())
    w.vault.balances = {a: int(system.vault.balanceOf(a)) for a in everyone}
    return ex


def _outcome(fn: Any, *args: Any) -> Any:
    """A view's value, or ("revert", reason) when it reverts (chain or model alike)."""
    try:
        return fn(*args)
    except Revert as exc:
        return ("revert", exc.reason)
    except Exception as exc:  # ape's ContractLogicError; the model never depends on ape
        if exc.__class__.__name__ in ("ContractLogicError", "VirtualMachineError"):
            return ("revert", str(getattr(exc, "message", exc)))
        raise


class ChainReader:
    """Reads many views in one JSON-RPC batch (about ten times faster than one call each).

    `add(handler, *args)` queues `handler(*args)` (an ape view method) and returns its slot;
    `run()` returns every result in order, each a value or ("revert", reason). If the batch as
    a whole fails, it falls back to one call at a time.
    """

    def __init__(self, contract: Any) -> None:
        self.web3 = contract.provider.web3
        self.calls: list[tuple[str, bytes, list[str]]] = []

    def add(self, handler: Any, *args: Any) -> int:
        types = [o.canonical_type for o in handler.abis[0].outputs]
        self.calls.append(
            (str(handler.contract.address), bytes(handler.encode_input(*args)), types)
        )
        return len(self.calls) - 1

    def run(self) -> list[Any]:
        try:
            with self.web3.batch_requests() as batch:
                for to, data, _ in self.calls:
                    batch.add(self.web3.eth.call({"to": to, "data": data}))
                raws = list(batch.execute())
        except Exception:
            raws = [self._one(to, data) for to, data, _ in self.calls]
        return [
            self._decode(raw, types) for raw, (_, _, types) in zip(raws, self.calls, strict=True)
        ]

    def _one(self, to: str, data: bytes) -> Any:
        try:
            return self.web3.eth.call({"to": to, "data": data})
        except Exception as exc:
            return ("revert", _reason(exc))

    @staticmethod
    def _decode(raw: Any, types: list[str]) -> Any:
        if isinstance(raw, tuple):
            return raw
        if isinstance(raw, Exception):
            return ("revert", _reason(raw))
        values = eth_abi.decode(types, bytes(raw))
        values = tuple(_plain(v) for v in values)
        return values[0] if len(values) == 1 else values


def _reason(exc: Exception) -> str:
    message = str(getattr(exc, "message", None) or (exc.args[0] if exc.args else exc))
    return message.removeprefix("execution reverted: ")


def _plain(v: Any) -> Any:
    """ABI values as the model holds them: ints, bools, lower-case addresses, tuples."""
    if isinstance(v, tuple | list):
        return tuple(_plain(x) for x in v)
    if isinstance(v, str):
        return v.lower()
    return v


def diff_against_chain(
    model: Exchange, system: Any, accounts: Iterable[Any], chain: Any | None = None
) -> list[str]:
    """Every disagreement between `model` and the chain, as readable lines (empty: they agree).

    Compares stored state (margins, positions, market states, insurance_due, known accounts,
    vault peak, fund totals, vault shares, token balances), the views at the latest block
    (health, position, adl_score, funding_index, vault totalAssets; a view that reverts must
    revert alike), and the model's own I1/I2/I5. Pass `chain` to check the model's clock too.
    """
    out: list[str] = []
    ch, usdc_, fund, vault = system.clearinghouse, system.usdc, system.fund, system.vault
    w = model.w
    pairs: list[tuple[str, int, Any]] = []  # (what, chain slot, model value)
    reader = ChainReader(ch)

    def pair(what: str, handler: Any, args: tuple, model_value: Any) -> None:
        pairs.append((what, reader.add(handler, *args), model_value))

    if chain is not None and latest_timestamp(chain) != w.now:
        out.append(f"block timestamp: chain {latest_timestamp(chain)} != model {w.now}")
    n_markets = int(ch.market_count())
    if n_markets != w.ch.market_count:
        out.append(f"market_count: chain {n_markets} != model {w.ch.market_count}")
    n_known = int(ch.account_count())
    known_slots = [reader.add(ch.account_at, i) for i in range(n_known)]
    for m in range(n_markets):
        ms = w.ch.markets[m]
        state = (
            ms.funding_index,
            ms.last_funding_time,
            ms.mark_ema,
            ms.funding_pool,
            ms.funding_weight,
            ms.open_interest,
        )
        pairs.append((f"markets({m}) (oracle dropped)", reader.add(ch.markets, m), state))
        pair(f"funding_index({m}) view", ch.funding_index, (m,), _outcome(model.funding_index, m))
        if model.sum_sizes(m) != 0:
            out.append(f"sum_sizes({m}) (I1): {model.sum_sizes(m)} != 0")
    pair("insurance_due", ch.insurance_due, (), w.ch.insurance_due)
    pair("paused", ch.paused, (), w.ch.paused)
    pair("vault_peak_equity", ch.vault_peak_equity, (), w.ch.vault_peak_equity)
    pair("vault_peak_time", ch.vault_peak_time, (), w.ch.vault_peak_time)

    everyone = list(dict.fromkeys([addr(a) for a in accounts] + w.ch.known + [w.vault.address]))
    for a in everyone:
        pair(f"margin({a})", ch.margin, (a,), model.margin(a))
        mask = w.ch.accounts[a].market_mask if a in w.ch.accounts else 0
        pair(f"market_mask({a})", ch.market_mask, (a,), mask)
        for m in range(n_markets):
            mp = w.ch.positions_of(a, m)
            pair(
                f"positions({a},{m})",
                ch.positions,
                (a, m),
                (mp.size, mp.open_notional, mp.funding_index),
            )
            if mp.size != 0:
                pair(f"position({a},{m}) view", ch.position, (a, m), _outcome(model.position, a, m))
                pair(f"adl_score({a},{m})", ch.adl_score, (a, m), _outcome(model.adl_score, a, m))
        mh = _outcome(lambda x: tuple(vars(model.health(x)).values()), a)
        pair(f"health({a})", ch.health, (a,), mh)
        pair(f"usdc.balanceOf({a})", usdc_.balanceOf, (a,), model.balance_of(a))
        pair(f"vault.balanceOf({a})", vault.balanceOf, (a,), w.vault.balance_of(a))
    for name, contract in (("clearinghouse", ch), ("fund", fund), ("vault", vault)):
        pair(
            f"usdc.balanceOf({name})",
            usdc_.balanceOf,
            (contract.address,),
            model.balance_of(contract),
        )
    pair("fund.total_in", fund.total_in, (), w.fund.total_in)
    pair("fund.total_out", fund.total_out, (), w.fund.total_out)
    pair("vault.totalSupply", vault.totalSupply, (), w.vault.total_supply)
    pair("vault.totalAssets", vault.totalAssets, (), _outcome(model.total_assets))

    results = reader.run()
    known = [results[i] for i in known_slots]
    if known != w.ch.known:
        out.append(f"known accounts: chain {known} != model {w.ch.known}")
    for what, slot, model_value in pairs:
        chain_value = results[slot]
        if what.startswith("markets(") and isinstance(chain_value, tuple) and len(chain_value) == 7:
            chain_value = chain_value[1:]  # MarketState.oracle: the model has one feed
        if chain_value != model_value:
            out.append(f"{what}: chain {chain_value!r} != model {model_value!r}")
    if model.conservation_gap() != 0:
        out.append(f"conservation_gap (I2): {model.conservation_gap()} != 0")
    if model.fund_gap() != 0:
        out.append(f"fund_gap (I5): {model.fund_gap()} != 0")
    return out


def chain_events(receipt: Any, names: Iterable[str]) -> list[tuple]:
    """The receipt's events named in `names`, as the model's tuples (addresses lower-case)."""
    wanted = set(names)
    out: list[tuple] = []
    for log in receipt.events:
        if log.event_name not in wanted:
            continue
        fields = []
        for v in log.event_arguments.values():
            if isinstance(v, str) and v.startswith("0x") and len(v) == 42:
                fields.append(v.lower())
            elif isinstance(v, bool):
                fields.append(v)
            else:
                fields.append(int(v))
        out.append((log.event_name, *fields))
    return out


def model_events(model: Exchange, names: Iterable[str]) -> list[tuple]:
    """The last transaction's model events named in `names`."""
    wanted = set(names)
    return [e for e in model.last_events if e[0] in wanted]


__all__ = [
    "chain_events",
    "diff_against_chain",
    "latest_timestamp",
    "model_events",
    "model_from_chain",
]
