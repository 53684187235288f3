"""The broker source contract every backend (NATS JetStream, Redis Streams, Kafka) obeys.

Contract:

- Consumers that share a *group* share the work: each message is delivered to one of
  them at a time.
- ``fetch(max_messages, timeout_s)`` pulls at most ``max_messages`` messages (never
  more: the caller sizes it by its free capacity, which is the back-pressure), waiting
  up to ``timeout_s`` for the first one; an empty list means nothing arrived.
- Delivery is at least once. A fetched message that is not acknowledged is delivered
  again, to this consumer or another one of its group, once its consumer is gone or
  its acknowledgement deadline has passed. The caller makes applying it idempotent
  (the online store refuses an event id it has already applied).
- ``ack(messages)`` acknowledges (or commits the offsets of) messages once their
  effect is durable; an acknowledged message is never delivered to the group again.
- ``dead_letter(letters)`` stores refused messages, each with its original payload
  and the reason, in the broker's dead-letter stream; durable on return. It is called
  before the refused messages are acknowledged, so a crash in between delivers them
  again (a dead letter may then be stored twice, never zero times).
- ``close()`` releases the connection; unacknowledged messages go back to the group.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class DeadLetterReason(enum.Enum):
    """Why a message went to the dead-letter stream."""

    INVALID = "invalid"
    """The payload is not JSON, or not an event of the source's schema."""
    LATE = "late"
    """The event arrived later than the source's allowed lateness."""


@dataclass(frozen=True, slots=True)
class Message:
    """One delivered message.

    Args:
        payload: The message body, as published.
        handle: The broker's own handle, used to acknowledge it.
        position: Where it sits in the broker (for dead letters and errors), e.g.
            ``"orders/3:1187"`` for partition 3, offset 1187.
    """

    payload: bytes
    handle: Any
    position: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A refused message: its payload, unchanged, and why it was refused.

    Args:
        payload: The original message body.
        reason: Why it was refused.
        detail: A readable explanation (the validation error, the event time).
        position: Where the original message sat in the broker.
    """

    payload: bytes
    reason: DeadLetterReason
    detail: str
    position: str


class BrokerSource(Protocol):
    """A consumer in a consumer group of one broker stream."""

    def fetch(self, max_messages: int, timeout_s: float) -> list[Message]:
        """Pull at most ``max_messages`` messages, waiting up to ``timeout_s`` for one."""
        ...

    def ack(self, messages: Sequence[Message]) -> None:
        """Acknowledge messages whose effect is durable."""
        ...

    def dead_letter(self, letters: Sequence[DeadLetter]) -> None:
        """Store refused messages with their reasons; durable on return."""
        ...

    def close(self) -> None:
        """Release the connection; unacknowledged messages return to the group."""
        ...


class Publisher(Protocol):
    """Publishes events to a broker stream as JSON, keyed by their event id; manages it."""

    def create(self, partitions: int) -> None:
        """Create the stream (Kafka: with ``partitions``) and its dead letters if missing."""
        ...

    def publish(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Publish events in order; durable in the broker on return. Returns the count."""
        ...

    def publish_raw(self, payloads: Iterable[bytes]) -> int:
        """Publish message bodies as they are (e.g. malformed ones). Returns the count."""
        ...

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every dead letter stored so far: payload, reason, detail, position."""
        ...

    def delete(self) -> None:
        """Delete the stream, its consumer group and its dead letters."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...
