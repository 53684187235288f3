"""Conversion and checking of single field values against their declared type."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from upwell.definitions.types import FieldType, ValueType, Vector
from upwell.ingest.errors import EventError

MAX_STRING_CHARS = 65_536
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)  # noqa: DTZ001 (used only with offset-free UTC values)
_ZERO = timedelta(0)


def timestamp_ms(value: Any, where: str) -> int:
    """Convert a UTC timestamp to integer epoch milliseconds.

    Args:
        value: A timezone-aware UTC ``datetime`` (or pandas Timestamp), or an ISO-8601
            string with ``Z`` or ``+00:00``.
        where: Where the value sits, for the error message.

    Returns:
        Epoch milliseconds.

    Raises:
        EventError: The value is missing, naive, not UTC or not a timestamp.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            msg = f"{value!r} is not an ISO-8601 timestamp"
            raise EventError(
                msg,
                where=where,
                fix="send e.g. '2024-05-01T12:00:00Z'",
            ) from None
    if not isinstance(value, datetime):
        msg = f"expected a UTC timestamp, got {type(value).__name__} {value!r}"
        raise EventError(
            msg,
            where=where,
            fix="send a timezone-aware UTC datetime or an ISO-8601 string ending in Z",
        )
    if isinstance(value, pd.Timestamp) and value.tz is not None and value.utcoffset() == _ZERO:
        return int(value.value // 1_000_000)
    try:
        offset = value.utcoffset()
    except ValueError:
        # pandas' NaT is a datetime whose utcoffset() raises: a missing timestamp.
        msg = f"timestamp {value!r} is missing"
        raise EventError(msg, where=where, fix="send a time for every event") from None
    if offset is None or offset != _ZERO:
        msg = f"timestamp {value!r} is {'naive' if offset is None else 'not in UTC'}"
        raise EventError(
            msg,
            where=where,
            fix="use timezone-aware UTC times, e.g. datetime(..., tzinfo=timezone.utc) or "
            "pandas .dt.tz_localize('UTC') / .dt.tz_convert('UTC')",
        )
    delta = value.replace(tzinfo=None) - _EPOCH_NAIVE
    return (delta.days * 86_400 + delta.seconds) * 1_000 + delta.microseconds // 1_000


def datetime_from_ms(ms: int) -> datetime:
    """The aware UTC datetime of epoch milliseconds.

    Args:
        ms: Epoch milliseconds.

    Returns:
        The datetime.
    """
    return _EPOCH + timedelta(milliseconds=ms)


def convert(value: Any, kind: ValueType, where: str) -> Any:
    """Check one value against its type and convert it to a plain Python value.

    Args:
        value: The value.
        kind: Its declared type.
        where: Where it sits, for the error message.

    Returns:
        ``int``, ``float``, ``bool``, ``str``, epoch-ms ``int`` for timestamps, or a
        list of floats for vectors.

    Raises:
        EventError: The value is missing, of the wrong type, NaN or infinite, or too long.
    """
    value_type = type(value)
    if value_type is float and kind is FieldType.FLOAT and math.isfinite(value):
        return value
    if value_type is int and kind is FieldType.INT and INT64_MIN <= value <= INT64_MAX:
        return value
    if value is None:
        msg = "is missing (null)"
        raise EventError(msg, where=where, fix="send a value for every field")
    converter = _CONVERTERS.get(kind)
    if converter is not None:
        return converter(value, where)
    assert isinstance(kind, Vector)  # noqa: S101 (the type union is closed)
    return _vector(value, kind, where)


def _integer(value: Any, where: str) -> int:
    if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
        return _int64(int(value), where)
    raise _wrong(value, "an integer", where)


def _boolean(value: Any, where: str) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise _wrong(value, "true or false", where)


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _wrong(value, "a string", where)
    if len(value) > MAX_STRING_CHARS:
        msg = f"string of {len(value)} characters is too long"
        raise EventError(
            msg,
            where=where,
            fix=f"keep strings under {MAX_STRING_CHARS} characters",
        )
    if not value.isascii():
        _check_utf8(value, where)
    return value


def _int64(value: int, where: str) -> int:
    # The log stores integers as int64; a larger one would poison every later read.
    if not INT64_MIN <= value <= INT64_MAX:
        msg = f"{value} does not fit in a 64-bit signed integer"
        raise EventError(
            msg,
            where=where,
            fix=f"send integers between {INT64_MIN} and {INT64_MAX}, or declare the field str",
        )
    return value


def _check_utf8(value: str, where: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        msg = f"string holds {value[error.start]!r} at {error.start}, which is not valid Unicode"
        raise EventError(
            msg,
            where=where,
            fix="decode text with errors='replace' (lone surrogates cannot be stored)",
        ) from None


def _finite(value: Any, where: str) -> float:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        raise _wrong(value, "a number", where)
    number = float(value)
    if not math.isfinite(number):
        msg = f"{number} is not a finite number"
        raise EventError(
            msg,
            where=where,
            fix="send a finite number; drop or impute NaN and infinite values before pushing",
        )
    return number


def _vector(value: Any, kind: Vector, where: str) -> list[float]:
    if isinstance(value, str) or not hasattr(value, "__len__"):
        raise _wrong(value, f"a list of {kind.dim} numbers", where)
    if len(value) != kind.dim:
        msg = f"vector has {len(value)} elements, expected {kind.dim}"
        raise EventError(
            msg,
            where=where,
            fix=f"send exactly {kind.dim} numbers",
        )
    return [_finite(v, f"{where}[{i}]") for i, v in enumerate(value)]


def _wrong(value: Any, expected: str, where: str) -> EventError:
    return EventError(
        f"expected {expected}, got {type(value).__name__} {value!r:.60}",
        where=where,
        fix=f"send {expected}",
    )


_CONVERTERS: dict[ValueType, Callable[[Any, str], Any]] = {
    FieldType.TIMESTAMP: timestamp_ms,
    FieldType.FLOAT: _finite,
    FieldType.INT: _integer,
    FieldType.BOOL: _boolean,
    FieldType.STRING: _string,
}
