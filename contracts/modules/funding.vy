# pragma version ~=0.4.3
"""
@title funding
@notice SPEC section 5: each market's cumulative funding index, accrued per
        second from the premium of the traded-price EMA over the oracle index
        (clamped to the market's cap), and settled lazily into an account's
        margin whenever the account is touched. Longs pay shorts when the
        premium is positive.
@dev Zero-sum to the atom: payers round up, receivers down
     (`perp_math._funding_credit`); the market's `funding_pool` keeps the
     difference and `funding_weight` bounds what future settlements can still
     claim, so `sweep_to_insurance` sends exactly the unclaimable dust to the fund.
"""

from . import constants
from . import perp_math
from . import ledger
from . import parameters

uses: ledger
uses: parameters


# @dev Funding moved between an account's margin and its market's pool.
event FundingSettled:
    account: indexed(address)
    market: indexed(uint256)
    amount: int256


@internal
@view
def _current_index(market: uint256) -> int256:
    last: uint256 = ledger.market_store[market].oracle_time >> 160
    index: int256 = ledger.market_store[market].funding_index
    if block.timestamp == last:
        return index
    ip: int256 = convert(ledger._price(market), int256)
    premium: int256 = (convert(ledger.market_store[market].mark_ema, int256) - ip) * constants.WAD // ip
    cap: int256 = convert(parameters._rates(market).max_funding_rate, int256)
    rate: int256 = min(max(premium // constants.FUNDING_PERIOD, -cap), cap)
    dt: int256 = convert(block.timestamp - last, int256)
    return index + perp_math._floor_div(rate * dt * ip, constants.FUNDING_PRICE_DIV)


@internal
def _accrue(market: uint256) -> int256:
    index: int256 = self._current_index(market)
    ledger.market_store[market].funding_index = index
    ledger.market_store[market].oracle_time = ledger.market_store[market].oracle_time & constants.ORACLE_BITS | block.timestamp << 160
    return index


@internal
def _update_ema(market: uint256, price: uint256, weight: uint256):
    ema: int256 = convert(ledger.market_store[market].mark_ema, int256)
    ema += (convert(price, int256) - ema) * convert(weight, int256) // convert(constants.PPM, int256)
    ledger.market_store[market].mark_ema = convert(ema, uint256)


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
    mask: uint256 = ledger.market_mask[account]
    for market: uint256 in range(constants.MAX_MARKETS):
        if mask >> market == 0:
            break
        if (mask >> market) & 1 == 1 and market != skip:
            self._settle(account, market)
