"""The generic maths the proofs run on is the model's maths, on ints and on z3 terms.

* On the :class:`Concrete` backend every `perpvault.prove.gmath` function returns exactly what
  its twin in `perpvault.model.maths` returns, and raises `Revert` exactly where it raises
  (the model's twins are tied to the bytecode by tests/unit/test_perp_math_twins.py).
* On the :class:`Symbolic` backend, the z3 term evaluated at the same inputs gives the same
  integer, and the collected no-revert conditions are all true exactly when the model does
  not revert: the z3 encoding (Euclidean `/`, `If` merges, guarded conditions) means what the
  ints mean.
"""

from __future__ import annotations

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from perpvault.model import maths
from perpvault.model.maths import INT256_MAX, INT256_MIN, UINT256_MAX, Revert
from perpvault.prove import gmath
from perpvault.prove.backend import Concrete, Symbolic

INT_EDGES = [0, 1, -1, 2, -2, 7, -7, INT256_MIN, INT256_MIN + 1, INT256_MAX, INT256_MAX - 1,
             10**18, -(10**18), 10**30, -(10**30), 10**30 + 1, -(10**30) - 1, 10**36, -(10**36),
             10**36 + 1, -(10**36) - 1, 2**128, -(2**128)]
UINT_EDGES = [0, 1, 2, 10**6, 10**18, 10**18 + 7, 10**30, 10**36, 2**128, 2**255, UINT256_MAX,
              UINT256_MAX - 1]

int256s = st.one_of(
    st.sampled_from(INT_EDGES),
    st.integers(INT256_MIN, INT256_MAX),
    st.integers(-(10**40), 10**40),
    st.integers(-(10**20), 10**20),
    st.integers(-100, 100),
)
uint256s = st.one_of(
    st.sampled_from(UINT_EDGES),
    st.integers(0, UINT256_MAX),
    st.integers(0, 10**40),
    st.integers(0, 10**24),
    st.integers(0, 100),
)
rates = st.one_of(st.sampled_from([0, 1, 200, 500, 10_000, 50_000, 10**6]), uint256s)

# name -> (argument strategy, argument kinds for the symbolic variables)
CASES = {
    "trunc_div": (st.tuples(int256s, int256s), "ii"),
    "floor_div": (st.tuples(int256s, int256s), "ii"),
    "ceil_div": (st.tuples(uint256s, uint256s), "uu"),
    "value": (st.tuples(int256s, uint256s), "iu"),
    "notional": (st.tuples(int256s, uint256s), "iu"),
    "fee": (st.tuples(int256s, uint256s, rates), "iuu"),
    "requirement": (st.tuples(int256s, uint256s, rates), "iuu"),
    "funding_credit": (st.tuples(int256s, int256s), "ii"),
}


def model_call(name: str, args: tuple):
    try:
        return getattr(maths, name)(*args)
    except Revert as exc:
        return Revert, exc.reason


def generic_call(name: str, args: tuple):
    try:
        return getattr(gmath, name)(Concrete(), *args)
    except Revert as exc:
        return Revert, exc.reason


def symbolic_call(name: str, args: tuple):
    """Build the term on fresh variables, then evaluate it and its conditions at `args`."""
    B = Symbolic()
    xs = [z3.Int(f"x{i}") for i in range(len(args))]
    term = getattr(gmath, name)(B, *xs)
    sub = [(x, z3.IntVal(v)) for x, v in zip(xs, args, strict=True)]
    ok = z3.simplify(z3.substitute(z3.And(*B.conds) if B.conds else z3.BoolVal(True), *sub))
    assert z3.is_true(ok) or z3.is_false(ok)
    if z3.is_false(ok):
        return Revert
    val = z3.simplify(z3.substitute(term if z3.is_expr(term) else z3.IntVal(term), *sub))
    return val.as_long()


@pytest.mark.parametrize("name", sorted(CASES))
def test_generic_maths__equals_model_on_ints(name):
    strategy, _ = CASES[name]

    @settings(max_examples=400, deadline=None)
    @given(args=strategy)
    def check(args: tuple) -> None:
        assert generic_call(name, args) == model_call(name, args), f"{name}{args}"

    check()


@pytest.mark.parametrize("name", sorted(CASES))
def test_generic_maths__z3_term_means_the_same(name):
    strategy, _ = CASES[name]

    @settings(max_examples=150, deadline=None)
    @given(args=strategy)
    def check(args: tuple) -> None:
        expected = model_call(name, args)
        got = symbolic_call(name, args)
        if isinstance(expected, tuple):
            assert got is Revert, f"{name}{args}: model reverts, z3 term does not"
        else:
            assert got == expected, f"{name}{args}"

    check()


def test_floor_div__table():
    for x, d, q in [(7, 2, 3), (-7, 2, -4), (-6, 2, -3), (-1, 10**30, -1), (0, 5, 0),
                    (INT256_MIN, 1, INT256_MIN)]:
        assert gmath.floor_div(Concrete(), x, d) == q
    with pytest.raises(Revert):
        gmath.trunc_div(Concrete(), INT256_MIN, -1)
