# pragma version ~=0.4.3
"""
@title perp_math
@notice The integer maths of perpvault: values, notionals, fees, rounding,
        the ADL score and the ADL order. Every function here has a twin of
        the same name in `perpvault/model/maths.py`; the two must agree on every
        input.
@dev Units: money in collateral atoms (6 decimals), size in 18 decimals of the
     base asset (signed), price in 18 decimals of quote per whole base unit.
     size * price / 10**30 is collateral atoms.
     Rounding: what an account owes rounds up, what it receives rounds down.
"""

from . import constants


@internal
@pure
def _floor_div(x: int256, d: int256) -> int256:
    """
    @dev Signed division rounding toward minus infinity. Vyper's `//`
         truncates toward zero, and its remainder has the sign of `x`, so the
         quotient is one too high exactly when the remainder is negative.
         Branch-free, like `_abs` and `_ceil_div`: a symbolic executor (halmos,
         docs/verification.md) then follows one path through the maths
         instead of one per sign and remainder.
    """
    q: int256 = x // d
    return unsafe_sub(q, convert(unsafe_sub(x, unsafe_mul(q, d)) < 0, int256))


@internal
@pure
def _abs(x: int256) -> uint256:
    """
    @dev |x| as a uint256, branch-free. Reverts on min_value(int256), as
         Vyper's `abs` does.
    """
    assert x != min_value(int256)
    m: int256 = x >> 255
    return convert(convert(unsafe_sub(x ^ m, m), bytes32), uint256)


@internal
@pure
def _ceil_div(x: uint256, d: uint256) -> uint256:
    """
    @dev ceil(x / d) for a constant `d` > 1, branch-free (snekmate's
         `_ceil_div` branches on x == 0).
    """
    q: uint256 = unsafe_div(x, d)
    return unsafe_add(q, convert(unsafe_mul(q, d) != x, uint256))


@internal
@pure
def _value(size: int256, price: uint256) -> int256:
    """
    @dev The mark value of `size` at `price`, floored: a long's value rounds
         down, a short's (negative) value rounds away from zero.
    """
    return self._floor_div(size * convert(price, int256), convert(constants.VALUE_UNIT, int256))


@internal
@pure
def _notional(size: int256, price: uint256) -> uint256:
    """
    @dev |size| * price in atoms, rounded up (a requirement, so owed).
    """
    return self._ceil_div(self._abs(size) * price, constants.VALUE_UNIT)


@internal
@pure
def _fee(size: int256, price: uint256, rate: uint256) -> uint256:
    """
    @dev A fee of `rate` ppm on the notional of `size` at `price`, rounded up.
    """
    return self._ceil_div(self._abs(size) * price * rate, constants.FEE_UNIT)


@internal
@pure
def _requirement(size: int256, price: uint256, rate: uint256) -> uint256:
    """
    @dev A margin requirement of `rate` ppm on the notional, rounded up.
    """
    return self._fee(size, price, rate)


@internal
@pure
def _funding_credit(size: int256, index_delta: int256) -> int256:
    """
    @dev What a position receives (negative: pays) for the funding index
         moving by `index_delta`: floor(-size * delta / 10**36), so payers
         round up and receivers round down.
    """
    return self._floor_div(-(size * index_delta), constants.FUNDING_UNIT)


@internal
@pure
def _adl_score(size: int256, open_notional: int256, price: uint256, equity: int256) -> int256:
    """
    @dev SPEC section 6: pnl_pct * eff_lev when pnl_pct > 0, else
         pnl_pct / eff_lev, in WAD. pnl_pct = u / |open notional|,
         eff_lev = |value| / equity (cross-margin equity). Components are
         clamped to SCORE_CAP; equity <= 0 counts as the cap.
         Divisions truncate toward zero, as Vyper's `//` does.
    """
    value: int256 = self._value(size, price)
    pnl: int256 = value - open_notional
    basis: int256 = max(abs(open_notional), 1)
    pnl_pct: int256 = min(max(pnl * constants.WAD // basis, -constants.SCORE_CAP), constants.SCORE_CAP)
    lev: int256 = constants.SCORE_CAP
    if equity > 0:
        lev = min(abs(value) * constants.WAD // equity, constants.SCORE_CAP)
    lev = max(lev, 1)
    if pnl_pct > 0:
        return pnl_pct * lev // constants.WAD
    return pnl_pct * constants.WAD // lev


@internal
@pure
def _ahead(score_a: int256, a: address, score_b: int256, b: address) -> bool:
    """
    @dev Whether (score_a, a) goes strictly before (score_b, b) in the ADL queue:
         higher score first, ties by lower address. Strictness rejects duplicates.
         The one ordering the Liquidator checks and RiskLens ranks by.
    """
    if score_a != score_b:
        return score_a > score_b
    return convert(a, uint256) < convert(b, uint256)
