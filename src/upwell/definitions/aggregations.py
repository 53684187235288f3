"""Aggregation specs: what a windowed feature computes over its events.

These are declarations only; the engine (``upwell.engine.aggregations``) implements
them. Each spec names its input (a column or expression) where it needs one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from upwell.definitions.expressions import Expr, as_expr


class ResultKind(enum.Enum):
    """The type of an aggregation's result."""

    INT = "int"
    FLOAT = "float"
    VALUE = "value"
    LIST = "list"


@dataclass(frozen=True, kw_only=True)
class Aggregation:
    """Base class of aggregation specs."""

    @property
    def inputs(self) -> tuple[Expr, ...]:
        """The expressions whose values this aggregation consumes."""
        return ()

    @property
    def result_kind(self) -> ResultKind:
        """The type of the result."""
        return ResultKind.FLOAT

    @property
    def needs_numeric(self) -> bool:
        """Whether the inputs must be numeric."""
        return True

    @property
    def label(self) -> str:
        """A short lower-case name, e.g. ``mean``."""
        return type(self).__name__.lower()


@dataclass(frozen=True, kw_only=True)
class _OfColumn(Aggregation):
    of: Expr

    def __init__(self, of: str | Expr) -> None:
        object.__setattr__(self, "of", as_expr(of))

    @property
    def inputs(self) -> tuple[Expr, ...]:
        return (self.of,)


@dataclass(frozen=True, kw_only=True)
class Count(Aggregation):
    """The number of events in the window (0 when empty)."""

    @property
    def result_kind(self) -> ResultKind:  # noqa: D102
        return ResultKind.INT


@dataclass(frozen=True, kw_only=True, init=False)
class Sum(_OfColumn):
    """The sum of a numeric column (0.0 when empty)."""


@dataclass(frozen=True, kw_only=True, init=False)
class Mean(_OfColumn):
    """The arithmetic mean of a numeric column (null when empty)."""


@dataclass(frozen=True, kw_only=True, init=False)
class Min(_OfColumn):
    """The smallest value (null when empty)."""

    @property
    def result_kind(self) -> ResultKind:  # noqa: D102
        return ResultKind.VALUE

    @property
    def needs_numeric(self) -> bool:  # noqa: D102
        return False


@dataclass(frozen=True, kw_only=True, init=False)
class Max(Min):
    """The largest value (null when empty)."""


@dataclass(frozen=True, kw_only=True, init=False)
class First(Min):
    """The value of the earliest event by event time, then log order (null when empty)."""


@dataclass(frozen=True, kw_only=True, init=False)
class Last(Min):
    """The value of the latest event by event time, then log order (null when empty)."""


@dataclass(frozen=True, kw_only=True, init=False)
class Variance(_OfColumn):
    """The variance with ``ddof`` delta degrees of freedom (null with ddof or fewer events)."""

    ddof: int

    def __init__(self, of: str | Expr, ddof: int = 1) -> None:
        super().__init__(of)
        object.__setattr__(self, "ddof", ddof)


@dataclass(frozen=True, kw_only=True, init=False)
class Stddev(Variance):
    """The standard deviation, the square root of :class:`Variance`."""


@dataclass(frozen=True, kw_only=True, init=False)
class LastK(_OfColumn):
    """The last ``k`` values in the window, oldest first (empty list when empty)."""

    k: int

    def __init__(self, of: str | Expr, k: int) -> None:
        super().__init__(of)
        object.__setattr__(self, "k", k)

    @property
    def result_kind(self) -> ResultKind:  # noqa: D102
        return ResultKind.LIST

    @property
    def needs_numeric(self) -> bool:  # noqa: D102
        return False

    @property
    def label(self) -> str:  # noqa: D102
        return "last_k"


@dataclass(frozen=True, kw_only=True, init=False)
class DistinctCount(_OfColumn):
    """The exact number of distinct values."""

    @property
    def result_kind(self) -> ResultKind:  # noqa: D102
        return ResultKind.INT

    @property
    def needs_numeric(self) -> bool:  # noqa: D102
        return False

    @property
    def label(self) -> str:  # noqa: D102
        return "distinct_count"


@dataclass(frozen=True, kw_only=True, init=False)
class ApproxDistinctCount(_OfColumn):
    """An approximate distinct count from a HyperLogLog sketch with 2**lg_k buckets.

    The relative standard error is about ``1.04 / sqrt(2**lg_k)`` (1.6 % at lg_k=12).
    """

    lg_k: int

    def __init__(self, of: str | Expr, lg_k: int = 12) -> None:
        super().__init__(of)
        object.__setattr__(self, "lg_k", lg_k)

    @property
    def needs_numeric(self) -> bool:  # noqa: D102
        return False

    @property
    def label(self) -> str:  # noqa: D102
        return "approx_distinct_count"


@dataclass(frozen=True, kw_only=True, init=False)
class ApproxPercentile(_OfColumn):
    """A quantile ``q`` in [0, 1], exact over retained values, sketched beyond them.

    Exact over the raw values a window holds; approximate (a KLL sketch with parameter
    ``k``, about 1.65 % rank error at k=200) for the values a lifetime window has folded
    away, so memory stays bounded.

    The value is the one of rank ``floor(q * n)`` among the window's ``n`` values (KLL's
    own convention while it is exact).
    """

    q: float
    k: int

    def __init__(self, of: str | Expr, q: float, k: int = 200) -> None:
        super().__init__(of)
        object.__setattr__(self, "q", q)
        object.__setattr__(self, "k", k)

    @property
    def label(self) -> str:  # noqa: D102
        return "approx_percentile"


@dataclass(frozen=True, kw_only=True, init=False)
class RatioOfSums(Aggregation):
    """``sum(numerator) / sum(denominator)``; the denominator defaults to the event count.

    Returns ``default`` when the denominator sums to zero (e.g. an empty window).
    """

    numerator: Expr
    denominator: Expr | None
    default: float | None

    def __init__(
        self,
        numerator: str | Expr,
        denominator: str | Expr | None = None,
        default: float | None = 0.0,
    ) -> None:
        object.__setattr__(self, "numerator", as_expr(numerator))
        object.__setattr__(
            self, "denominator", None if denominator is None else as_expr(denominator)
        )
        object.__setattr__(self, "default", default)

    @property
    def inputs(self) -> tuple[Expr, ...]:  # noqa: D102
        return (self.numerator,) if self.denominator is None else (self.numerator, self.denominator)

    @property
    def label(self) -> str:  # noqa: D102
        return "ratio_of_sums"
