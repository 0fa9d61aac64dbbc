# pragma version ~=0.4.3
"""
@title ledger
@notice The books of the clearinghouse: every account's margin, its positions
        and the markets they are in, the accounts the risk engine knows, the
        markets with their oracles and per-market totals, and what is owed to
        the insurance fund.
@dev Accounting (docs/mechanism.md, "Accounting"): each account has a `margin`
     (collateral atoms: deposits - withdrawals + realized PnL - fees + settled
     funding) and per market a position (size, open_notional, the funding index
     at its last settlement). open_notional is the signed cost basis (long > 0),
     so entry = open_notional / size and unrealized PnL = value(size, mark) -
     open_notional. I2 (exact): token balance == sum(margin) - sum(open_notional)
     + insurance_due + sum(funding_pool).
"""

from ethereum.ercs import IERC20
from . import constants
from ..interfaces import IOracle
from ..interfaces import IInsuranceFund


# MarketState as stored (`markets` reads it): the oracle and the last funding
# time share one slot, both read and written by every accrual.
struct MarketStore:
    oracle_time: uint256  # oracle address (low 160 bits) | last_funding_time << 160
    funding_index: int256
    funding_price: uint256  # the oracle price at the last accrual: the current interval is priced at it
    funding_pool: int256
    funding_weight: int256
    open_interest: uint256


# A market's state as the `markets` view returns it.
struct MarketState:
    oracle: address
    funding_index: int256
    last_funding_time: uint256
    funding_price: uint256
    funding_pool: int256
    funding_weight: int256
    open_interest: uint256


struct Position:
    size: int256
    open_notional: int256
    funding_index: int256


# @dev The collateral token (USDC-like, 6 decimals).
collateral: public(immutable(IERC20))
# @dev The InsuranceFund: receives what `insurance_due` holds, covers bad debt.
insurance_fund: public(immutable(IInsuranceFund))

# @dev The LiquidityVault, bound once; its margin account here is its assets.
vault: public(address)
# @dev Markets listed so far; ids are 0 .. market_count - 1.
market_count: public(uint256)
# @dev Per market: oracle, funding index and time, funding price, funding pool and weight, open interest.
market_store: HashMap[uint256, MarketStore]
# @dev Collateral atoms per account (signed: realized losses can take it below zero).
margin: public(HashMap[address, int256])
# @dev A position's size (low 128 bits) and open_notional (high 128 bits), two's complement int128 each.
position_word: HashMap[address, HashMap[uint256, int256]]
# @dev The funding index at a position's last settlement.
position_index: HashMap[address, HashMap[uint256, int256]]
# @dev Per account: bit m set iff it holds a position in market m (the low MAX_MARKETS bits,
#      `_mask`), and above them, SLOT_BITS per market, that position's slot on its side
#      (`side_at`; stale when flat: read only while on a side), so entering or leaving a side
#      writes no slot of its own.
mask_word: HashMap[address, uint256]
# @dev Every account that ever deposited or held a position, for `liquidate`, the keeper and the views.
account_count: public(uint256)
account_at: public(HashMap[uint256, address])
is_known: public(HashMap[address, bool])
# @dev Penalties, the fund's share of fees, and rounding dust owed to the fund.
insurance_due: public(uint256)
# @dev The OrderBook, bound once: with the vault, the only caller of `fill`.
order_book: public(address)
# @dev Every position on one side of a market, for the ADL queue's completeness check
#      (adl.vy): per side key (`_side_key`: market * 2, + 1 for longs) how many
#      positions, and who holds them at slots 1..side_count (order is not a ranking).
side_count: public(HashMap[uint256, uint256])
side_at: public(HashMap[uint256, HashMap[uint256, address]])
# The mask's bits, and each market's slot lane above them in `mask_word`.
MASK_BITS: constant(uint256) = 2**constants.MAX_MARKETS - 1
# 31 bits: 2**31 positions on one side would cost over 4 * 10**13 gas of storage alone, so a
# slot never reaches its lane's top (8 + 8 * 31 = 256 bits).
SLOT_BITS: constant(uint256) = 31


@deploy
def __init__(collateral_: IERC20, insurance_fund_: IInsuranceFund):
    collateral = collateral_
    insurance_fund = insurance_fund_


@internal
@pure
def _check_transfer(ok: bool):
    assert ok, "ch: transfer failed"


@internal
@pure
def _check_address(a: address):
    assert a != empty(address), "ch: zero address"


@internal
@pure
def _check_amount(amount: uint256):
    assert amount != 0, "ch: zero amount"
    assert amount <= constants.MAX_AMOUNT, "ch: amount too large"


@internal
@view
def _check_market(market: uint256):
    assert market < self.market_count, "ch: unknown market"


@internal
@view
def _price(market: uint256) -> uint256:
    return staticcall IOracle(convert(self.market_store[market].oracle_time & constants.ORACLE_BITS, address)).price(market)


@internal
def _remember(account: address):
    if not self.is_known[account]:
        self.is_known[account] = True
        n: uint256 = self.account_count
        self.account_at[n] = account
        self.account_count = n + 1


@internal
@pure
def _side_key(market: uint256, longs: bool) -> uint256:
    """
    @dev The key of one side of a market in `side_count` and `side_at`.
    """
    return market * 2 + convert(longs, uint256)


@internal
@view
def _mask(account: address) -> uint256:
    """
    @dev The markets `account` holds a position in: bit m for market m.
    """
    return self.mask_word[account] & MASK_BITS


@internal
@view
def _slot(account: address, market: uint256) -> uint256:
    return (self.mask_word[account] >> (constants.MAX_MARKETS + SLOT_BITS * market)) & (2**SLOT_BITS - 1)


@internal
def _set_slot(account: address, market: uint256, slot: uint256):
    lane: uint256 = constants.MAX_MARKETS + SLOT_BITS * market
    self.mask_word[account] = self.mask_word[account] & ~((2**SLOT_BITS - 1) << lane) | slot << lane


@internal
def _enter_side(account: address, market: uint256, longs: bool):
    key: uint256 = self._side_key(market, longs)
    n: uint256 = self.side_count[key] + 1
    self.side_at[key][n] = account
    self._set_slot(account, market, n)
    self.side_count[key] = n


@internal
def _leave_side(account: address, market: uint256, longs: bool):
    """
    @dev Swap-and-pop: the side's last position takes the leaver's slot. The
         leaver's lane keeps a stale slot: read only while it is on a side.
    """
    key: uint256 = self._side_key(market, longs)
    n: uint256 = self.side_count[key]
    slot: uint256 = self._slot(account, market)
    last: address = self.side_at[key][n]
    self.side_at[key][slot] = last
    self._set_slot(last, market, slot)
    self.side_at[key][n] = empty(address)
    self.side_count[key] = n - 1


@internal
@view
def _size(account: address, market: uint256) -> int256:
    """
    @dev A position's size: the low int128 of its word, sign-extended.
    """
    return (self.position_word[account][market] << 128) >> 128


@internal
@view
def _pos(account: address, market: uint256) -> Position:
    w: int256 = self.position_word[account][market]
    return Position(size=(w << 128) >> 128, open_notional=w >> 128, funding_index=self.position_index[account][market])


@internal
def _change_position(account: address, market: uint256, delta: int256, cash: int256):
    """
    @dev Moves `account`'s position by `delta`, paying `cash` (signed: > 0
         pays, < 0 receives) for it. Funding must be settled. The cost basis
         of what remains keeps its entry price; realized PnL goes to margin.
         margin - open_notional moves by exactly -cash.
    """
    pos: Position = self._pos(account, market)
    q: int256 = pos.size
    q_new: int256 = q + delta
    on_new: int256 = 0
    if q == 0 or (q > 0) == (delta > 0):
        on_new = pos.open_notional + cash
    elif abs(delta) <= abs(q):
        on_new = pos.open_notional * q_new // q
    else:
        on_new = cash * q_new // delta
    self.margin[account] += on_new - pos.open_notional - cash
    assert q_new < constants.MAX_POSITION and q_new >= -constants.MAX_POSITION and on_new < constants.MAX_POSITION and on_new >= -constants.MAX_POSITION, "ch: position too large"
    self.position_word[account][market] = (on_new << 128) | (q_new & (2**128 - 1))
    self.market_store[market].funding_weight += delta * pos.funding_index
    self.market_store[market].open_interest = self.market_store[market].open_interest + convert(max(q_new, 0), uint256) - convert(max(q, 0), uint256)
    if (q > 0) != (q_new > 0) or (q < 0) != (q_new < 0):
        if q != 0:
            self._leave_side(account, market, q > 0)
        if q_new != 0:
            self._enter_side(account, market, q_new > 0)
    bit: uint256 = 1 << market
    word: uint256 = self.mask_word[account]
    if q_new == 0:
        self.mask_word[account] = word & ~bit
    else:
        if word & MASK_BITS == 0:
            # E1: an account is known to the risk engine from its first
            # position, deposit or not, so `liquidate` can always reach it.
            self._remember(account)
        self.mask_word[account] = word | bit
