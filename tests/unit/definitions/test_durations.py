"""Durations: strings, timedeltas and ints to milliseconds, and back to short strings."""

from __future__ import annotations

from datetime import timedelta

import pytest

from upwell.definitions.durations import format_ms, to_ms
from upwell.definitions.errors import DefinitionError

H = 3_600_000


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        pytest.param("250ms", 250, id="milliseconds"),
        pytest.param("30s", 30_000, id="seconds"),
        pytest.param("15m", 900_000, id="minutes"),
        pytest.param("1h", H, id="hours"),
        pytest.param("7d", 168 * H, id="days"),
        pytest.param("2w", 336 * H, id="weeks"),
        pytest.param("1h30m", 90 * 60_000, id="compound"),
        pytest.param("1d12h", 36 * H, id="compound_days"),
        pytest.param(" 1 h ", H, id="spaces_ignored"),
        pytest.param("-5m", -300_000, id="negative_string"),
        pytest.param("0s", 0, id="zero"),
        pytest.param(timedelta(days=1, milliseconds=5), 24 * H + 5, id="timedelta"),
        pytest.param(timedelta(microseconds=1_999), 1, id="timedelta_truncates_to_ms"),
        pytest.param(42, 42, id="int_is_ms"),
    ],
)
def test_to_ms(value: object, ms: int) -> None:
    assert to_ms(value, definition="Feature 'x'", field="window") == ms  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("7", id="no_unit"),
        pytest.param("7days", id="unknown_unit"),
        pytest.param("h1", id="unit_first"),
        pytest.param("1h 30", id="trailing_number"),
        pytest.param(1.5, id="float"),
        pytest.param(True, id="bool"),
        pytest.param(None, id="none"),
    ],
)
def test_to_ms_rejects_what_is_not_a_duration(value: object) -> None:
    with pytest.raises(DefinitionError) as error:
        to_ms(value, definition="Feature 'x'", field="window")  # type: ignore[arg-type]

    assert error.value.where == "Feature 'x'.window"
    assert repr(value) in error.value.what
    assert "'7d'" in error.value.fix


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        pytest.param(0, "0ms", id="zero"),
        pytest.param(1, "1ms", id="one_ms"),
        pytest.param(1_500, "1500ms", id="not_whole_seconds"),
        pytest.param(90 * 60_000, "90m", id="not_whole_hours"),
        pytest.param(2 * H, "2h", id="hours"),
        pytest.param(7 * 24 * H, "7d", id="week_as_days"),
    ],
)
def test_format_ms(ms: int, text: str) -> None:
    assert format_ms(ms) == text
    assert to_ms(text, definition="d", field="f") == ms
