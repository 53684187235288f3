"""Window specs: which events, relative to the read time, a feature covers.

All windows are right-closed. Read "as of t" (after shifting by the feature's
offset ``d``, ``t' = t - d``):

- ``Sliding(w)`` covers ``t' - w < ts <= t'``;
- ``Lifetime()`` covers ``ts <= t'``;
- ``Hopping(size, hop)`` covers the latest completed window ``e - size < ts <= e``,
  with ``e`` the largest multiple of ``hop`` (from the epoch) that is ``<= t'``;
- ``Tumbling(size)`` is ``Hopping(size, size)``.

The bounds are computed by :func:`upwell.engine.windows.window_bounds`.
"""

from __future__ import annotations

from dataclasses import dataclass

from upwell.definitions.durations import Duration, format_ms, to_ms
from upwell.definitions.errors import DefinitionError


@dataclass(frozen=True)
class Window:
    """Base class of window specs."""

    @property
    def span_ms(self) -> int | None:
        """How far back from the read time the window reaches; None for lifetime."""
        raise NotImplementedError  # pragma: no cover - abstract

    @property
    def label(self) -> str:
        """A short label such as ``7d`` or ``lifetime``."""
        raise NotImplementedError  # pragma: no cover - abstract


def _positive_ms(value: Duration, field: str, kind: str) -> int:
    ms = to_ms(value, definition=kind, field=field)
    if ms <= 0:
        raise DefinitionError(
            kind, field, f"must be a positive duration, got {value!r}", "use e.g. '1d' or '15m'"
        )
    return ms


@dataclass(frozen=True, init=False)
class Sliding(Window):
    """A sliding window of any duration with exact edges."""

    size_ms: int

    def __init__(self, size: Duration) -> None:
        object.__setattr__(self, "size_ms", _positive_ms(size, "size", "Sliding"))

    @property
    def span_ms(self) -> int:  # noqa: D102
        return self.size_ms

    @property
    def label(self) -> str:  # noqa: D102
        return format_ms(self.size_ms)


@dataclass(frozen=True)
class Lifetime(Window):
    """Every event up to the read time."""

    @property
    def span_ms(self) -> None:  # noqa: D102
        return None

    @property
    def label(self) -> str:  # noqa: D102
        return "lifetime"


@dataclass(frozen=True, init=False)
class Hopping(Window):
    """The latest completed window of ``size``, windows starting every ``hop``."""

    size_ms: int
    hop_ms: int

    def __init__(self, size: Duration, hop: Duration) -> None:
        object.__setattr__(self, "size_ms", _positive_ms(size, "size", type(self).__name__))
        object.__setattr__(self, "hop_ms", _positive_ms(hop, "hop", type(self).__name__))

    @property
    def span_ms(self) -> int:  # noqa: D102
        return self.size_ms + self.hop_ms

    @property
    def label(self) -> str:  # noqa: D102
        return f"{format_ms(self.size_ms)}_every_{format_ms(self.hop_ms)}"


@dataclass(frozen=True, init=False)
class Tumbling(Hopping):
    """The latest completed window of a fixed grid of non-overlapping windows."""

    def __init__(self, size: Duration) -> None:
        super().__init__(size, size)

    @property
    def label(self) -> str:  # noqa: D102
        return f"{format_ms(self.size_ms)}_tumbling"


def to_window(value: Window | Duration | None, *, definition: str) -> Window:
    """Normalise a window given as a spec, a duration (sliding) or None (lifetime).

    Args:
        value: The window.
        definition: The feature, for the error message.

    Returns:
        A Window.

    Raises:
        DefinitionError: The window is zero, negative or not a duration.
    """
    if value is None:
        return Lifetime()
    if isinstance(value, Window):
        return value
    ms = to_ms(value, definition=definition, field="window")
    if ms <= 0:
        raise DefinitionError(
            definition,
            "window",
            f"must be a positive duration, got {value!r}",
            "use e.g. window='7d', or window=None for a lifetime aggregate",
        )
    return Sliding(ms)
