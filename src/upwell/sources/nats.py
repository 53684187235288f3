"""NATS JetStream: a durable pull consumer per group, dead letters on a subject.

``nats://host:4222/ORDERS`` reads subject ``ORDERS.events`` of stream ``ORDERS``
through the durable pull consumer named after the group (default ``upwell``); every
worker of the group binds to the same consumer and pulls batches from it. A message
that is not acknowledged within ``ack_wait_s`` (a worker died) is delivered again to
another worker. Dead letters are published, with their reason in headers, to
``ORDERS.dead``, which the stream also captures (the stream is created with both
subjects when it does not exist).

Needs the ``nats`` extra (``pip install 'upwell[nats]'``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType

from upwell.sources.address import SourceAddress
from upwell.sources.codec import dead_letter_headers, dead_letter_record, encode_event, event_key
from upwell.sources.errors import BrokerError
from upwell.sources.loop_thread import LoopThread
from upwell.sources.protocol import DeadLetter, Message

_MSG_ID = "Nats-Msg-Id"
_CONNECT_TIMEOUT_S = 5.0
_CALL_TIMEOUT_S = 60.0
_PUBLISH_CHUNK = 2_000


class NatsSource:
    """A worker's pull subscription on a stream's durable consumer.

    Args:
        address: The parsed ``nats://`` URL.
        consumer_name: This worker's name (the connection's name).
        max_ack_pending: The most messages the whole group may hold unacknowledged.
    """

    def __init__(self, address: SourceAddress, consumer_name: str, max_ack_pending: int) -> None:
        self._address = address
        self._loop = LoopThread(f"nats-{consumer_name}")
        self._overflow: deque[Msg] = deque()
        try:
            self._nc, self._js = self._loop.run(_connect(address, consumer_name), _CALL_TIMEOUT_S)
            config = ConsumerConfig(
                durable_name=address.group,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=address.ack_wait_s,
                max_ack_pending=max_ack_pending,
                filter_subject=address.subject,
            )
            self._sub = self._loop.run(
                self._js.pull_subscribe(
                    address.subject, durable=address.group, stream=address.stream, config=config
                ),
                _CALL_TIMEOUT_S,
            )
        except BaseException:
            self.close()
            raise

    def fetch(self, max_messages: int, timeout_s: float) -> list[Message]:  # noqa: D102
        if max_messages < 1:
            return []
        if not self._overflow:
            with _errors(self._address):
                self._overflow.extend(self._loop.run(self._pull(max_messages, timeout_s)))
        taken = [self._overflow.popleft() for _ in range(min(max_messages, len(self._overflow)))]
        stream = self._address.stream
        return [Message(m.data, m, f"{stream}:{m.metadata.sequence.stream}") for m in taken]

    async def _pull(self, max_messages: int, timeout_s: float) -> list[Msg]:
        # A pull that timed out client-side may still be answered; those messages wait
        # in the subscription and come back with the next pull (kept in the overflow).
        try:
            return await self._sub.fetch(max_messages, timeout=max(timeout_s, 0.01))
        except (TimeoutError, nats.errors.TimeoutError):
            return []

    def ack(self, messages: Sequence[Message]) -> None:  # noqa: D102
        if messages:
            with _errors(self._address):
                self._loop.run(self._ack([m.handle for m in messages]), _CALL_TIMEOUT_S)

    async def _ack(self, messages: list[Msg]) -> None:
        for msg in messages:
            await msg.ack()
        await self._nc.flush()  # the server has read every ack when the PONG returns

    def dead_letter(self, letters: Sequence[DeadLetter]) -> None:  # noqa: D102
        if letters:
            payloads = [(letter.payload, dead_letter_headers(letter)) for letter in letters]
            with _errors(self._address):
                self._loop.run(_publish(self._js, self._address.dead, payloads), _CALL_TIMEOUT_S)

    def close(self) -> None:  # noqa: D102
        nc: Client | None = getattr(self, "_nc", None)
        if nc is not None and not nc.is_closed:
            self._loop.run(nc.close(), _CALL_TIMEOUT_S)
        self._loop.stop()


class NatsPublisher:
    """Publishes events to a stream's subject and manages the stream.

    Args:
        address: The parsed ``nats://`` URL.
        event_id: The event field holding the id, sent as ``Nats-Msg-Id`` (JetStream
            then drops a repeated id within the stream's duplicate window).
    """

    def __init__(self, address: SourceAddress, event_id: str | None) -> None:
        self._address = address
        self._event_id = event_id
        self._loop = LoopThread("nats-publisher")
        try:
            self._nc, self._js = self._loop.run(_connect(address, "upwell-publisher"))
        except BaseException:
            self._loop.stop()
            raise

    def create(self, partitions: int) -> None:  # noqa: D102 (one stream, no partitions)
        self._loop.run(_ensure_stream(self._js, self._address))

    def publish(self, events: Iterable[Mapping[str, Any]]) -> int:  # noqa: D102
        payloads = []
        for event in events:
            key = event_key(event, self._event_id)
            payloads.append((encode_event(event), {_MSG_ID: key} if key else None))
        self._loop.run(_publish(self._js, self._address.subject, payloads))
        return len(payloads)

    def publish_raw(self, payloads: Iterable[bytes]) -> int:  # noqa: D102
        items = [(payload, None) for payload in payloads]
        self._loop.run(_publish(self._js, self._address.subject, items))
        return len(items)

    def dead_letters(self) -> list[dict[str, Any]]:  # noqa: D102
        return self._loop.run(self._read_dead())

    async def _read_dead(self) -> list[dict[str, Any]]:
        config = ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL)
        sub = await self._js.pull_subscribe(
            self._address.dead, stream=self._address.stream, config=config
        )
        letters: list[dict[str, Any]] = []
        try:
            while True:
                try:
                    batch = await sub.fetch(500, timeout=0.5)
                except (TimeoutError, nats.errors.TimeoutError):
                    break
                letters.extend(dead_letter_record(m.data, dict(m.headers or {})) for m in batch)
        finally:
            await sub.unsubscribe()
        return letters

    def backlog(self) -> int:
        """Messages the group has not acknowledged yet (pending plus in flight).

        Returns:
            The count.
        """
        info = self._loop.run(self._js.consumer_info(self._address.stream, self._address.group))
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    def delete(self) -> None:
        """Delete the stream, its consumers and dead letters."""
        with contextlib.suppress(nats.js.errors.NotFoundError):
            self._loop.run(self._js.delete_stream(self._address.stream))

    def close(self) -> None:  # noqa: D102
        if not self._nc.is_closed:
            self._loop.run(self._nc.close())
        self._loop.stop()


@contextlib.contextmanager
def _errors(address: SourceAddress) -> Iterator[None]:
    """Turn the client's errors (e.g. a dropped connection) into :class:`BrokerError`."""
    try:
        yield
    except (nats.errors.Error, OSError, TimeoutError) as error:
        msg = f"NATS failed: {error!r}"
        raise BrokerError(msg, where=str(address), fix="check that nats-server is up") from error


async def _connect(address: SourceAddress, name: str) -> tuple[Client, JetStreamContext]:
    servers = [f"nats://{server}" for server in address.servers.split(",")]
    try:
        nc = await nats.connect(
            servers=servers,
            name=name,
            connect_timeout=_CONNECT_TIMEOUT_S,
            max_reconnect_attempts=-1,
            allow_reconnect=True,
        )
    except (OSError, nats.errors.Error) as error:
        msg = f"cannot connect to NATS: {error}"
        raise BrokerError(
            msg, where=str(address), fix="start nats-server -js, or fix the URL"
        ) from None
    js = nc.jetstream()
    await _ensure_stream(js, address)
    return nc, js


async def _ensure_stream(js: JetStreamContext, address: SourceAddress) -> None:
    try:
        await js.stream_info(address.stream)
    except nats.js.errors.NotFoundError:
        await js.add_stream(
            name=address.stream,
            subjects=[address.subject, address.dead],
            storage=StorageType.FILE,
        )


async def _publish(
    js: JetStreamContext, subject: str, items: Sequence[tuple[bytes, dict[str, str] | None]]
) -> None:
    """Publish in order with many acknowledgements outstanding; durable on return."""
    for start in range(0, len(items), _PUBLISH_CHUNK):
        futures = [
            await js.publish_async(subject, payload, headers=headers, wait_stall=_CALL_TIMEOUT_S)
            for payload, headers in items[start : start + _PUBLISH_CHUNK]
        ]
        try:
            await asyncio.wait_for(asyncio.gather(*futures), _CALL_TIMEOUT_S)
        except (TimeoutError, nats.errors.Error) as error:
            msg = f"JetStream did not store a message published on {subject!r}: {error!r}"
            raise BrokerError(
                msg,
                where="nats publish",
                fix=f"make sure a stream captures subject {subject!r}",
            ) from None
