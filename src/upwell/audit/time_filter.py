"""The SQL filter shared by every ``read()``: model, version, right-closed time range."""

from __future__ import annotations

from typing import Any

from upwell.audit.tables import to_datetime

__all__ = ["DAY_MS", "day_of", "time_filter"]

DAY_MS = 86_400_000
"""Milliseconds in a day."""


def day_of(ts_ms: int) -> int:
    """The UTC day number (days since 1970-01-01) of an instant.

    >>> day_of(86_400_000 - 1), day_of(86_400_000)
    (0, 1)
    """
    return ts_ms // DAY_MS


def time_filter(
    model: str | None,
    version: int | None,
    start_ms: int | None,
    end_ms: int | None,
    *,
    placeholder: str = "${}",
) -> tuple[str, list[Any]]:
    """A ``WHERE`` clause on ``model``, ``version`` and ``start_ms < ts <= end_ms``.

    Args:
        model: Only this model (None: any).
        version: Only this version (None: any).
        start_ms: Exclusive lower bound of ``ts`` (None: unbounded).
        end_ms: Inclusive upper bound of ``ts`` (None: unbounded).
        placeholder: Parameter marker, formatted with the parameter's 1-based number
            (``"${}"`` for DuckDB, ``"%s"`` for psycopg).

    Returns:
        The clause (empty when nothing filters) and its parameters.

    >>> where, params = time_filter("fraud", None, 0, None)
    >>> where
    'WHERE model = $1 AND ts > $2'
    >>> params[1].isoformat()
    '1970-01-01T00:00:00+00:00'
    """
    terms = []
    params: list[Any] = []
    for condition, value in (
        ("model = {}", model),
        ("version = {}", version),
        ("ts > {}", None if start_ms is None else to_datetime(start_ms)),
        ("ts <= {}", None if end_ms is None else to_datetime(end_ms)),
    ):
        if value is not None:
            params.append(value)
            terms.append(condition.format(placeholder.format(len(params))))
    return ("WHERE " + " AND ".join(terms)) if terms else "", params
