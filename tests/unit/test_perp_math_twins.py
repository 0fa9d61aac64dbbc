"""Every perp_math function agrees with its twin in perpvault.model.maths, reverts included.

`contracts/mocks/PerpMathMock.vy` exposes the module's internals; Hypothesis draws signed and
unsigned values from the whole range, the edges (0, +-1, min/max, the unit scales) and the
realistic middle. Where the model raises `Revert`, the contract must revert too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from ape.exceptions import VirtualMachineError
from hypothesis import given, settings
from hypothesis import strategies as st

from perpvault.model import maths
from perpvault.model.maths import INT256_MAX, INT256_MIN, UINT256_MAX, Revert

INT_EDGES = [
    0,
    1,
    -1,
    2,
    -2,
    7,
    -7,
    INT256_MIN,
    INT256_MIN + 1,
    INT256_MAX,
    INT256_MAX - 1,
    10**18,
    -(10**18),
    10**30,
    -(10**30),
    10**36,
    -(10**36),
    10**36 + 1,
    -(10**36) - 1,
    2**128,
    -(2**128),
]
UINT_EDGES = [
    0,
    1,
    2,
    10**6,
    10**18,
    10**18 + 7,
    10**30,
    10**36,
    2**128,
    2**255,
    UINT256_MAX,
    UINT256_MAX - 1,
]

int256s = st.one_of(
    st.sampled_from(INT_EDGES),
    st.integers(INT256_MIN, INT256_MAX),
    st.integers(-(10**40), 10**40),
    st.integers(-(10**20), 10**20),
)
uint256s = st.one_of(
    st.sampled_from(UINT_EDGES),
    st.integers(0, UINT256_MAX),
    st.integers(0, 10**40),
    st.integers(0, 10**24),
)
rates = st.one_of(st.sampled_from([0, 1, 200, 500, 10_000, 50_000, 10**6]), uint256s)

CASES: dict[str, Any] = {
    "floor_div": st.tuples(int256s, int256s),
    "value": st.tuples(int256s, uint256s),
    "notional": st.tuples(int256s, uint256s),
    "fee": st.tuples(int256s, uint256s, rates),
    "requirement": st.tuples(int256s, uint256s, rates),
    "funding_credit": st.tuples(int256s, int256s),
    "adl_score": st.tuples(int256s, int256s, uint256s, int256s),
    "mul_div": st.tuples(uint256s, uint256s, uint256s, st.booleans()),
}


@pytest.fixture(scope="module")
def perp_math_mock(project, owner):
    return project.PerpMathMock.deploy(sender=owner)


def _model(name: str) -> Callable[..., int]:
    return getattr(maths, name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_perp_math__twin_agrees_with_contract(perp_math_mock, name, request):
    contract_fn = getattr(perp_math_mock, name)
    model_fn = _model(name)

    @settings(max_examples=25, deadline=None)
    @given(args=CASES[name])
    def check(args: tuple) -> None:
        try:
            expected = model_fn(*args)
        except Revert:
            with pytest.raises(VirtualMachineError):
                contract_fn(*args)
            return
        assert contract_fn(*args) == expected, f"{name}{args}"

    check()


@pytest.mark.parametrize(
    ("x", "d", "expected"),
    [(7, 2, 3), (-7, 2, -4), (-6, 2, -3), (-1, 10**30, -1), (0, 5, 0), (INT256_MIN, 1, INT256_MIN)],
)
def test_floor_div__table(x, d, expected):
    assert maths.floor_div(x, d) == expected


def test_trunc_div__rounds_toward_zero_and_min_over_minus_one_reverts():
    assert maths.trunc_div(-7, 2) == -3
    assert maths.trunc_div(7, -2) == -3
    with pytest.raises(Revert, match="overflow"):
        maths.trunc_div(INT256_MIN, -1)
    with pytest.raises(Revert):
        maths.trunc_div(1, 0)
