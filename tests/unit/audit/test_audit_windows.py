"""Windows of event time: right-closed spans ending at steps back from the end."""

from __future__ import annotations

import numpy as np
import pytest

from upwell.audit import AuditError, Window, windows
from upwell.audit.windows import in_window


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # 0         10        20        30
        # |---------|---------|---------|   window = step = 10
        ((0, 30, 10, None), [(0, 10), (10, 20), (20, 30)]),
        #      5    10   15   20   25
        # |----|----|----|----|---|     window 10, step 5, clipped at start 0
        ((0, 25, 10, 5), [(0, 5), (0, 10), (5, 15), (10, 20), (15, 25)]),
        # a partial first window when the span is not a multiple of the step
        ((0, 25, 10, None), [(0, 5), (5, 15), (15, 25)]),
        ((7, 7, 10, None), []),
        ((0, 3, 10, None), [(0, 3)]),
    ],
    ids=["tumbling", "sliding", "partial", "empty", "short"],
)
def test_windows(args: tuple[int, int, int, int | None], expected: list[tuple[int, int]]) -> None:
    assert windows(*args) == [Window(s, e) for s, e in expected]


@pytest.mark.parametrize("args", [(0, 10, 0, None), (0, 10, 5, -1), (10, 0, 5, None)])
def test_bad_windows_are_refused(args: tuple[int, int, int, int | None]) -> None:
    with pytest.raises(AuditError, match="windows"):
        windows(*args)


def test_in_window_is_right_closed() -> None:
    ts = np.array([9, 10, 11, 20, 21], dtype=np.int64)
    assert in_window(ts, Window(10, 20)).tolist() == [False, False, True, True, False]
