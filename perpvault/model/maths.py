"""Twins of `contracts/modules/perp_math.vy`, and the EVM integer rules they run under.

Every function here has the same name as its Vyper twin (without the leading underscore)
and computes the same integer, or raises :class:`Revert` where the contract reverts.
Vyper checks every int256/uint256 operation: an out-of-range intermediate result reverts,
so the helpers below (``i256``, ``u256``, ``to_int``, ``to_uint``) are applied to every
intermediate the contract computes. Vyper's ``//`` on int256 truncates toward zero
(:func:`trunc_div`); Python's ``//`` floors, so it is never used on signed values.
"""

from __future__ import annotations

from perpvault.model.constants import FEE_UNIT, FUNDING_UNIT, SCORE_CAP, VALUE_UNIT, WAD

INT256_MIN = -(2**255)
INT256_MAX = 2**255 - 1
UINT256_MAX = 2**256 - 1

OVERFLOW = "overflow"


class Revert(Exception):
    """A contract revert; `reason` is the contract's reason string ("overflow" for checked
    arithmetic and conversions, which revert without one on chain)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def require(condition: bool, reason: str) -> None:
    """Vyper's `assert condition, reason`."""
    if not condition:
        raise Revert(reason)


# --- EVM integer rules ----------------------------------------------------------------------


def i256(x: int) -> int:
    """An int256 result: out of range reverts."""
    if x < INT256_MIN or x > INT256_MAX:
        raise Revert(OVERFLOW)
    return x


def u256(x: int) -> int:
    """A uint256 result: negative or too large reverts (underflow included)."""
    if x < 0 or x > UINT256_MAX:
        raise Revert(OVERFLOW)
    return x


def to_int(x: int) -> int:
    """`convert(x, int256)` of a uint256."""
    return i256(x)


def to_uint(x: int) -> int:
    """`convert(x, uint256)` of an int256: a negative value reverts."""
    return u256(x)


def vabs(x: int) -> int:
    """Vyper's `abs` on int256: abs(min_value(int256)) reverts."""
    return i256(abs(x))


def trunc_div(x: int, d: int) -> int:
    """Vyper's `//` on int256: rounds toward zero; division by zero and MIN // -1 revert."""
    if d == 0:
        raise Revert(OVERFLOW)
    q = abs(x) // abs(d)
    if (x < 0) != (d < 0):
        q = -q
    return i256(q)


def udiv(x: int, d: int) -> int:
    """Vyper's `//` on uint256 (floor); division by zero reverts."""
    if d == 0:
        raise Revert(OVERFLOW)
    return x // d


def ceil_div(x: int, y: int) -> int:
    """snekmate `math._ceil_div` (uint256, `y` > 0)."""
    require(y != 0, "math: ceil_div division by zero")
    return 0 if x == 0 else (x - 1) // y + 1


def mul_div(x: int, y: int, denominator: int, roundup: bool) -> int:
    """snekmate `math._mul_div`: (x * y) / denominator in 512 bits, rounded as asked."""
    require(denominator != 0, "math: mul_div division by zero")
    product = x * y
    if product > UINT256_MAX:
        # Only the 512-bit path checks that the quotient fits.
        require(denominator > product >> 256, "math: mul_div overflow")
        result = product // denominator
        if roundup and product % denominator != 0:
            result = u256(result + 1)
        return result
    result = product // denominator
    if roundup and product % denominator != 0:
        result += 1
    return result


# --- perp_math twins --------------------------------------------------------------------------


def floor_div(x: int, d: int) -> int:
    """`perp_math._floor_div`: signed division rounding toward minus infinity (`d` > 0)."""
    q = trunc_div(x, d)
    if x < 0 and i256(q * d) != x:
        q = i256(q - 1)
    return q


def value(size: int, price: int) -> int:
    """`perp_math._value`: size * price / 10**30, floored."""
    return floor_div(i256(size * to_int(price)), to_int(VALUE_UNIT))


def notional(size: int, price: int) -> int:
    """`perp_math._notional`: |size| * price / 10**30, rounded up."""
    return ceil_div(u256(to_uint(vabs(size)) * price), VALUE_UNIT)


def fee(size: int, price: int, rate: int) -> int:
    """`perp_math._fee`: `rate` ppm of the notional, rounded up."""
    return ceil_div(u256(u256(to_uint(vabs(size)) * price) * rate), FEE_UNIT)


def requirement(size: int, price: int, rate: int) -> int:
    """`perp_math._requirement`: a margin requirement of `rate` ppm, rounded up."""
    return fee(size, price, rate)


def funding_credit(size: int, index_delta: int) -> int:
    """`perp_math._funding_credit`: floor(-size * delta / 10**36)."""
    return floor_div(i256(-i256(size * index_delta)), FUNDING_UNIT)


def adl_score(size: int, open_notional: int, price: int, equity: int) -> int:
    """`perp_math._adl_score`: pnl_pct * eff_lev if pnl_pct > 0 else pnl_pct / eff_lev (WAD)."""
    val = value(size, price)
    pnl = i256(val - open_notional)
    basis = max(vabs(open_notional), 1)
    pnl_pct = min(max(trunc_div(i256(pnl * WAD), basis), -SCORE_CAP), SCORE_CAP)
    lev = SCORE_CAP
    if equity > 0:
        lev = min(trunc_div(i256(vabs(val) * WAD), equity), SCORE_CAP)
    lev = max(lev, 1)
    if pnl_pct > 0:
        return trunc_div(i256(pnl_pct * lev), WAD)
    return trunc_div(i256(pnl_pct * WAD), lev)


def ahead(score_a: int, a: str, score_b: int, b: str) -> bool:
    """Whether (score_a, a) goes strictly before (score_b, b) in the ADL queue: higher score
    first, ties by lower address (strict, so a duplicate is out of order)."""
    if score_a != score_b:
        return score_a > score_b
    return int(a, 16) < int(b, 16)
