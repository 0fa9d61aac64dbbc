# pragma version ~=0.4.3
"""
@title adl
@notice SPEC section 6, step 3: auto-deleveraging. What the insurance fund
        cannot cover is socialized by closing the bankrupt position against
        opposite-side positions in ADL rank order at the ADL price, so the
        bankrupt account ends at exactly zero and the counterparties together
        give up exactly the shortfall against mark (I6), each only reduced,
        never flipped, never pushed into debt (I4, I7).
"""

from . import constants
from . import perp_math
from . import ledger
from . import parameters
from . import funding
from . import margin_rule

uses: ledger
uses: parameters
uses: funding
uses: margin_rule


# @dev A counterparty's position was reduced against a bankrupt one at the ADL price.
event Deleveraged:
    bankrupt: indexed(address)
    counterparty: indexed(address)
    market: indexed(uint256)
    size: int256
    price: uint256
    haircut: uint256


@internal
def _deleverage(account: address, market: uint256, close: int256, price: uint256, haircut: uint256, cps: DynArray[address, constants.MAX_ADL], cursor: uint256) -> uint256:
    """
    @dev Closes `close` of `account`'s position against opposite positions in
         the keeper's order. The account receives value(-close) + haircut in
         total (the ADL price); each counterparty pays its pro-rata part of the
         mark value and of the haircut, the last one the remainders, so the
         parts sum exactly. Counterparties pay the maker fee. Returns the
         cursor after the last counterparty used.
    """
    total_abs: int256 = abs(close)
    # What the account receives for the closed size, signed (< 0: it pays).
    mark_leg: int256 = perp_math._value(-close, price)
    left: int256 = total_abs
    mark_left: int256 = mark_leg
    haircut_left: int256 = convert(haircut, int256)
    prev_score: int256 = max_value(int256)
    prev: address = empty(address)
    maker_fee: uint256 = parameters._rates(market).maker_fee
    i: uint256 = cursor
    for _: uint256 in range(constants.MAX_ADL):
        if left == 0:
            break
        if i >= len(cps):
            break
        cp: address = cps[i]
        i += 1
        assert cp != account, "ch: adl bankrupt as counterparty"
        funding._settle_all(cp, constants.MAX_MARKETS)
        cq: int256 = ledger._size(cp, market)
        assert cq != 0, "ch: adl counterparty has no position"
        assert (cq > 0) == (close > 0), "ch: adl counterparty same side"
        score: int256 = self._score(cp, market)
        assert prev == empty(address) or perp_math._ahead(prev_score, prev, score, cp), "ch: adl order"
        prev = cp
        prev_score = score
        take: int256 = min(abs(cq), left)
        left -= take
        cp_mark: int256 = mark_left
        cp_haircut: int256 = haircut_left
        if left != 0:
            cp_mark = mark_leg * take // total_abs
            cp_haircut = convert(haircut, int256) * take // total_abs
        mark_left -= cp_mark
        haircut_left -= cp_haircut
        # The counterparty's position moves toward zero by `take`; it pays
        # (receives, if negative) the mark leg plus its haircut.
        cp_delta: int256 = -take if cq > 0 else take
        ledger._change_position(cp, market, cp_delta, cp_mark + cp_haircut)
        ledger._change_position(account, market, -cp_delta, -(cp_mark + cp_haircut))
        fee: uint256 = perp_math._fee(take, price, maker_fee)
        ledger.margin[cp] -= convert(fee, int256)
        ledger.insurance_due += fee
        # A counterparty that cannot absorb its share is not eligible (dYdX skips
        # such accounts too): ADL never leaves a new account in debt.
        assert margin_rule._health(cp).equity >= 0, "ch: adl counterparty would go bankrupt"
        adl_price: uint256 = convert(abs((cp_mark + cp_haircut) * 10**30 // take), uint256)
        log Deleveraged(
            bankrupt=account,
            counterparty=cp,
            market=market,
            size=cp_delta,
            price=adl_price,
            haircut=convert(cp_haircut, uint256),
        )
    assert left == 0, "ch: adl list too short"
    return i


@internal
@view
def _score(account: address, market: uint256) -> int256:
    """
    @dev SPEC section 6's ADL score of a position at mark (0 when flat).
    """
    pos: ledger.Position = ledger._pos(account, market)
    if pos.size == 0:
        return 0
    return perp_math._adl_score(pos.size, pos.open_notional, ledger._price(market), margin_rule._health(account).equity)
