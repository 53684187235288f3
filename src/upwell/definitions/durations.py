"""Parsing of durations ("7d", "90m", timedelta) into integer milliseconds."""

from __future__ import annotations

import re
from datetime import timedelta

from upwell.definitions.errors import DefinitionError

Duration = timedelta | str | int
"""A duration: a timedelta, a string such as ``"7d"``, ``"1h30m"`` or ``"250ms"``, or int ms."""

_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")


def to_ms(value: Duration, *, definition: str, field: str) -> int:
    """Convert a duration to integer milliseconds.

    Args:
        value: The duration.
        definition: The definition it belongs to, for the error message.
        field: The field it belongs to, for the error message.

    Returns:
        The duration in milliseconds (may be zero or negative; callers check the sign).

    Raises:
        DefinitionError: The value is not a duration.

    >>> to_ms("1d", definition="v", field="window")
    86400000
    >>> to_ms("1h30m", definition="v", field="window")
    5400000
    """
    if isinstance(value, bool):
        raise _bad(value, definition, field)
    if isinstance(value, timedelta):
        return (value.days * 86_400 + value.seconds) * 1_000 + value.microseconds // 1_000
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        negative = text.startswith("-")
        body = text[1:] if negative else text
        parts = _PART.findall(body)
        if parts and "".join(n + u for n, u in parts) == body:
            total = sum(int(n) * _UNIT_MS[u] for n, u in parts)
            return -total if negative else total
    raise _bad(value, definition, field)


def _bad(value: object, definition: str, field: str) -> DefinitionError:
    return DefinitionError(
        definition,
        field,
        f"{value!r} is not a duration",
        "pass a timedelta, int milliseconds, or a string such as '30s', '15m', '1h', '7d', '1d12h'",
    )


def format_ms(ms: int) -> str:
    """Format milliseconds as the shortest unit string.

    Args:
        ms: Milliseconds.

    Returns:
        A string such as ``"7d"`` or ``"90m"``.

    >>> format_ms(604_800_000 // 7)
    '1d'
    """
    for unit in ("d", "h", "m", "s"):
        if ms and ms % _UNIT_MS[unit] == 0:
            return f"{ms // _UNIT_MS[unit]}{unit}"
    return f"{ms}ms"
