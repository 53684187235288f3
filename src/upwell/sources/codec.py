"""How events and dead letters travel through a broker.

An event is one JSON object (UTF-8, written with orjson) whose fields are the source's
schema; timestamps are ISO-8601 strings with a UTC offset, as ``orjson`` writes aware
datetimes. Publishers also attach the event id where the broker has a place for it
(NATS ``Nats-Msg-Id`` header, Kafka message key, Redis stream field ``id``), so the
broker's own tools can find an event.

A dead letter is the original payload, byte for byte, with the reason beside it:
headers ``Upwell-Reason``, ``Upwell-Detail`` and ``Upwell-Position`` on NATS and Kafka,
fields ``reason``, ``detail``, ``position`` and ``payload`` in a Redis stream entry.

>>> from datetime import datetime, timezone
>>> encode_event({"id": 1, "ts": datetime(2024, 5, 1, tzinfo=timezone.utc)})
b'{"id":1,"ts":"2024-05-01T00:00:00+00:00"}'
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from upwell.sources.protocol import DeadLetter, DeadLetterReason


class DeadLetterField(enum.Enum):
    """Header (NATS, Kafka) or entry field (Redis) names of a dead letter."""

    REASON = "Upwell-Reason"
    DETAIL = "Upwell-Detail"
    POSITION = "Upwell-Position"


class StreamField(enum.Enum):
    """Field names of a Redis stream entry."""

    PAYLOAD = "payload"
    ID = "id"
    REASON = "reason"
    DETAIL = "detail"
    POSITION = "position"


MAX_DETAIL_CHARS = 1_000


def encode_event(event: Mapping[str, Any]) -> bytes:
    """Serialise one event to JSON.

    Args:
        event: The event's fields; datetimes must be timezone-aware (naive ones are
            written without an offset, and the worker refuses them).

    Returns:
        The JSON bytes.
    """
    return orjson.dumps(event, option=orjson.OPT_SERIALIZE_NUMPY, default=_default)


def event_key(event: Mapping[str, Any], event_id: str | None) -> str | None:
    """The event id as text, or None where the source has none.

    Args:
        event: The event.
        event_id: The field holding the id.

    Returns:
        The id.
    """
    if event_id is None or event.get(event_id) is None:
        return None
    return str(event[event_id])


def dead_letter_headers(letter: DeadLetter) -> dict[str, str]:
    """Headers carrying a dead letter's reason.

    Args:
        letter: The dead letter.

    Returns:
        Header name to value.
    """
    return {
        DeadLetterField.REASON.value: letter.reason.value,
        DeadLetterField.DETAIL.value: letter.detail[:MAX_DETAIL_CHARS],
        DeadLetterField.POSITION.value: letter.position,
    }


def dead_letter_record(payload: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    """A dead letter read back from a broker, as a plain dict.

    Args:
        payload: The original payload.
        headers: Its headers (or Redis fields) as text.

    Returns:
        ``payload`` (bytes), ``reason`` (:class:`DeadLetterReason`), ``detail``, ``position``.
    """
    return {
        "payload": payload,
        "reason": DeadLetterReason(headers[DeadLetterField.REASON.value]),
        "detail": headers.get(DeadLetterField.DETAIL.value, ""),
        "position": headers.get(DeadLetterField.POSITION.value, ""),
    }


def _default(value: Any) -> Any:
    if isinstance(value, datetime):  # pandas.Timestamp and other subclasses
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars that orjson does not take natively
        return value.item()
    msg = f"cannot write {type(value).__name__} as JSON"
    raise TypeError(msg)
