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
         parts sum exactly. Counterparties pay the maker fee. A listed
         counterparty its part would leave below zero equity is not eligible:
         it is skipped, and keeps its place in the order. Then the queue's
         completeness (`_check_complete`). Returns the cursor after the last
         counterparty used.
    """
    total_abs: int256 = abs(close)
    # What the account receives for the closed size, signed (< 0: it pays).
    mark_leg: int256 = perp_math._value(-close, price)
    left: int256 = total_abs
    mark_left: int256 = mark_leg
    haircut_left: int256 = convert(haircut, int256)
    prev_score: int256 = max_value(int256)
    prev: address = empty(address)
    skipped: DynArray[address, constants.MAX_ADL] = []
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
        equity: int256 = margin_rule._health(cp).equity
        score: int256 = perp_math._adl_score(cq, ledger._pos(cp, market).open_notional, price, equity)
        assert prev == empty(address) or perp_math._ahead(prev_score, prev, score, cp), "ch: adl order"
        prev = cp
        prev_score = score
        take: int256 = min(abs(cq), left)
        cp_mark: int256 = mark_left
        cp_haircut: int256 = haircut_left
        if take != left:
            cp_mark = mark_leg * take // total_abs
            cp_haircut = convert(haircut, int256) * take // total_abs
        # The counterparty's position moves toward zero by `take`; it pays
        # (receives, if negative) the mark leg plus its haircut.
        cp_delta: int256 = -take if cq > 0 else take
        fee: uint256 = perp_math._fee(take, price, maker_fee)
        # Its equity after the step, exactly: margin - open_notional moves by
        # -(cp_mark + cp_haircut), the position's value from cq to cq + cp_delta,
        # and the fee (funding is settled). Below zero: not eligible, skipped
        # (dYdX skips such accounts too): ADL never leaves an account in debt.
        if equity - cp_mark - cp_haircut + perp_math._value(cq + cp_delta, price) - perp_math._value(cq, price) < convert(fee, int256):
            skipped.append(cp)
            continue
        left -= take
        mark_left -= cp_mark
        haircut_left -= cp_haircut
        ledger._change_position(cp, market, cp_delta, cp_mark + cp_haircut)
        ledger._change_position(account, market, -cp_delta, -(cp_mark + cp_haircut))
        ledger.margin[cp] -= convert(fee, int256)
        ledger.insurance_due += fee
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
    self._check_complete(market, close > 0, prev, prev_score, skipped)
    return i


@internal
@view
def _check_complete(market: uint256, longs: bool, last: address, last_score: int256, skipped: DynArray[address, constants.MAX_ADL]):
    """
    @dev Who pays is not the keeper's choice (SPEC section 6, `queue`): every
         position left on the counterparties' side other than the last one
         closed (`last`, scored before its step) ranks below it or was listed
         and found not eligible. Positions closed in full have left the side;
         the rest were untouched by this step, so their scores now are their
         scores at its start. Each score is `_score`'s, from the same equity
         `margin_rule._health` computes, with each market's price and funding
         index read once. A position not in profit scores at most 0, so below
         a last one in profit without its equity.
         The side is read in slot order for at most QUEUE_SCAN_READS reads (a
         holder costs one, and one per market it holds when it is scored), so
         the check fits a block however large the side; holders past that are
         not checked (docs/mechanism.md section 10).
    """
    key: uint256 = ledger._side_key(market, longs)
    n: uint256 = ledger.side_count[key]
    prices: uint256[constants.MAX_MARKETS] = empty(uint256[constants.MAX_MARKETS])
    indexes: int256[constants.MAX_MARKETS] = empty(int256[constants.MAX_MARKETS])
    prices[market] = ledger._price(market)
    indexes[market] = funding._current_index(market)
    seen: uint256 = 1 << market
    reads: uint256 = 0
    for slot: uint256 in range(1, constants.QUEUE_SCAN_READS + 1):
        if slot > n:
            break
        holder: address = ledger.side_at[key][slot]
        if holder == last or holder in skipped:
            continue
        reads += 1
        mine: ledger.Position = ledger._pos(holder, market)
        if last_score > 0 and perp_math._value(mine.size, prices[market]) <= mine.open_notional:
            continue
        mask: uint256 = ledger._mask(holder)
        reads += self._popcount(mask)
        if reads > constants.QUEUE_SCAN_READS:
            return
        equity: int256 = ledger.margin[holder]
        for m: uint256 in range(constants.MAX_MARKETS):
            if mask >> m == 0:
                break
            if (mask >> m) & 1 == 0:
                continue
            if (seen >> m) & 1 == 0:
                prices[m] = ledger._price(m)
                indexes[m] = funding._current_index(m)
                seen |= 1 << m
            pos: ledger.Position = mine
            if m != market:
                pos = ledger._pos(holder, m)
            equity += perp_math._value(pos.size, prices[m]) - pos.open_notional
            equity += perp_math._funding_credit(pos.size, indexes[m] - pos.funding_index)
        score: int256 = perp_math._adl_score(mine.size, mine.open_notional, prices[market], equity)
        assert not perp_math._ahead(score, holder, last_score, last), "ch: adl skipped a higher-ranked position"
        if reads == constants.QUEUE_SCAN_READS:
            return


@internal
@pure
def _popcount(mask: uint256) -> uint256:
    """
    @dev How many markets a market mask holds.
    """
    count: uint256 = 0
    for m: uint256 in range(constants.MAX_MARKETS):
        if mask >> m == 0:
            break
        count += (mask >> m) & 1
    return count


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
