"""Compact, exact encoding of one entity's window state (and batch rows) for Redis.

A window state is stored as one string::

    version (8 bytes) | format (1 byte) | header length (4 bytes) | header | arrays

The *version* is random per write and is what a compare-and-set checks. The *header*
is JSON: the retained events' identities (event ids, or ``writer:position``), eviction
marks, per-channel shifts, lifetime bases and non-numeric channel values. The *arrays*
are little-endian int64 / float64: event times, log positions, and per channel the
prefix counts and sums (and shifted sums where a variance needs them) and the numeric
values. Floats are stored as their 8 bytes, so a decoded state gives bit-identical
feature values, NaN and infinities included. Values JSON cannot hold exactly (non-finite
floats, sets, sketches, datetimes) are written as tagged objects.
"""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from datasketches import hll_sketch, kll_doubles_sketch

from upwell.engine.entity_state import EntityState

VERSION_BYTES = 8
_FORMAT = 1
_HEAD = struct.Struct("<BI")


@dataclass
class StoredState:
    """An entity's decoded state, the identities of its retained events, and its version.

    ``version`` is empty for an entity that has no state in Redis yet.
    """

    version: bytes
    state: EntityState
    idents: list[Any]


def new_state(n_channels: int, squares: tuple[bool, ...]) -> StoredState:
    """The state of an entity with no events and nothing in Redis.

    Args:
        n_channels: The view's channel count.
        squares: Per channel, whether it keeps shifted sums of squares.

    Returns:
        An empty state with no version.
    """
    return StoredState(b"", EntityState(n_channels, squares), [])


def encode_state(stored: StoredState, version: bytes, numeric: Sequence[bool] = ()) -> bytes:
    """Encode a state under a new version.

    Args:
        stored: The state and its event identities.
        version: The new version (8 bytes).
        numeric: Per channel, whether its values are known to be floats or None (the
            view plan's ``Channel.numeric``); others are checked value by value.

    Returns:
        The bytes to store.
    """
    state = stored.state
    ints: list[int] = [*state.ts, *state.seq]
    floats: list[float] = []
    idents: list[Any] | None = stored.idents
    if _all_ints(stored.idents):
        ints += stored.idents
        idents = None
    channels = []
    for c, values in enumerate(state.values):
        ints += state.count[c]
        floats += state.total[c]
        shifted, squares = state.shifted[c], state.shifted_sq[c]
        if shifted is not None and squares is not None:
            floats += shifted
            floats += squares
        channel: dict[str, Any] = {"q": shifted is not None}
        if (c < len(numeric) and numeric[c]) or all(v is None or type(v) is float for v in values):
            if None in values:
                channel["d"] = [i for i, v in enumerate(values) if v is None]
                floats += [0.0 if v is None else v for v in values]
            else:
                channel["d"] = []
                floats += values
        else:
            channel["j"] = [tag(v) for v in values]
        channels.append(channel)
    header = {
        "n": len(state.ts),
        "i": idents,
        "e": [state.evicted, state.evicted_until],
        "s": [tag(s) for s in state.shift],
        "b": [[i, tag(v)] for i, v in state.base.items()],
        "c": channels,
    }
    head = orjson.dumps(header)
    return b"".join(
        [
            version,
            _HEAD.pack(_FORMAT, len(head)),
            head,
            struct.pack(f"<{len(ints)}q", *ints),
            struct.pack(f"<{len(floats)}d", *floats),
        ]
    )


def _all_ints(values: list[Any]) -> bool:
    """Whether every value is an int (ids that fit the binary section)."""
    try:
        struct.pack(f"<{len(values)}q", *values)
    except struct.error:
        return False
    return not any(type(v) is bool for v in values[:1])


def decode_state(blob: bytes, *, for_update: bool = True) -> StoredState:
    """Decode :func:`encode_state`'s output.

    Args:
        blob: The stored bytes.
        for_update: False for a state that is only read: its arrays stay tuples, and the
            log positions and identities, which reads never need, are not decoded.

    Returns:
        The state, its identities and its version.
    """
    version = blob[:VERSION_BYTES]
    _format, length = _HEAD.unpack_from(blob, VERSION_BYTES)
    at = VERSION_BYTES + _HEAD.size
    header = orjson.loads(blob[at : at + length])
    at += length
    n = header["n"]
    channels = header["c"]
    binary_idents = header["i"] is None
    n_ints = (3 if binary_idents else 2) * n + len(channels) * (n + 1)
    ints = struct.unpack_from(f"<{n_ints}q", blob, at)
    floats = struct.unpack_from(f"<{(len(blob) - at - 8 * n_ints) // 8}d", blob, at + 8 * n_ints)
    own: Callable[[Any], Any] = list if for_update else _as_is
    state = EntityState.__new__(EntityState)
    state.ts = own(ints[:n])
    state.seq = list(ints[n : 2 * n]) if for_update else []
    i = 2 * n
    idents = header["i"] or []
    if binary_idents:
        idents = list(ints[i : i + n]) if for_update else []
        i += n
    f = 0
    state.values, state.count, state.total, state.shifted, state.shifted_sq = [], [], [], [], []
    for channel in channels:
        state.count.append(own(ints[i : i + n + 1]))
        i += n + 1
        state.total.append(own(floats[f : f + n + 1]))
        f += n + 1
        if channel["q"]:
            state.shifted.append(own(floats[f : f + n + 1]))
            state.shifted_sq.append(own(floats[f + n + 1 : f + 2 * n + 2]))
            f += 2 * n + 2
        else:
            state.shifted.append(None)
            state.shifted_sq.append(None)
        if "d" in channel:
            nulls = channel["d"]
            values: Any = list(floats[f : f + n]) if nulls or for_update else floats[f : f + n]
            f += n
            for k in nulls:
                values[k] = None
        else:
            values = [untag(v) for v in channel["j"]]
        state.values.append(values)
    state.shift = [untag(s) for s in header["s"]]
    state.evicted, state.evicted_until = header["e"]
    state.base = {k: untag(v) for k, v in header["b"]}
    return StoredState(version, state, idents)


def _as_is(value: Any) -> Any:
    return value


def encode_row(values: tuple[Any, ...]) -> bytes:
    """Encode a batch feature row.

    Args:
        values: Column values in schema order.

    Returns:
        The bytes to store.
    """
    return orjson.dumps([tag(v) for v in values])


def decode_row(blob: bytes) -> tuple[Any, ...]:
    """Decode :func:`encode_row`'s output.

    Args:
        blob: The stored bytes.

    Returns:
        The row.
    """
    return tuple(untag(v) for v in orjson.loads(blob))


def tag(value: Any) -> Any:
    """A JSON-able form of a value that :func:`untag` turns back into an equal value.

    Args:
        value: A float, int, str, bool, None, list, set, datetime or sketch.

    Returns:
        The value itself where JSON holds it exactly, else a one-key tagged dict.

    Raises:
        TypeError: The value is of another type.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    for kinds, encode in _TAGGERS:
        if isinstance(value, kinds):
            return encode(value)
    if hasattr(value, "item"):  # a NumPy scalar
        return tag(value.item())
    msg = f"cannot store a value of type {type(value).__name__}"
    raise TypeError(msg)


def untag(value: Any) -> Any:
    """The value :func:`tag` encoded.

    Args:
        value: A decoded JSON value.

    Returns:
        The original value.
    """
    if isinstance(value, list):
        return [untag(v) for v in value]
    if not isinstance(value, dict):
        return value
    kind, body = next(iter(value.items()))
    return _UNTAGGERS[kind](body)


_TAGGERS: tuple[tuple[type | tuple[type, ...], Callable[[Any], Any]], ...] = (
    (float, lambda v: v if math.isfinite(v) else {"f": v.hex()}),
    ((list, tuple), lambda v: [tag(x) for x in v]),
    ((set, frozenset), lambda v: {"s": [tag(x) for x in v]}),
    (datetime, lambda v: {"t": v.isoformat()}),
    (hll_sketch, lambda v: {"h": base64.b64encode(v.serialize_compact()).decode()}),
    (kll_doubles_sketch, lambda v: {"k": base64.b64encode(v.serialize()).decode()}),
)
_UNTAGGERS: dict[str, Callable[[Any], Any]] = {
    "f": float.fromhex,
    "s": lambda body: {untag(v) for v in body},
    "t": datetime.fromisoformat,
    "h": lambda body: hll_sketch.deserialize(base64.b64decode(body)),
    "k": lambda body: kll_doubles_sketch.deserialize(base64.b64decode(body)),
}
