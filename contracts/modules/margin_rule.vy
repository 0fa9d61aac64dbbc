# pragma version ~=0.4.3
"""
@title margin_rule
@notice SPEC section 3, the margin rule: an account's equity and requirements
        at mark (pending funding counted exactly as settlement would settle it),
        and the check every trade must pass: end at or above the initial
        requirement (a fill's gain against the oracle not counted), or reduce
        without raising the maintenance requirement and without lowering
        equity / maintenance (dYdX's rule, I8). While paused only reductions
        pass; the vault's side of a vault trade is exempt, so a trader's
        reduction is never refused by the pause.
"""

from snekmate.utils import pausable
from . import constants
from . import perp_math
from . import ledger
from . import parameters
from . import funding

uses: pausable
uses: ledger
uses: parameters
uses: funding


struct Health:
    equity: int256
    initial: uint256
    maintenance: uint256
    notional: uint256


@internal
@pure
def _check_enough(ok: bool):
    assert ok, "ch: insufficient margin"


@internal
@view
def _health(account: address) -> Health:
    """
    @dev Equity and requirements at mark; pending funding counted exactly as
         `_settle` would settle it.
    """
    h: Health = Health(equity=ledger.margin[account], initial=0, maintenance=0, notional=0)
    mask: uint256 = ledger._mask(account)
    for market: uint256 in range(constants.MAX_MARKETS):
        if mask >> market == 0:
            break
        if (mask >> market) & 1 == 0:
            continue
        pos: ledger.Position = ledger._pos(account, market)
        price: uint256 = ledger._price(market)
        index: int256 = funding._current_index(market)
        h.equity += perp_math._value(pos.size, price) - pos.open_notional
        h.equity += perp_math._funding_credit(pos.size, index - pos.funding_index)
        h.notional += perp_math._notional(pos.size, price)
        r: parameters.Rates = parameters._rates(market)
        h.initial += perp_math._requirement(pos.size, price, r.imr)
        h.maintenance += perp_math._requirement(pos.size, price, r.mmr)
    return h


@internal
@view
def _check_margin(account: address, q_before: int256, k_before: int256, market: uint256, price: uint256):
    """
    @dev A trade that grows risk must leave equity >= initial requirement, its
         fill at `price` counted as if at the oracle: the fill's gain against
         the oracle is no margin (SPEC section 4). A reduction (no flip) that
         leaves less must not raise the maintenance requirement nor lower
         equity / maintenance (dYdX's rule, I8). While paused, the account
         must reduce; the vault is exempt (it only trades as the counterparty
         the trader chose, whose own side is checked), so a reduction against
         it passes even where it grows the vault's position.
         The pre-trade equity and maintenance are not recomputed: funding is
         settled, so only this market's value and margin - open_notional
         (`k_before` before the trade) changed, and both are exact integers.
    """
    pos: ledger.Position = ledger._pos(account, market)
    q_after: int256 = pos.size
    reduced: bool = abs(q_after) < abs(q_before) and (q_after == 0 or (q_after > 0) == (q_before > 0))
    if pausable.paused:
        assert reduced or account == ledger.vault, "ch: paused"
    h: Health = self._health(account)
    p: uint256 = ledger._price(market)
    # What filling at `price` rather than the oracle handed this account.
    gain: int256 = 0
    if not reduced:
        gain = max(perp_math._value(q_after - q_before, p) - perp_math._value(q_after - q_before, price), 0)
    if h.equity - gain >= convert(h.initial, int256):
        return
    mmr: uint256 = parameters._rates(market).mmr
    e_before: int256 = h.equity - perp_math._value(q_after, p) + perp_math._value(q_before, p) - ledger.margin[account] + pos.open_notional + k_before
    m_before: uint256 = h.maintenance - perp_math._requirement(q_after, p, mmr) + perp_math._requirement(q_before, p, mmr)
    self._check_enough(reduced and h.maintenance <= m_before)
    assert h.equity * convert(m_before, int256) >= e_before * convert(h.maintenance, int256), "ch: margin ratio worsened"
