# pragma version ~=0.4.3
"""
@title PerpMathMock
@notice Test only: exposes every function of `modules/perp_math.vy` (and snekmate's
        `_mul_div`, which the LiquidityVault prices with) as an external, so tests can
        check each against its twin in `perpvault/model/maths.py`.
"""

from ..modules import perp_math
from snekmate.utils import math


@external
@pure
def floor_div(x: int256, d: int256) -> int256:
    """
    @notice `perp_math._floor_div`.
    @param x The dividend.
    @param d The divisor (> 0).
    @return int256 x / d rounded toward minus infinity.
    """
    return perp_math._floor_div(x, d)


@external
@pure
def value(size: int256, price: uint256) -> int256:
    """
    @notice `perp_math._value`.
    @param size Signed size, 18 decimals.
    @param price Price, 18 decimals.
    @return int256 Floored mark value, atoms.
    """
    return perp_math._value(size, price)


@external
@pure
def notional(size: int256, price: uint256) -> uint256:
    """
    @notice `perp_math._notional`.
    @param size Signed size, 18 decimals.
    @param price Price, 18 decimals.
    @return uint256 Notional rounded up, atoms.
    """
    return perp_math._notional(size, price)


@external
@pure
def fee(size: int256, price: uint256, rate: uint256) -> uint256:
    """
    @notice `perp_math._fee`.
    @param size Signed size, 18 decimals.
    @param price Price, 18 decimals.
    @param rate ppm.
    @return uint256 Fee rounded up, atoms.
    """
    return perp_math._fee(size, price, rate)


@external
@pure
def requirement(size: int256, price: uint256, rate: uint256) -> uint256:
    """
    @notice `perp_math._requirement`.
    @param size Signed size, 18 decimals.
    @param price Price, 18 decimals.
    @param rate ppm.
    @return uint256 Requirement rounded up, atoms.
    """
    return perp_math._requirement(size, price, rate)


@external
@pure
def funding_credit(size: int256, index_delta: int256) -> int256:
    """
    @notice `perp_math._funding_credit`.
    @param size Signed size, 18 decimals.
    @param index_delta Funding index change.
    @return int256 What the position receives (negative: pays), atoms.
    """
    return perp_math._funding_credit(size, index_delta)


@external
@pure
def adl_score(size: int256, open_notional: int256, price: uint256, equity: int256) -> int256:
    """
    @notice `perp_math._adl_score`.
    @param size Signed size.
    @param open_notional Signed cost basis, atoms.
    @param price Mark price.
    @param equity The account's cross-margin equity, atoms.
    @return int256 The score, WAD.
    """
    return perp_math._adl_score(size, open_notional, price, equity)


@external
@pure
def mul_div(x: uint256, y: uint256, denominator: uint256, roundup: bool) -> uint256:
    """
    @notice snekmate `math._mul_div`.
    @param x Multiplicand.
    @param y Multiplier.
    @param denominator Divisor.
    @param roundup Round up instead of down.
    @return uint256 x * y / denominator.
    """
    return math._mul_div(x, y, denominator, roundup)
