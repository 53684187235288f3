"""Per-entity window state of one feature view: the per-event path's data structure.

Events are kept in (event time, log position) order, with per-channel values and
prefix sums: ``count[c][k]`` and ``total[c][k]`` hold the number and sum of channel
``c``'s kept values over the first ``k`` events the entity ever had (sums are
absolute, counted from the entity's first event, so the columnar path's per-entity
cumulative sums give bit-identical window sums). Events older than the view's
retention are evicted from the front; lifetime aggregates fold them into ``base``.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any


class EntityState:
    """Window state of one entity in one view.

    Args:
        n_channels: How many channels the view has.
        squares: For each channel, whether it keeps shifted sums of squares.
    """

    __slots__ = (
        "base",
        "count",
        "evicted",
        "evicted_until",
        "seq",
        "shift",
        "shifted",
        "shifted_sq",
        "total",
        "ts",
        "values",
    )

    def __init__(self, n_channels: int, squares: tuple[bool, ...]) -> None:
        self.ts: list[int] = []
        self.seq: list[int] = []
        self.values: list[list[Any]] = [[] for _ in range(n_channels)]
        self.count: list[list[int]] = [[0] for _ in range(n_channels)]
        self.total: list[list[float]] = [[0.0] for _ in range(n_channels)]
        self.shift: list[float | None] = [None] * n_channels
        self.shifted: list[list[float] | None] = [[0.0] if s else None for s in squares]
        self.shifted_sq: list[list[float] | None] = [[0.0] if s else None for s in squares]
        self.evicted = 0
        self.evicted_until: int | None = None
        self.base: dict[int, Any] = {}

    def insert(self, ts: int, seq: int, values: list[Any]) -> None:
        """Add one event's channel values (None where a channel's filter dropped it).

        Args:
            ts: Event time, ms.
            seq: Log position.
            values: One value per channel.
        """
        times = self.ts
        if not times or ts >= times[-1]:
            times.append(ts)
            self.seq.append(seq)
            for c, value in enumerate(values):
                self.values[c].append(value)
                self._append_sums(c, value)
            return
        pos = bisect_right(times, ts)
        times.insert(pos, ts)
        self.seq.insert(pos, seq)
        for c, value in enumerate(values):
            self.values[c].insert(pos, value)
            self._rebuild_sums(c, pos)

    def _append_sums(self, c: int, value: Any) -> None:
        count = self.count[c]
        total = self.total[c]
        if value is None:
            count.append(count[-1])
            total.append(total[-1])
        else:
            count.append(count[-1] + 1)
            total.append(total[-1] + value if isinstance(value, float) else total[-1])
        shifted = self.shifted[c]
        if shifted is not None:
            squares = self.shifted_sq[c]
            assert squares is not None  # noqa: S101 (allocated together)
            if value is None:
                shifted.append(shifted[-1])
                squares.append(squares[-1])
            else:
                if self.shift[c] is None:
                    self.shift[c] = value
                delta = value - self.shift[c]
                shifted.append(shifted[-1] + delta)
                squares.append(squares[-1] + delta * delta)

    def _rebuild_sums(self, c: int, pos: int) -> None:
        """Recompute channel ``c``'s prefix sums from event ``pos`` on (an out-of-order insert)."""
        for name in ("count", "total", "shifted", "shifted_sq"):
            prefix = getattr(self, name)[c]
            if prefix is not None:
                del prefix[pos + 1 :]
        # a shift still unset means no value before ``pos`` was kept, so the rebuild
        # sets it from the first kept value, as an append would
        for value in self.values[c][pos:]:
            self._append_sums(c, value)

    def span(self, lo: int | None, hi: int) -> tuple[int, int]:
        """Retained-event index range ``[a, b)`` of events with ``lo < ts <= hi``.

        Args:
            lo: Exclusive lower bound, None for lifetime (from the first retained event).
            hi: Inclusive upper bound.

        Returns:
            The index range into the retained events.
        """
        times = self.ts
        a = 0 if lo is None else bisect_right(times, lo)
        return a, bisect_right(times, hi)

    def evict_through(self, cutoff: int) -> int:
        """Drop retained events with ``ts <= cutoff``.

        Args:
            cutoff: Event time, ms.

        Returns:
            How many events were dropped.
        """
        n = bisect_right(self.ts, cutoff)
        if n == 0:
            return 0
        del self.ts[:n]
        del self.seq[:n]
        for c in range(len(self.values)):
            del self.values[c][:n]
            for prefix in (self.count[c], self.total[c], self.shifted[c], self.shifted_sq[c]):
                if prefix is not None:
                    del prefix[:n]
        self.evicted += n
        self.evicted_until = (
            cutoff if self.evicted_until is None else max(self.evicted_until, cutoff)
        )
        return n
