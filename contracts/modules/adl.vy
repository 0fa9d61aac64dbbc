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
         parts sum exactly. Counterparties pay the maker fee. ADL never leaves
         an account in debt: a listed counterparty that cannot pay its whole
         part gives up the largest part of its take it can pay (`_affordable`),
         and none if that is nothing; either way it keeps its place in the
         order and the list goes on. Then the queue's completeness
         (`_check_complete`). Returns the cursor after the last counterparty used.
    """
    total_abs: int256 = abs(close)
    # What the account receives for the closed size, signed (< 0: it pays).
    mark_leg: int256 = perp_math._value(-close, price)
    left: int256 = total_abs
    mark_left: int256 = mark_leg
    haircut_left: int256 = convert(haircut, int256)
    prev_score: int256 = max_value(int256)
    prev: address = empty(address)
    # Listed, still on the side, and exempt from the completeness check: capped or skipped.
    exempt: DynArray[address, constants.MAX_ADL] = []
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
        cp_mark: int256 = 0
        cp_haircut: int256 = 0
        fee: uint256 = 0
        cp_mark, cp_haircut, fee = self._parts(take, left, total_abs, mark_leg, mark_left, haircut, haircut_left, price, maker_fee)
        if self._after(equity, cq, take, cp_mark + cp_haircut, price) < convert(fee, int256):
            take = self._affordable(equity, total_abs, haircut, price, maker_fee, take)
            cp_mark, cp_haircut, fee = self._parts(take, left, total_abs, mark_leg, mark_left, haircut, haircut_left, price, maker_fee)
            exempt.append(cp)
            if take == 0 or self._after(equity, cq, take, cp_mark + cp_haircut, price) < convert(fee, int256):
                continue
        left -= take
        mark_left -= cp_mark
        haircut_left -= cp_haircut
        # The counterparty's position moves toward zero by `take`; it pays
        # (receives, if negative) the mark leg plus its haircut.
        cp_delta: int256 = -take if cq > 0 else take
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
    self._check_complete(market, close > 0, prev, prev_score, exempt)
    return i


@internal
@pure
def _parts(take: int256, left: int256, total_abs: int256, mark_leg: int256, mark_left: int256, haircut: uint256, haircut_left: int256, price: uint256, maker_fee: uint256) -> (int256, int256, uint256):
    """
    @dev A take's part of the mark leg and of the haircut (pro rata, floored;
         the remainders when it takes all that is left) and its maker fee.
    """
    if take == left:
        return mark_left, haircut_left, perp_math._fee(take, price, maker_fee)
    return mark_leg * take // total_abs, convert(haircut, int256) * take // total_abs, perp_math._fee(take, price, maker_fee)


@internal
@pure
def _after(equity: int256, cq: int256, take: int256, cash: int256, price: uint256) -> int256:
    """
    @dev A counterparty's equity after giving up `take` for `cash`, before the
         fee, exactly: funding is settled, `margin - open_notional` moves by
         -cash (`ledger._change_position`) and the position's value from cq to
         cq moved `take` toward zero.
    """
    q_after: int256 = cq - take if cq > 0 else cq + take
    return equity - cash + perp_math._value(q_after, price) - perp_math._value(cq, price)


@internal
@pure
def _affordable(equity: int256, total_abs: int256, haircut: uint256, price: uint256, maker_fee: uint256, take: int256) -> int256:
    """
    @dev The largest part of `take` a counterparty with `equity` can surely pay:
         a take t costs at most (haircut + fee(close)) * t / |close| + 3 atoms
         (the floored haircut part, the ceiled fee, the mark part and value
         floors), so t = (equity - 3) * |close| / (haircut + fee(close)),
         below `take` (which it could not pay). `_deleverage` checks it exactly.
         The product overflows only past 2**256 (an equity above 2**129 atoms
         against a close above 2**127), and then reverts.
    """
    cost: uint256 = haircut + perp_math._fee(total_abs, price, maker_fee)
    if equity <= 3 or cost == 0:
        return 0
    t: uint256 = convert(equity - 3, uint256) * convert(total_abs, uint256) // cost
    return min(convert(t, int256), take - 1)


@internal
@view
def _check_complete(market: uint256, longs: bool, last: address, last_score: int256, exempt: DynArray[address, constants.MAX_ADL]):
    """
    @dev Who pays is not the keeper's choice (SPEC section 6, `queue`): every
         position left on the counterparties' side other than the last one
         closed (`last`, scored before its step) ranks below it or was listed
         and could not pay its whole part (`exempt`: capped or skipped).
         Positions closed in full have left the side; the rest were untouched
         by this step, so their scores now are their scores at its start. Each score is `_score`'s, from the same equity
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
        if holder == last or holder in exempt:
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
