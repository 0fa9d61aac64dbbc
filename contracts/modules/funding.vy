# pragma version ~=0.4.3
"""
@title funding
@notice SPEC section 5: each market's cumulative funding index, accrued per
        second from the skew of the LiquidityVault's position (docs/mechanism.md
        section 5), and settled lazily into an account's margin whenever the
        account is touched. Longs pay shorts when the vault is short (traders
        are net long), at max_funding_rate * clamp(-vault_size / skew_scale, -1, 1)
        of the position's value per second.
@dev F1: a wash trade between traders leaves the vault's position, so the rate,
     unchanged. F2: the rate is fixed by what is stored at the interval's start
     (every change of the vault's position settles the vault first, which
     accrues; so does every parameter change), and each second is valued at
     the oracle price in force during it. No traded price is kept, so nothing
     has to decay (F3).
@dev Zero-sum to the atom: payers round up, receivers down
     (`perp_math._funding_credit`); the market's `funding_pool` keeps the
     difference and `funding_weight` bounds what future settlements can still
     claim, so `sweep_to_insurance` sends exactly the unclaimable dust to the fund.
"""

from . import constants
from . import perp_math
from . import ledger
from . import parameters
from ..interfaces import IOracle

uses: ledger
uses: parameters


# @dev Funding moved between an account's margin and its market's pool.
event FundingSettled:
    account: indexed(address)
    market: indexed(uint256)
    amount: int256


@internal
@view
def _rate(market: uint256) -> int256:
    """
    @dev Funding per second (WAD) from the vault's skew:
         max_funding_rate * clamp(-vault_size / skew_scale, -1, 1), the division
         truncated toward zero (the same magnitude for either sign). Positive
         (longs pay shorts) when the vault is short. It changes only when the
         vault's position or the parameters do, and both accrue first.
    """
    size: int256 = ledger._size(ledger.vault, market)
    if size == 0:
        return 0
    cap: int256 = convert(parameters._rates(market).max_funding_rate, int256)
    return min(max(-size * cap // convert(parameters.skew_scale[market], int256), -cap), cap)


@internal
@view
def _current_index(market: uint256) -> int256:
    """
    @dev The index after accrual now. Over the dt seconds since the last
         accrual it grows by floor(rate * sum(seconds * price) / 10**12), each
         second priced at the oracle price in force then (F2): the funding
         price stored at the last accrual until the oracle's latest update,
         that update's price after it. A price the oracle dates before the
         last accrual is not used (the stored one was seen then).
    """
    last: uint256 = ledger.market_store[market].oracle_time >> 160
    index: int256 = ledger.market_store[market].funding_index
    if block.timestamp == last:
        return index
    rate: int256 = self._rate(market)
    if rate == 0:
        return index
    p_now: uint256 = 0
    updated: uint256 = 0
    p_now, updated = staticcall IOracle(convert(ledger.market_store[market].oracle_time & constants.ORACLE_BITS, address)).latest(market)
    split: uint256 = block.timestamp
    if updated >= last and updated < block.timestamp:
        split = updated
    weighted: int256 = convert((split - last) * ledger.market_store[market].funding_price + (block.timestamp - split) * p_now, int256)
    return index + perp_math._floor_div(rate * weighted, constants.FUNDING_PRICE_DIV)


@internal
def _accrue(market: uint256) -> int256:
    """
    @dev Brings the index to now and starts a new interval at the oracle price
         now (which fails closed: stale or missing prices revert). Later
         accruals in the same second leave the index and only refresh that price
         (an interval of no length is priced at nothing), so an accrual after an
         oracle update always fixes the price in force from then on.
    """
    if block.timestamp == ledger.market_store[market].oracle_time >> 160:
        ledger.market_store[market].funding_price = ledger._price(market)
        return ledger.market_store[market].funding_index
    index: int256 = self._current_index(market)
    ledger.market_store[market].funding_index = index
    ledger.market_store[market].funding_price = ledger._price(market)
    ledger.market_store[market].oracle_time = ledger.market_store[market].oracle_time & constants.ORACLE_BITS | block.timestamp << 160
    return index


@internal
def _settle(account: address, market: uint256) -> int256:
    """
    @dev Settles funding of one position into margin; returns the index.
    """
    index: int256 = self._accrue(market)
    last: int256 = ledger.position_index[account][market]
    if last != index:
        size: int256 = ledger._size(account, market)
        if size != 0:
            delta: int256 = index - last
            credit: int256 = perp_math._funding_credit(size, delta)
            ledger.margin[account] += credit
            ledger.market_store[market].funding_pool -= credit
            ledger.market_store[market].funding_weight += size * delta
            log FundingSettled(account=account, market=market, amount=credit)
        ledger.position_index[account][market] = index
    return index


@internal
def _settle_all(account: address, skip: uint256):
    """
    @dev Settles every position of `account` except in market `skip` (settled already).
    """
    mask: uint256 = ledger._mask(account)
    for market: uint256 in range(constants.MAX_MARKETS):
        if mask >> market == 0:
            break
        if (mask >> market) & 1 == 1 and market != skip:
            self._settle(account, market)
