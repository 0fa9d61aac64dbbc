# pragma version ~=0.4.3
"""
@title trading
@notice SPEC section 4: a trade moves two accounts by opposite sizes at one
        price in the same call, so every market's sizes sum to zero. The buyer
        pays the value rounded up, the seller receives it rounded down; the atom
        of dust and the fund's share of the fees go to the insurance fund, the
        rest of the fees to the LiquidityVault.
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


@internal
def _trade(
    buyer: address,
    seller: address,
    market: uint256,
    size: int256,
    price: uint256,
    buyer_fee_rate: uint256,
    seller_fee_rate: uint256,
    check: bool,
) -> (uint256, uint256):
    """
    @dev `buyer` buys `size` (> 0) from `seller` at `price`. With `check`, both
         accounts must pass the margin rule and, while paused, only reductions
         pass. Returns the buyer's and the seller's fee.
    """
    # Funding is settled before the trade (`check`: in every market, so the
    # margin rule sees no pending funding). `ledger._change_position` makes
    # an account that opens its first position known.
    funding._settle(buyer, market)
    funding._settle(seller, market)
    if check:
        funding._settle_all(buyer, market)
        funding._settle_all(seller, market)
    # margin - open_notional before the trade: with the sizes, it gives the
    # pre-trade equity and requirement exactly (see `margin_rule._check_margin`).
    pb: ledger.Position = ledger._pos(buyer, market)
    ps: ledger.Position = ledger._pos(seller, market)
    q_buyer: int256 = pb.size
    q_seller: int256 = ps.size
    k_buyer: int256 = ledger.margin[buyer] - pb.open_notional
    k_seller: int256 = ledger.margin[seller] - ps.open_notional
    pays: uint256 = perp_math._notional(size, price)
    gets: uint256 = convert(perp_math._value(size, price), uint256)
    ledger._change_position(buyer, market, size, convert(pays, int256))
    ledger._change_position(seller, market, -size, -convert(gets, int256))
    bf: uint256 = perp_math._fee(size, price, buyer_fee_rate)
    sf: uint256 = perp_math._fee(size, price, seller_fee_rate)
    ledger.margin[buyer] -= convert(bf, int256)
    ledger.margin[seller] -= convert(sf, int256)
    fees: uint256 = bf + sf
    to_fund: uint256 = fees
    v: address = ledger.vault
    if v != empty(address):
        to_fund = fees * parameters._risk().fund_fee_share // constants.PPM
        ledger.margin[v] += convert(fees - to_fund, int256)
    ledger.insurance_due += to_fund + pays - gets
    if check:
        margin_rule._check_margin(buyer, q_buyer, k_buyer, market, price)
        margin_rule._check_margin(seller, q_seller, k_seller, market, price)
    return bf, sf


@internal
@view
def _check_min_notional(account: address, market: uint256, oracle_price: uint256):
    """
    @dev SPEC section 4: a voluntary trade leaves `account`'s position flat or at
         least the market's minimum notional at the oracle price, so dust cannot
         clog the ADL queue. Liquidation and ADL do not check it.
    """
    q: int256 = ledger._size(account, market)
    if q != 0:
        assert perp_math._notional(q, oracle_price) >= parameters.min_notional[market], "ch: position below minimum notional"
