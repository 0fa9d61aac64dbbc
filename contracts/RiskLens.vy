# pragma version ~=0.4.3
"""
@title RiskLens
@notice Read-only views over the Clearinghouse for users and keepers: a
        position's place in the ADL queue and its quantile (the exchanges' ADL
        lights), and the head of a market side's queue. They read every
        position on the side (the Clearinghouse's `side_at`), so they are for
        eth_call; the ADL transaction checks the keeper's list against the
        same side (adl.vy `_check_complete`).
"""

from .modules import constants
from .modules import perp_math
from .interfaces import IClearinghouse
from .interfaces import IRiskLens

implements: IRiskLens


MAX_ACCOUNTS: constant(uint256) = 1_000_000
# The head of a queue a keeper can send: as long as the longest ADL list `liquidate` runs.
MAX_QUEUE: constant(uint256) = constants.MAX_ADL


clearinghouse: public(immutable(IClearinghouse))


@deploy
def __init__(clearinghouse_: IClearinghouse):
    """
    @notice Deploys the lens over `clearinghouse_`.
    @param clearinghouse_ The Clearinghouse to read.
    """
    clearinghouse = clearinghouse_


@external
@view
def adl_rank(account: address, market: uint256) -> (uint256, uint256, uint256):
    """
    @notice Where a position stands in its side's ADL queue.
    @param account The account.
    @param market The market id.
    @return uint256 1-based place (0 when flat).
    @return uint256 Positions on that side.
    @return uint256 Quantile 1..5, 5 = first in line (0 when flat).
    """
    size: int256 = self._size(account, market)
    if size == 0:
        return 0, 0, 0
    mine: int256 = staticcall clearinghouse.adl_score(account, market)
    place: uint256 = 1
    key: uint256 = self._side_key(market, size > 0)
    count: uint256 = staticcall clearinghouse.side_count(key)
    for slot: uint256 in range(1, MAX_ACCOUNTS + 1):
        if slot > count:
            break
        other: address = staticcall clearinghouse.side_at(key, slot)
        if other != account and perp_math._ahead(staticcall clearinghouse.adl_score(other, market), other, mine, account):
            place += 1
    return place, count, 5 - (place - 1) * 5 // count


@external
@view
def adl_queue(market: uint256, longs: bool, k: uint256) -> DynArray[address, MAX_QUEUE]:
    """
    @notice The first `k` positions of one side's ADL queue, first in line first.
    @param market The market id.
    @param longs True for the long side.
    @param k How many (at most MAX_ADL).
    @return DynArray[address, MAX_ADL] Accounts in ADL order.
    """
    out: DynArray[address, MAX_QUEUE] = []
    last: address = empty(address)
    last_score: int256 = 0
    key: uint256 = self._side_key(market, longs)
    n: uint256 = staticcall clearinghouse.side_count(key)
    for _: uint256 in range(min(k, MAX_QUEUE), bound=MAX_QUEUE):
        best: address = empty(address)
        best_score: int256 = 0
        for slot: uint256 in range(1, MAX_ACCOUNTS + 1):
            if slot > n:
                break
            a: address = staticcall clearinghouse.side_at(key, slot)
            sc: int256 = staticcall clearinghouse.adl_score(a, market)
            if last != empty(address) and not perp_math._ahead(last_score, last, sc, a):
                continue
            if best == empty(address) or perp_math._ahead(sc, a, best_score, best):
                best = a
                best_score = sc
        if best == empty(address):
            break
        out.append(best)
        last = best
        last_score = best_score
    return out


@internal
@pure
def _side_key(market: uint256, longs: bool) -> uint256:
    """
    @dev The Clearinghouse's key of one side of a market (ledger.vy `_side_key`).
    """
    return market * 2 + convert(longs, uint256)


@internal
@view
def _size(account: address, market: uint256) -> int256:
    size: int256 = 0
    basis: int256 = 0
    entry: uint256 = 0
    size, basis, entry = staticcall clearinghouse.position(account, market)
    return size
