"""``perpvault adl-rank``: a trader's ADL exposure, read from a node (SPEC section 6, views).

Under the `queue` policy a position's exposure is its place in its side's ADL queue: the
positions ranked above it are closed first when a bankrupt position on the other side is
socialized, and the contract refuses any list that leaves one of them out (adl.vy
`_check_complete`). :func:`adl_standing` reads the position, every position on its side
(``Clearinghouse.side_at``, the list the contract checks) and their ADL scores, and ranks them
as the contract does (higher score first, ties by lower address): the place, the side's size,
the quantile 1..5 (5 = first in line, as the exchanges' ADL lights and ``RiskLens.adl_rank``),
how much of the side's size is ahead of it, and the head of the queue.

    perpvault adl-rank --clearinghouse 0x... --market 0 0xTRADER [--url http://127.0.0.1:8545] [--top 5]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AdlStanding:
    """Where one position stands in its side's ADL queue (place 0: flat)."""

    account: str
    market: int
    size: int  # signed, 18 decimals
    score: int  # WAD
    place: int  # 1 = first in line
    count: int  # positions on the side
    quantile: int  # 1..5, 5 = first in line (0 when flat)
    size_ahead: int  # |size| of the positions ranked above it
    head: tuple[tuple[str, int], ...]  # the first positions in line: (account, score)

    def describe(self) -> str:
        if self.place == 0:
            return f"{self.account}: no position in market {self.market}"
        side = "long" if self.size > 0 else "short"
        lines = [
            f"{self.account}: {side} {abs(self.size) / 10**18:g} in market {self.market}, ADL score {self.score}",
            f"  place {self.place} of {self.count} on the {side} side, quantile {self.quantile} "
            f"(5 = first in line); {self.size_ahead / 10**18:g} of size is ranked above it",
            "  head of the queue:",
        ]
        lines += [f"    {i}. {a}  score {s}" for i, (a, s) in enumerate(self.head, 1)]
        return "\n".join(lines)


def _queue_key(score: int, account: str) -> tuple[int, int]:
    """The contract's order (perp_math._ahead): higher score first, ties by lower address."""
    return (-score, int(account, 16))


def adl_standing(view: Any, account: str, market: int, top: int = 5) -> AdlStanding:
    """`view(name, *args)` calls a Clearinghouse view (a driver's, or :func:`rpc_view`)."""
    from eth_utils import to_checksum_address

    size = int(view("positions", account, market)[0])
    if size == 0:
        return AdlStanding(account, market, 0, 0, 0, 0, 0, 0, ())
    key = market * 2 + (1 if size > 0 else 0)
    holders = [to_checksum_address(str(view("side_at", key, i))) for i in range(1, int(view("side_count", key)) + 1)]
    scored = sorted((_queue_key(int(view("adl_score", h, market)), h), h) for h in holders)
    order = [h for _, h in scored]
    mine = next(i for i, h in enumerate(order) if h.lower() == account.lower())
    count = len(order)
    ahead = sum(abs(int(view("positions", h, market)[0])) for h in order[:mine])
    head = tuple((h, -k[0]) for k, h in scored[:top])
    return AdlStanding(account, market, size, -scored[mine][0][0], mine + 1, count,
                       5 - mine * 5 // count, ahead, head)


def rpc_view(url: str, clearinghouse: str) -> Any:
    """Clearinghouse views over JSON-RPC `eth_call`, with the compiled ABI."""
    from perpvault.chain.abi import load_artifacts
    from perpvault.chain.rpc import Rpc

    rpc = Rpc(url)
    abi = load_artifacts(names=("Clearinghouse",))["Clearinghouse"].functions

    def view(name: str, *args: Any) -> Any:
        fn = abi.fn(name)
        return fn.decode(rpc.eth_call(clearinghouse, fn.encode(*args), label=name))

    return view


def register(sub: argparse._SubParsersAction) -> None:
    """Adds the ``adl-rank`` subcommand (for perpvault.cli's JOBS)."""
    from perpvault.cliargs import positive_int

    p = sub.add_parser("adl-rank", help="a position's place in its side's ADL queue, read from a node",
                       description=__doc__.splitlines()[0])
    p.add_argument("account", help="the trader's address")
    p.add_argument("--market", type=int, required=True, help="the market id")
    p.add_argument("--clearinghouse", required=True, help="the Clearinghouse's address")
    p.add_argument("--url", default="http://127.0.0.1:8545", help="the node's JSON-RPC URL")
    p.add_argument("--top", type=positive_int, default=5, help="how much of the queue's head to show (default 5)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from perpvault.chain.rpc import parse_url
    from perpvault.cliargs import usage_error

    try:
        parse_url(args.url)
    except ValueError as exc:
        usage_error("perpvault adl-rank", f"--url: {exc}")
    view = rpc_view(args.url, args.clearinghouse)
    if args.market < 0 or args.market >= int(view("market_count")):
        usage_error("perpvault adl-rank", f"--market {args.market}: the Clearinghouse lists markets "
                                          f"0..{int(view('market_count')) - 1}")
    print(adl_standing(view, args.account, args.market, args.top).describe())
    return 0


__all__ = ["AdlStanding", "adl_standing", "rpc_view"]
