# pragma version ~=0.4.3
"""
@title waterfall
@notice SPEC section 6, steps 1 and 2, one function per step: choose what to
        close (`_closes`: a partial close where one restores maintenance with a
        buffer, else everything), charge the taker fee and the penalty
        (`_charges`), cover bad debt from the insurance fund (`_cover_bad_debt`),
        split what it cannot cover over the closed positions (`_split_shortfall`),
        and close each at mark to the LiquidityVault within its loss cap
        (`_close_to_vault`) or by ADL (`adl._deleverage`).
"""

from ethereum.ercs import IERC20
from . import constants
from . import perp_math
from . import ledger
from . import parameters
from . import funding
from . import margin_rule
from . import trading
from . import adl

uses: ledger
uses: parameters
uses: funding
uses: margin_rule
uses: trading
uses: adl


# @dev The vault's highest value per share (WAD, `_vault_share_value`) seen at a
#      take-over check in the current window.
vault_peak_share_value: public(uint256)
# @dev When that window started.
vault_peak_time: public(uint256)


# @dev One position of a liquidated account closed (at mark; to the vault or by ADL).
event Liquidated:
    account: indexed(address)
    keeper: indexed(address)
    market: indexed(uint256)
    size: int256
    price: uint256
    penalty: uint256
    keeper_reward: uint256
    to_vault: bool


# @dev The insurance fund paid part or all of an account's bad debt.
event BadDebtCovered:
    account: indexed(address)
    amount: uint256


# @dev What the fund could not cover, socialized by ADL.
event ShortfallSocialized:
    account: indexed(address)
    amount: uint256


@internal
def _liquidate(account: address, h: margin_rule.Health, cps: DynArray[address, constants.MAX_ADL], cursor: uint256, allow_partial: bool) -> uint256:
    """
    @dev One pass of the waterfall over a set of closes (one partial close, or
         every position). Returns the ADL cursor after the counterparties used.
    """
    closes: int256[constants.MAX_MARKETS] = empty(int256[constants.MAX_MARKETS])
    last: uint256 = 0
    closes, last = self._closes(account, h, allow_partial)
    # Liquidating yourself earns no keeper reward.
    keeper_share: uint256 = 0 if msg.sender == account else parameters._risk().keeper_share
    prices: uint256[constants.MAX_MARKETS] = empty(uint256[constants.MAX_MARKETS])
    penalties: uint256[constants.MAX_MARKETS] = empty(uint256[constants.MAX_MARKETS])
    total: uint256 = 0
    charged: uint256 = 0
    prices, penalties, total, charged = self._charges(account, h, closes, last, keeper_share)
    shortfall: uint256 = self._cover_bad_debt(account, h.equity - convert(charged, int256))
    parts: uint256[constants.MAX_MARKETS] = self._split_shortfall(shortfall, closes, prices, total, last)
    next_cursor: uint256 = cursor
    for m: uint256 in range(constants.MAX_MARKETS):
        if m > last:
            break
        if closes[m] == 0:
            continue
        taken: bool = False
        taken, next_cursor = self._close(account, m, closes[m], prices[m], parts[m], cps, next_cursor)
        log Liquidated(
            account=account,
            keeper=msg.sender,
            market=m,
            size=closes[m],
            price=prices[m],
            penalty=penalties[m],
            keeper_reward=penalties[m] * keeper_share // constants.PPM,
            to_vault=taken,
        )
    return next_cursor


@internal
@view
def _closes(account: address, h: margin_rule.Health, allow_partial: bool) -> (int256[constants.MAX_MARKETS], uint256):
    """
    @dev What this pass closes, per market (signed, opposite to the position),
         and the last market with a close: the partial close where one helps,
         otherwise every position.
    """
    closes: int256[constants.MAX_MARKETS] = empty(int256[constants.MAX_MARKETS])
    last: uint256 = 0
    partial_market: uint256 = constants.MAX_MARKETS
    partial_size: int256 = 0
    if allow_partial and h.equity > 0:
        partial_market, partial_size = self._partial_close(account, h)
    if partial_market != constants.MAX_MARKETS:
        closes[partial_market] = partial_size
        return closes, partial_market
    mask: uint256 = ledger._mask(account)
    for m: uint256 in range(constants.MAX_MARKETS):
        if mask >> m == 0:
            break
        if (mask >> m) & 1 == 1:
            closes[m] = -ledger._size(account, m)
            last = m
    return closes, last


@internal
@view
def _partial_close(account: address, h: margin_rule.Health) -> (uint256, int256):
    """
    @dev The largest-risk position and the size to close of it so that equity
         reaches maintenance * (1 + buffer) after fee and penalty; (MAX_MARKETS, 0)
         when that would take the whole position or cannot help.
         Closing notional x lowers equity by x * (taker + penalty) and the
         target by x * mmr * buffer, so x >= (MM * buffer - E) / (mmr * buffer - cost).
    """
    market: uint256 = constants.MAX_MARKETS
    worst: uint256 = 0
    price: uint256 = 0
    mask: uint256 = ledger._mask(account)
    for m: uint256 in range(constants.MAX_MARKETS):
        if mask >> m == 0:
            break
        if (mask >> m) & 1 == 1:
            p: uint256 = ledger._price(m)
            req: uint256 = perp_math._requirement(ledger._size(account, m), p, parameters._rates(m).mmr)
            if req > worst:
                worst = req
                market = m
                price = p
    if market == constants.MAX_MARKETS:
        return constants.MAX_MARKETS, 0
    buffer: uint256 = constants.PPM + parameters._risk().liquidation_buffer
    r: parameters.Rates = parameters._rates(market)
    gain: uint256 = r.mmr * buffer
    cost: uint256 = (r.taker_fee + r.liquidation_penalty) * constants.PPM
    if gain <= cost:
        return constants.MAX_MARKETS, 0
    need: uint256 = convert(convert(h.maintenance * buffer, int256) - h.equity * convert(constants.PPM, int256), uint256)
    notional: uint256 = (need * constants.PPM + gain - cost - 1) // (gain - cost)
    size_abs: uint256 = (notional * 10**30 + price - 1) // price
    q: int256 = ledger._size(account, market)
    if size_abs >= convert(abs(q), uint256):
        return constants.MAX_MARKETS, 0
    close: int256 = convert(size_abs, int256)
    if q > 0:
        close = -close
    return market, close


@internal
def _charges(account: address, h: margin_rule.Health, closes: int256[constants.MAX_MARKETS], last: uint256, keeper_share: uint256) -> (uint256[constants.MAX_MARKETS], uint256[constants.MAX_MARKETS], uint256, uint256):
    """
    @dev Per closed market, in market order: the taker fee, then the penalty,
         each capped at the equity left; the keeper's share of the penalty to
         the caller's margin, the rest to the fund. Returns the mark prices, the
         penalties, the total closed notional and what the account was charged.
    """
    prices: uint256[constants.MAX_MARKETS] = empty(uint256[constants.MAX_MARKETS])
    penalties: uint256[constants.MAX_MARKETS] = empty(uint256[constants.MAX_MARKETS])
    room: uint256 = convert(max(h.equity, 0), uint256)
    charged: uint256 = 0
    total: uint256 = 0
    for m: uint256 in range(constants.MAX_MARKETS):
        if m > last:
            break
        if closes[m] == 0:
            continue
        price: uint256 = ledger._price(m)
        prices[m] = price
        total += perp_math._notional(closes[m], price)
        r: parameters.Rates = parameters._rates(m)
        fee: uint256 = min(perp_math._fee(closes[m], price, r.taker_fee), room)
        room -= fee
        penalty: uint256 = min(perp_math._fee(closes[m], price, r.liquidation_penalty), room)
        room -= penalty
        penalties[m] = penalty
        reward: uint256 = penalty * keeper_share // constants.PPM
        ledger.margin[msg.sender] += convert(reward, int256)
        ledger.insurance_due += fee + penalty - reward
        charged += fee + penalty
    ledger.margin[account] -= convert(charged, int256)
    return prices, penalties, total, charged


@internal
def _cover_bad_debt(account: address, equity: int256) -> uint256:
    """
    @dev If `equity` (after charges) is negative, the insurance fund pays what
         it can of the debt: first from what it is owed and not yet swept
         (`insurance_due`: penalties, fee shares and dust are the fund's money
         the moment they are charged), then from its balance (`cover`).
         Returns the shortfall neither could cover.
    """
    if equity >= 0:
        return 0
    need: uint256 = convert(-equity, uint256)
    covered: uint256 = min(need, ledger.insurance_due)
    ledger.insurance_due -= covered
    if covered != need:
        covered += extcall ledger.insurance_fund.cover(need - covered)
    if covered != 0:
        ledger.margin[account] += convert(covered, int256)
        log BadDebtCovered(account=account, amount=covered)
    shortfall: uint256 = need - covered
    if shortfall != 0:
        log ShortfallSocialized(account=account, amount=shortfall)
    return shortfall


@internal
@pure
def _split_shortfall(shortfall: uint256, closes: int256[constants.MAX_MARKETS], prices: uint256[constants.MAX_MARKETS], total: uint256, last: uint256) -> uint256[constants.MAX_MARKETS]:
    """
    @dev Each closed position's share of the shortfall, in proportion to its
         notional (floored); the last takes the remainder, so the shares sum to
         exactly `shortfall`.
    """
    parts: uint256[constants.MAX_MARKETS] = empty(uint256[constants.MAX_MARKETS])
    left: uint256 = shortfall
    for m: uint256 in range(constants.MAX_MARKETS):
        if m > last:
            break
        if closes[m] == 0:
            continue
        part: uint256 = left
        if m != last:
            part = shortfall * perp_math._notional(closes[m], prices[m]) // total
        left -= part
        parts[m] = part
    return parts


@internal
def _close(account: address, market: uint256, close: int256, price: uint256, haircut: uint256, cps: DynArray[address, constants.MAX_ADL], cursor: uint256) -> (bool, uint256):
    """
    @dev Moves `close` (signed, opposite to the position) of `account`'s
         position out at mark: to the vault when there is no haircut and the
         vault can take it (True), otherwise by ADL against the counterparties
         from `cursor` on (False). Returns the next cursor.
    """
    v: address = ledger.vault
    if haircut == 0 and account != v and v != empty(address) and self._vault_can_take(market, -close, price):
        self._close_to_vault(account, market, close, price)
        return True, cursor
    return False, adl._deleverage(account, market, close, price, haircut, cps, cursor)


@internal
def _close_to_vault(account: address, market: uint256, close: int256, price: uint256):
    """
    @dev The LiquidityVault takes `close` of `account`'s position at mark, no fees.
    """
    v: address = ledger.vault
    funding._settle(v, market)
    buyer: address = v
    seller: address = account
    if close > 0:
        buyer = account
        seller = v
    trading._trade(buyer, seller, market, abs(close), price, 0, 0, False)


@internal
@view
def _vault_share_value(v: address, equity: int256) -> uint256:
    """
    @dev The vault's value per share, WAD, priced as LiquidityVault's ERC-4626
         maths prices it: (max(equity, 0) + idle tokens + 1) / (totalSupply +
         10**VAULT_DECIMALS_OFFSET), the virtual offset included. LP deposits and
         withdrawals move it only by their rounding, which favours the vault.
    """
    assets: uint256 = convert(max(equity, 0), uint256) + staticcall ledger.collateral.balanceOf(v)
    shares: uint256 = staticcall IERC20(v).totalSupply() + 10**constants.VAULT_DECIMALS_OFFSET
    return (assets + 1) * convert(constants.WAD, uint256) // shares


@internal
def _vault_can_take(market: uint256, take: int256, price: uint256) -> bool:
    """
    @dev The vault takes `take` (its position grows by it) only within its
         notional limit, its initial margin, and its loss cap: its value per
         share must not have fallen more than `vault_max_drawdown` below its
         peak in the window (per share, so LP flows never move the cap).
         Taking a position that shrinks the vault's is always within limits.
    """
    v: address = ledger.vault
    funding._settle_all(v, constants.MAX_MARKETS)
    vh: margin_rule.Health = margin_rule._health(v)
    rp: parameters.RiskParams = parameters._risk()
    value: uint256 = self._vault_share_value(v, vh.equity)
    if block.timestamp > self.vault_peak_time + rp.vault_window or value > self.vault_peak_share_value:
        self.vault_peak_share_value = value
        self.vault_peak_time = block.timestamp
    before: int256 = ledger._size(v, market)
    after: int256 = before + take
    if abs(after) <= abs(before) and (after == 0 or (after > 0) == (before > 0)):
        return True
    if value * constants.PPM < self.vault_peak_share_value * (constants.PPM - rp.vault_max_drawdown):
        return False
    if perp_math._notional(after, price) > parameters.vault_limit[market]:
        return False
    imr: uint256 = parameters._rates(market).imr
    initial: uint256 = vh.initial - perp_math._requirement(before, price, imr) + perp_math._requirement(after, price, imr)
    return vh.equity >= convert(initial, int256)
