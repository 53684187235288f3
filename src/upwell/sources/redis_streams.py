"""Redis Streams: a consumer group read with XREADGROUP, dead letters in a second stream.

``redis://host:6379/orders`` (or ``/DB/orders``) reads stream key ``orders`` in group
``upwell``; each entry holds the event's JSON in field ``payload`` (and its id in
``id``). A worker acknowledges entries with XACK once their effect is durable. A worker
that restarts under the same name first reads its own pending entries again; entries
pending on a consumer that has been idle for ``ack_wait_s`` (it died) are taken over
with XAUTOCLAIM by whichever worker looks next. Dead letters are added to stream
``orders:dead`` with fields ``payload``, ``reason``, ``detail`` and ``position``.

Needs the ``redis`` extra (``pip install 'upwell[redis]'``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import redis
import redis.exceptions

from upwell.sources.address import SourceAddress
from upwell.sources.codec import MAX_DETAIL_CHARS, StreamField, encode_event, event_key
from upwell.sources.errors import BrokerError
from upwell.sources.protocol import DeadLetter, DeadLetterReason, Message

Entry = tuple[bytes, dict[bytes, bytes] | None]
_PAYLOAD = StreamField.PAYLOAD.value.encode()
_PIPELINE_CHUNK = 5_000


def connect(address: SourceAddress, name: str) -> redis.Redis:
    """A client for the address's server and database.

    Args:
        address: The parsed ``redis://`` URL.
        name: The client's name (shown by CLIENT LIST).

    Returns:
        The client.
    """
    return redis.Redis.from_url(
        f"redis://{address.servers}/{address.db}", client_name=name, health_check_interval=10
    )


class RedisStreamSource:
    """A worker's consumer in a stream's consumer group.

    Args:
        address: The parsed ``redis://`` URL.
        consumer_name: This worker's consumer name; a worker restarted under the same
            name picks up its own pending entries first.
    """

    def __init__(self, address: SourceAddress, consumer_name: str) -> None:
        self._address = address
        self._name = consumer_name
        self._redis = connect(address, consumer_name)
        self._own_cursor: bytes | None = b"0"  # re-read our own pending entries first
        self._claim_cursor = b"0-0"
        self._next_claim = 0.0
        self._claim_every_s = max(address.ack_wait_s / 4, 0.05)
        with _errors(address):
            _ensure_group(self._redis, address)

    def fetch(self, max_messages: int, timeout_s: float) -> list[Message]:  # noqa: D102
        if max_messages < 1:
            return []
        with _errors(self._address):
            entries = self._own_pending(max_messages)
            if not entries and time.monotonic() >= self._next_claim:
                entries = self._claim(max_messages)
            if not entries:
                entries = self._read(">", max_messages, timeout_s)
        return self._messages(entries)

    def _own_pending(self, count: int) -> list[Entry]:
        if self._own_cursor is None:
            return []
        entries = self._read(self._own_cursor, count, None)
        if entries:
            self._own_cursor = entries[-1][0]
        else:
            self._own_cursor = None
        return entries

    def _claim(self, count: int) -> list[Entry]:
        min_idle_ms = int(self._address.ack_wait_s * 1000)
        reply: Any = self._redis.xautoclaim(
            self._address.stream,
            self._address.group,
            self._name,
            min_idle_ms,
            start_id=self._claim_cursor,
            count=count,
        )
        cursor, entries = reply[0], reply[1]
        self._claim_cursor = cursor
        if cursor in {b"0-0", "0-0"}:  # the scan wrapped: rest before scanning again
            self._next_claim = time.monotonic() + self._claim_every_s
        deleted = reply[2] if len(reply) > 2 else []
        if deleted:  # trimmed away while pending: nothing left to deliver
            self._redis.xack(self._address.stream, self._address.group, *deleted)
        return list(entries)

    def _read(self, cursor: bytes | str, count: int, timeout_s: float | None) -> list[Entry]:
        block = None if timeout_s is None else max(1, int(timeout_s * 1000))
        reply: Any = self._redis.xreadgroup(
            self._address.group,
            self._name,
            {self._address.stream: cursor},
            count=count,
            block=block,
        )
        if not reply:
            return []
        return list(reply[0][1])

    def _messages(self, entries: list[Entry]) -> list[Message]:
        stream = self._address.stream
        messages = []
        for entry_id, fields in entries:
            payload = (fields or {}).get(_PAYLOAD, b"")
            messages.append(Message(payload, entry_id, f"{stream}:{entry_id.decode()}"))
        return messages

    def ack(self, messages: Sequence[Message]) -> None:  # noqa: D102
        if messages:
            with _errors(self._address):
                self._redis.xack(
                    self._address.stream, self._address.group, *[m.handle for m in messages]
                )

    def dead_letter(self, letters: Sequence[DeadLetter]) -> None:  # noqa: D102
        if not letters:
            return
        with _errors(self._address):
            pipe = self._redis.pipeline(transaction=False)
            for letter in letters:
                pipe.xadd(self._address.dead, _dead_fields(letter))
            pipe.execute()

    def close(self) -> None:  # noqa: D102
        self._redis.close()


class RedisStreamPublisher:
    """Adds events to a stream and manages the stream.

    Args:
        address: The parsed ``redis://`` URL.
        event_id: The event field holding the id, also stored in entry field ``id``.
    """

    def __init__(self, address: SourceAddress, event_id: str | None) -> None:
        self._address = address
        self._event_id = event_id
        self._redis = connect(address, "upwell-publisher")
        with _errors(address):
            _ensure_group(self._redis, address)

    def create(self, partitions: int) -> None:  # noqa: D102 (one stream, no partitions)
        with _errors(self._address):
            _ensure_group(self._redis, self._address)

    def publish(self, events: Iterable[Mapping[str, Any]]) -> int:  # noqa: D102
        entries: list[dict[Any, Any]] = []
        for event in events:
            fields: dict[Any, Any] = {StreamField.PAYLOAD.value: encode_event(event)}
            key = event_key(event, self._event_id)
            if key is not None:
                fields[StreamField.ID.value] = key
            entries.append(fields)
        return self._add(entries)

    def publish_raw(self, payloads: Iterable[bytes]) -> int:  # noqa: D102
        return self._add([{StreamField.PAYLOAD.value: p} for p in payloads])

    def _add(self, entries: list[dict[Any, Any]]) -> int:
        with _errors(self._address):
            for start in range(0, len(entries), _PIPELINE_CHUNK):
                pipe = self._redis.pipeline(transaction=False)
                for fields in entries[start : start + _PIPELINE_CHUNK]:
                    pipe.xadd(self._address.stream, fields)
                pipe.execute()
        return len(entries)

    def dead_letters(self) -> list[dict[str, Any]]:  # noqa: D102
        with _errors(self._address):
            entries: Any = self._redis.xrange(self._address.dead)
        letters = []
        for _entry_id, fields in entries:
            text = {k.decode(): v.decode() for k, v in fields.items() if k != _PAYLOAD}
            letters.append(
                {
                    "payload": fields.get(_PAYLOAD, b""),
                    "reason": DeadLetterReason(text[StreamField.REASON.value]),
                    "detail": text.get(StreamField.DETAIL.value, ""),
                    "position": text.get(StreamField.POSITION.value, ""),
                }
            )
        return letters

    def backlog(self) -> int:
        """Entries the group has not acknowledged yet (unread plus pending).

        Returns:
            The count.
        """
        with _errors(self._address):
            for group in self._redis.xinfo_groups(self._address.stream):
                if group["name"].decode() == self._address.group:
                    return int(group.get("lag") or 0) + int(group["pending"])
        return 0

    def delete(self) -> None:
        """Delete the stream (with its group) and the dead-letter stream."""
        with _errors(self._address):
            self._redis.delete(self._address.stream, self._address.dead)

    def close(self) -> None:  # noqa: D102
        self._redis.close()


def _ensure_group(client: redis.Redis, address: SourceAddress) -> None:
    try:
        client.xgroup_create(address.stream, address.group, id="0", mkstream=True)
    except redis.exceptions.ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


def _dead_fields(letter: DeadLetter) -> dict[Any, Any]:
    return {
        StreamField.PAYLOAD.value: letter.payload,
        StreamField.REASON.value: letter.reason.value,
        StreamField.DETAIL.value: letter.detail[:MAX_DETAIL_CHARS],
        StreamField.POSITION.value: letter.position,
    }


@contextmanager
def _errors(address: SourceAddress) -> Iterator[None]:
    """Turn the client's connection and server errors into :class:`BrokerError`."""
    try:
        yield
    except redis.exceptions.RedisError as error:
        msg = f"Redis failed: {error}"
        raise BrokerError(
            msg, where=str(address), fix="check that the Redis server is up"
        ) from error
