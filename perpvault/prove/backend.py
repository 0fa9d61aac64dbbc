"""One arithmetic, two interpretations: Python ints (the model's rules) or z3 terms.

The transitions in :mod:`perpvault.prove.transitions` are written once against a backend
``B``. On :class:`Concrete` they compute what ``perpvault.model`` computes and raise the
model's :class:`~perpvault.model.maths.Revert` where the contract reverts. On
:class:`Symbolic` the same code builds z3 integer terms; every place the contract would
revert (checked int256/uint256 arithmetic, negative-to-uint conversion, ``abs`` and
negation of ``min_value(int256)``, division by zero, a failed ``assert``) becomes a
*no-revert condition* collected in ``B.conds``. A proof assumes all of them, so it speaks
about exactly the executions that do not revert, as the EVM does.

Branches: ``B.cases(cond, then, else_)`` runs only the taken branch on ints; on z3 it runs
both under a guarded path condition (a condition collected inside a branch only applies
when that branch is taken) and merges the results with ``If``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import z3

from perpvault.model.maths import INT256_MAX, INT256_MIN, OVERFLOW, UINT256_MAX, Revert


class Concrete:
    """Python ints, the model's semantics: out of range raises Revert."""

    symbolic = False

    def __init__(self, mutants: frozenset[str] | set[str] = frozenset()) -> None:
        self.mutants = frozenset(mutants)

    def mut(self, name: str) -> bool:
        return name in self.mutants

    # --- conditions and branches -----------------------------------------------------------
    def require(self, cond: Any, reason: str = OVERFLOW) -> None:
        if not cond:
            raise Revert(reason)

    def cases(self, cond: Any, then: Callable[[], Any], else_: Callable[[], Any]) -> Any:
        return then() if cond else else_()

    def ite(self, cond: Any, a: Any, b: Any) -> Any:
        return a if cond else b

    @staticmethod
    def and_(*xs: Any) -> bool:
        return all(xs)

    @staticmethod
    def or_(*xs: Any) -> bool:
        return any(xs)

    @staticmethod
    def not_(x: Any) -> bool:
        return not x

    @staticmethod
    def eq(a: Any, b: Any) -> bool:
        return a == b

    # --- EVM integer rules -----------------------------------------------------------------
    def i256(self, x: int) -> int:
        self.require(INT256_MIN <= x <= INT256_MAX)
        return x

    def u256(self, x: int) -> int:
        self.require(0 <= x <= UINT256_MAX)
        return x

    def floordiv_nonneg(self, x: int, d: int) -> int:
        """x // d for x >= 0, d > 0 (uint256 `//`, or any floor by a positive constant)."""
        return x // d

    def mod_nonneg(self, x: int, d: int) -> int:
        return x % d

    def abs_(self, x: int) -> int:
        return abs(x)

    def min_(self, a: int, b: int) -> int:
        return min(a, b)

    def max_(self, a: int, b: int) -> int:
        return max(a, b)


class Symbolic(Concrete):
    """z3 integer terms; range checks become no-revert conditions in ``conds``."""

    symbolic = True

    def __init__(self, mutants: frozenset[str] | set[str] = frozenset()) -> None:
        super().__init__(mutants)
        self.conds: list[z3.BoolRef] = []
        self._path: list[z3.BoolRef] = []
        self._n = 0

    def fresh(self, name: str) -> z3.ArithRef:
        self._n += 1
        return z3.Int(f"{name}!{self._n}")

    def require(self, cond: Any, reason: str = OVERFLOW) -> None:
        if isinstance(cond, bool):
            cond = z3.BoolVal(cond)
        if self._path:
            cond = z3.Implies(z3.And(*self._path), cond)
        self.conds.append(cond)

    @contextmanager
    def _under(self, cond: z3.BoolRef):
        self._path.append(cond)
        try:
            yield
        finally:
            self._path.pop()

    def cases(self, cond: Any, then: Callable[[], Any], else_: Callable[[], Any]) -> Any:
        cond = z3.simplify(z3.BoolVal(cond) if isinstance(cond, bool) else cond)
        if z3.is_true(cond):
            return then()
        if z3.is_false(cond):
            return else_()
        with self._under(cond):
            a = then()
        with self._under(z3.Not(cond)):
            b = else_()
        return _merge(cond, a, b)

    def ite(self, cond: Any, a: Any, b: Any) -> Any:
        return z3.If(cond, a, b)

    @staticmethod
    def and_(*xs: Any) -> Any:
        return z3.And(*xs)

    @staticmethod
    def or_(*xs: Any) -> Any:
        return z3.Or(*xs)

    @staticmethod
    def not_(x: Any) -> Any:
        return z3.Not(x)

    @staticmethod
    def eq(a: Any, b: Any) -> Any:
        return a == b

    def i256(self, x: Any) -> Any:
        self.require(z3.And(x >= INT256_MIN, x <= INT256_MAX))
        return x

    def u256(self, x: Any) -> Any:
        self.require(z3.And(x >= 0, x <= UINT256_MAX))
        return x

    def floordiv_nonneg(self, x: Any, d: Any) -> Any:
        # z3's Int `/` is Euclidean: equal to floor division for d > 0.
        return x / d

    def mod_nonneg(self, x: Any, d: Any) -> Any:
        return x % d

    def abs_(self, x: Any) -> Any:
        return z3.If(x >= 0, x, -x)

    def min_(self, a: Any, b: Any) -> Any:
        return z3.If(a <= b, a, b)

    def max_(self, a: Any, b: Any) -> Any:
        return z3.If(a >= b, a, b)


def _merge(cond: z3.BoolRef, a: Any, b: Any) -> Any:
    """Merge two branch results (ints/terms, or tuples/lists/dicts of them) with If."""
    if isinstance(a, tuple):
        return tuple(_merge(cond, x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, list):
        return [_merge(cond, x, y) for x, y in zip(a, b, strict=True)]
    if isinstance(a, dict):
        return {k: _merge(cond, a[k], b[k]) for k in a}
    if a is None and b is None:
        return None
    return z3.If(cond, a, b)
