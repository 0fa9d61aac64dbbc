"""`perp_math` twins written once for both backends (see :mod:`perpvault.prove.backend`).

Each function takes the backend ``B`` first and otherwise reads like its twin in
`perpvault/model/maths.py`, statement for statement, with the same checked-arithmetic
wrappers. On :class:`~perpvault.prove.backend.Concrete` they must return exactly what the
model returns, and raise `Revert` exactly where it raises: `tests/prove/test_generic_maths.py`
checks that on random and edge-case ints. That ties the proofs to the model, and the model is
tied to the bytecode by `tests/unit/test_model_agrees.py` and `tests/unit/test_perp_math_twins.py`.
"""

from __future__ import annotations

from typing import Any

from perpvault.model.constants import FEE_UNIT, FUNDING_UNIT, VALUE_UNIT

Int = Any  # int on Concrete, z3.ArithRef on Symbolic


def i256(B, x: Int) -> Int:
    return B.i256(x)


def u256(B, x: Int) -> Int:
    return B.u256(x)


def to_int(B, x: Int) -> Int:
    """`convert(x, int256)` of a uint256."""
    return B.i256(x)


def to_uint(B, x: Int) -> Int:
    """`convert(x, uint256)` of an int256: negative reverts."""
    return B.u256(x)


def vabs(B, x: Int) -> Int:
    """Vyper `abs(int256)`: abs(min_value(int256)) reverts."""
    return B.i256(B.abs_(x))


def neg(B, x: Int) -> Int:
    """Vyper unary minus on int256: -min_value(int256) reverts."""
    return B.i256(-x)


def trunc_div(B, x: Int, d: Int) -> Int:
    """Vyper `//` on int256: toward zero; d == 0 and MIN // -1 revert."""
    B.require(d != 0)
    q = B.floordiv_nonneg(B.abs_(x), B.abs_(d))
    q = B.ite(B.eq(x < 0, d < 0), q, -q)
    return B.i256(q)


def udiv(B, x: Int, d: Int) -> Int:
    """Vyper `//` on uint256."""
    B.require(d != 0)
    return B.floordiv_nonneg(x, d)


def ceil_div(B, x: Int, y: Int) -> Int:
    """snekmate `math._ceil_div`."""
    B.require(y != 0, "math: ceil_div division by zero")
    return B.cases(x == 0, lambda: 0, lambda: B.floordiv_nonneg(x - 1, y) + 1)


def floor_div(B, x: Int, d: Int) -> Int:
    """`perp_math._floor_div` (d > 0): truncate, then step down when x < 0 and inexact."""
    q = trunc_div(B, x, d)

    def negative() -> Int:
        return B.cases(B.i256(q * d) != x, lambda: B.i256(q - 1), lambda: q)

    return B.cases(x < 0, negative, lambda: q)


def value(B, size: Int, price: Int) -> Int:
    """`perp_math._value`: floor(size * price / 10**30)."""
    return floor_div(B, B.i256(size * to_int(B, price)), to_int(B, VALUE_UNIT))


def notional(B, size: Int, price: Int) -> Int:
    """`perp_math._notional`: ceil(|size| * price / 10**30)."""
    return ceil_div(B, B.u256(to_uint(B, vabs(B, size)) * price), VALUE_UNIT)


def fee(B, size: Int, price: Int, rate: Int) -> Int:
    """`perp_math._fee`: ceil(|size| * price * rate / 10**36)."""
    return ceil_div(B, B.u256(B.u256(to_uint(B, vabs(B, size)) * price) * rate), FEE_UNIT)


def requirement(B, size: Int, price: Int, rate: Int) -> Int:
    return fee(B, size, price, rate)


def funding_credit(B, size: Int, index_delta: Int) -> Int:
    """`perp_math._funding_credit`: floor(-size * delta / 10**36)."""
    if B.mut("funding_round_account"):
        # MUTANT: rounded the account's way (a payer pays less, a receiver gets more).
        x = neg(B, B.i256(size * index_delta))
        return -floor_div(B, -x, FUNDING_UNIT)
    return floor_div(B, neg(B, B.i256(size * index_delta)), FUNDING_UNIT)
