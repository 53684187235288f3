"""Column expressions: what a feature aggregates and which events it keeps.

An expression is evaluated on one event (a mapping) by the per-event path and on
whole columns (NumPy arrays) by the columnar path, with the same operators, so
both paths see the same values.

>>> expr = (col("amount") * 2) > 10
>>> expr.evaluate({"amount": 6.0})
True
>>> sorted(expr.columns())
['amount']
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "&": operator.and_,
    "|": operator.or_,
}


class Expr:
    """Base class of column expressions; build them with :func:`col` and operators."""

    def evaluate(self, row: Mapping[str, Any]) -> Any:
        """Evaluate on one event.

        Args:
            row: Field name to value.

        Returns:
            The value.
        """
        raise NotImplementedError  # pragma: no cover - abstract

    def evaluate_columns(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Evaluate on whole columns.

        Args:
            columns: Field name to a NumPy array, all of one length.

        Returns:
            An array of that length.
        """
        raise NotImplementedError  # pragma: no cover - abstract

    def columns(self) -> frozenset[str]:
        """The event fields this expression reads."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _bin(self, op: str, other: object) -> BinaryOp:
        return BinaryOp(op, self, other if isinstance(other, Expr) else Lit(other))

    def __add__(self, other: object) -> Expr:
        return self._bin("+", other)

    def __sub__(self, other: object) -> Expr:
        return self._bin("-", other)

    def __mul__(self, other: object) -> Expr:
        return self._bin("*", other)

    def __truediv__(self, other: object) -> Expr:
        return self._bin("/", other)

    def __eq__(self, other: object) -> Expr:  # type: ignore[override]
        return self._bin("==", other)

    def __ne__(self, other: object) -> Expr:  # type: ignore[override]
        return self._bin("!=", other)

    def __lt__(self, other: object) -> Expr:
        return self._bin("<", other)

    def __le__(self, other: object) -> Expr:
        return self._bin("<=", other)

    def __gt__(self, other: object) -> Expr:
        return self._bin(">", other)

    def __ge__(self, other: object) -> Expr:
        return self._bin(">=", other)

    def __and__(self, other: object) -> Expr:
        return self._bin("&", other)

    def __or__(self, other: object) -> Expr:
        return self._bin("|", other)

    def __hash__(self) -> int:
        return hash(repr(self))


@dataclass(frozen=True, eq=False, repr=False)
class Col(Expr):
    """A reference to an event field."""

    name: str

    def evaluate(self, row: Mapping[str, Any]) -> Any:  # noqa: D102
        return row[self.name]

    def evaluate_columns(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:  # noqa: D102
        return columns[self.name]

    def columns(self) -> frozenset[str]:  # noqa: D102
        return frozenset((self.name,))

    def __repr__(self) -> str:
        return f"col({self.name!r})"


@dataclass(frozen=True, eq=False, repr=False)
class Lit(Expr):
    """A constant."""

    value: Any

    def evaluate(self, row: Mapping[str, Any]) -> Any:  # noqa: D102
        return self.value

    def evaluate_columns(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:  # noqa: D102
        length = len(next(iter(columns.values()))) if columns else 0
        return np.full(length, self.value)

    def columns(self) -> frozenset[str]:  # noqa: D102
        return frozenset()

    def __repr__(self) -> str:
        return repr(self.value)


@dataclass(frozen=True, eq=False, repr=False)
class BinaryOp(Expr):
    """Two expressions joined by an arithmetic, comparison or boolean operator."""

    op: str
    left: Expr
    right: Expr

    def evaluate(self, row: Mapping[str, Any]) -> Any:  # noqa: D102
        value = _BINARY[self.op](self.left.evaluate(row), self.right.evaluate(row))
        return bool(value) if self.op in ("&", "|") else value

    def evaluate_columns(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:  # noqa: D102
        left = self.left.evaluate_columns(columns)
        right = self.right.evaluate_columns(columns)
        return np.asarray(_BINARY[self.op](left, right))

    def columns(self) -> frozenset[str]:  # noqa: D102
        return self.left.columns() | self.right.columns()

    def __repr__(self) -> str:
        return f"({self.left!r} {self.op} {self.right!r})"


def col(name: str) -> Col:
    """Refer to an event field in a feature's value or filter.

    Args:
        name: The field name.

    Returns:
        An expression.
    """
    return Col(name)


def as_expr(value: str | Expr) -> Expr:
    """Turn a column name into an expression; pass expressions through.

    Args:
        value: A field name or an expression.

    Returns:
        An expression.
    """
    return Col(value) if isinstance(value, str) else value
