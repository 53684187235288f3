"""Kafka (and Kafka-compatible brokers): a consumer group with manual offset commits.

``kafka://host:9092/orders`` joins group ``upwell`` on topic ``orders`` with
``enable.auto.commit=false``: offsets are committed synchronously after a batch's
effect is durable, and on a rebalance whatever was acknowledged but not yet committed
is committed before the partitions are revoked. A worker that dies stops heartbeating;
after ``ack_wait_s`` (the session timeout) its partitions go to the others, which
resume from the committed offsets. Dead letters go to topic ``orders.dead`` with the
reason in headers. A new group starts at the earliest offset.

Needs the ``kafka`` extra (``pip install 'upwell[kafka]'``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka import Message as KafkaMessage
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from upwell.sources.address import SourceAddress
from upwell.sources.codec import dead_letter_headers, dead_letter_record, encode_event, event_key
from upwell.sources.errors import BrokerError
from upwell.sources.protocol import DeadLetter, Message

_TIMEOUT_S = 30.0
_MIN_SESSION_MS = 6_000


def consumer_config(
    address: SourceAddress, consumer_name: str, max_messages: int
) -> dict[str, Any]:
    """The consumer settings of a worker.

    Args:
        address: The parsed ``kafka://`` URL.
        consumer_name: This worker's name (``client.id``).
        max_messages: The most messages the worker holds; the client prefetches no
            more than this per partition.

    Returns:
        confluent-kafka settings.
    """
    session_ms = max(_MIN_SESSION_MS, int(address.ack_wait_s * 1000))
    return {
        "bootstrap.servers": address.servers,
        "group.id": address.group,
        "client.id": consumer_name,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": session_ms,
        "heartbeat.interval.ms": max(1_000, session_ms // 3),
        "queued.min.messages": max(1, max_messages),
        "fetch.wait.max.ms": 10,  # an idle partition answers within 10 ms: fresh features
        "queued.max.messages.kbytes": 4_096,
        "isolation.level": "read_committed",
    }


class KafkaSource:
    """A worker's member of a topic's consumer group.

    Args:
        address: The parsed ``kafka://`` URL.
        consumer_name: This worker's name.
        max_messages: The most messages fetched at once (bounds prefetching too).
    """

    def __init__(self, address: SourceAddress, consumer_name: str, max_messages: int) -> None:
        self._address = address
        self._consumer = Consumer(consumer_config(address, consumer_name, max_messages))
        self._producer = Producer(_producer_config(address, f"{consumer_name}-dead"))
        self._uncommitted: dict[int, int] = {}  # partition -> next offset, acked not committed
        self._consumer.subscribe(
            [address.stream],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        self.assigned: set[int] = set()

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned |= {p.partition for p in partitions}

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._commit()  # commit before the partitions go to another member
        self.assigned -= {p.partition for p in partitions}

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # The group already gave these away: committing now would fail, and the new
        # owner redelivers from the last committed offset.
        for p in partitions:
            self._uncommitted.pop(p.partition, None)
        self.assigned -= {p.partition for p in partitions}

    def fetch(self, max_messages: int, timeout_s: float) -> list[Message]:  # noqa: D102
        if max_messages < 1:
            return []
        try:
            # consume() waits for all max_messages or the timeout, so wait for the first
            # alone and then take whatever else is already here
            first = self._consumer.poll(timeout_s)
            if first is None:
                return []
            polled = [first]
            if max_messages > 1:
                polled += self._consumer.consume(num_messages=max_messages - 1, timeout=0)
        except KafkaException as error:
            raise _broker_error(error, self._address) from None
        messages = []
        for msg in polled:
            if msg.error() is not None:
                _check(msg, self._address)
                continue
            partition, offset = msg.partition(), msg.offset()
            position = f"{self._address.stream}/{partition}:{offset}"
            messages.append(Message(msg.value() or b"", (partition, offset), position))
        return messages

    def ack(self, messages: Sequence[Message]) -> None:  # noqa: D102
        for message in messages:
            partition, offset = message.handle
            self._uncommitted[partition] = max(self._uncommitted.get(partition, 0), offset + 1)
        self._commit()

    def _commit(self) -> None:
        if not self._uncommitted:
            return
        offsets = [TopicPartition(self._address.stream, p, o) for p, o in self._uncommitted.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as error:
            raise _broker_error(error, self._address) from None
        self._uncommitted.clear()

    def dead_letter(self, letters: Sequence[DeadLetter]) -> None:  # noqa: D102
        if letters:
            items = [(letter.payload, None, dead_letter_headers(letter)) for letter in letters]
            _produce(self._producer, self._address.dead, items, self._address)

    def close(self) -> None:  # noqa: D102
        try:
            self._commit()
        finally:
            self._consumer.close()
            self._producer.flush(_TIMEOUT_S)


class KafkaPublisher:
    """Produces events to a topic (idempotent, ``acks=all``) and manages the topics.

    Args:
        address: The parsed ``kafka://`` URL.
        event_id: The event field holding the id, sent as the message key.
    """

    def __init__(self, address: SourceAddress, event_id: str | None) -> None:
        self._address = address
        self._event_id = event_id
        self._producer = Producer(_producer_config(address, "upwell-publisher"))

    def create(self, partitions: int) -> None:
        """Create the topic and its dead-letter topic where missing.

        Args:
            partitions: The topic's partitions (the most workers that can share it).
        """
        admin = AdminClient({"bootstrap.servers": self._address.servers})
        topics = [
            NewTopic(self._address.stream, num_partitions=partitions, replication_factor=1),
            NewTopic(self._address.dead, num_partitions=1, replication_factor=1),
        ]
        for future in admin.create_topics(topics, operation_timeout=_TIMEOUT_S).values():
            try:
                future.result(_TIMEOUT_S)
            except KafkaException as error:
                if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise _broker_error(error, self._address) from None

    def publish(self, events: Iterable[Mapping[str, Any]]) -> int:  # noqa: D102
        items = []
        for event in events:
            key = event_key(event, self._event_id)
            items.append((encode_event(event), key.encode() if key else None, None))
        return _produce(self._producer, self._address.stream, items, self._address)

    def publish_raw(self, payloads: Iterable[bytes]) -> int:  # noqa: D102
        items = [(payload, None, None) for payload in payloads]
        return _produce(self._producer, self._address.stream, items, self._address)

    def dead_letters(self) -> list[dict[str, Any]]:  # noqa: D102
        consumer = Consumer(
            {
                "bootstrap.servers": self._address.servers,
                "group.id": f"upwell-reader-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
            }
        )
        try:
            metadata = consumer.list_topics(self._address.dead, timeout=_TIMEOUT_S)
            topic = metadata.topics[self._address.dead]
            consumer.assign(
                [TopicPartition(self._address.dead, p, OFFSET_BEGINNING) for p in topic.partitions]
            )
            letters = []
            while batch := consumer.consume(num_messages=1_000, timeout=1.0):
                for msg in batch:
                    if msg.error() is None:
                        pairs: list[tuple[str, Any]] = list(msg.headers() or [])  # type: ignore[arg-type]
                        headers = {k: _text(v) for k, v in pairs}
                        letters.append(dead_letter_record(msg.value() or b"", headers))
            return letters
        finally:
            consumer.close()

    def delete(self) -> None:
        """Delete the topic and its dead-letter topic."""
        admin = AdminClient({"bootstrap.servers": self._address.servers})
        futures = admin.delete_topics([self._address.stream, self._address.dead])
        for future in futures.values():
            try:
                future.result(_TIMEOUT_S)
            except KafkaException:
                continue  # already gone

    def close(self) -> None:  # noqa: D102
        self._producer.flush(_TIMEOUT_S)


def _producer_config(address: SourceAddress, name: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": address.servers,
        "client.id": name,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 2,
    }


def _produce(
    producer: Producer,
    topic: str,
    items: Sequence[tuple[bytes, bytes | None, Mapping[str, str] | None]],
    address: SourceAddress,
) -> int:
    """Produce in order and wait until every message is stored; durable on return."""
    failures: list[KafkaError] = []

    def delivered(error: KafkaError | None, _msg: KafkaMessage) -> None:
        if error is not None:
            failures.append(error)

    for value, key, headers in items:
        while True:
            try:
                producer.produce(
                    topic,
                    value,
                    key,
                    headers=dict(headers) if headers else None,
                    on_delivery=delivered,
                )
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.05)
        producer.poll(0)
    remaining = producer.flush(_TIMEOUT_S)
    if failures or remaining:
        reason = failures[0].str() if failures else f"{remaining} messages not delivered in time"
        msg = f"producing to topic {topic!r} failed: {reason}"
        raise BrokerError(msg, where=str(address), fix="check that the broker is up")
    return len(items)


def _text(value: str | bytes | None) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value or ""


def _check(msg: KafkaMessage, address: SourceAddress) -> None:
    error = msg.error()
    if error is None or error.code() == KafkaError._PARTITION_EOF:
        return
    if error.fatal() or not error.retriable():
        msg_text = f"consuming failed: {error.str()}"
        raise BrokerError(msg_text, where=str(address), fix="check the topic and the broker")


def _broker_error(error: KafkaException, address: SourceAddress) -> BrokerError:
    msg = f"Kafka failed: {error.args[0] if error.args else error}"
    return BrokerError(msg, where=str(address), fix="check that the broker is up")
