"""Broker URLs: which broker, which servers, which stream, which group.

Forms (options after ``?`` are the same for every broker)::

    nats://host:4222[,host2:4222]/STREAM
    redis://[:password@]host:6379[/DB]/STREAM
    kafka://host:9092[,host2:9092]/TOPIC

    ?group=upwell        consumer group (NATS durable consumer, Redis group, Kafka group.id)
    &dead=NAME           dead-letter subject (NATS), stream (Redis) or topic (Kafka)
    &subject=SUBJECT     NATS only: the subject events are published on
    &ack_wait_s=30       how long a fetched, unacknowledged message stays with its
                         consumer before the group hands it to another one

>>> address = parse_address("kafka://a:9092,b:9092/orders?group=scoring")
>>> address.broker, address.servers, address.stream, address.group, address.dead
(<Broker.KAFKA: 'kafka'>, 'a:9092,b:9092', 'orders', 'scoring', 'orders.dead')
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from upwell.sources.errors import SourceAddressError

_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
_NATS_STREAM = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
_SUBJECT = re.compile(r"^[A-Za-z0-9_*>-]+(\.[A-Za-z0-9_*>-]+)*$")
_FORMS = (
    "nats://host:4222/STREAM, redis://host:6379/STREAM (or /DB/STREAM) or kafka://host:9092/TOPIC"
)


class Broker(enum.Enum):
    """The brokers a worker can consume."""

    NATS = "nats"
    REDIS = "redis"
    KAFKA = "kafka"


class AddressOption(enum.Enum):
    """The options a broker URL may carry after ``?``."""

    GROUP = "group"
    DEAD = "dead"
    SUBJECT = "subject"
    ACK_WAIT_S = "ack_wait_s"


_DEAD_SUFFIX = {Broker.NATS: ".dead", Broker.REDIS: ":dead", Broker.KAFKA: ".dead"}


@dataclass(frozen=True, kw_only=True)
class SourceAddress:
    """A parsed broker URL.

    Args:
        broker: Which broker.
        servers: ``host:port`` pairs, comma-separated (with credentials for Redis).
        stream: The NATS stream, Redis stream key or Kafka topic.
        group: The consumer group.
        dead: Where dead letters go (subject, stream key or topic).
        subject: NATS only: the subject events are published on.
        db: Redis only: the database number.
        ack_wait_s: How long a fetched message may stay unacknowledged before another
            consumer of the group gets it.
    """

    broker: Broker
    servers: str
    stream: str
    group: str = "upwell"
    dead: str = ""
    subject: str = ""
    db: int = 0
    ack_wait_s: float = 30.0

    def __str__(self) -> str:
        netloc = self.servers.rsplit("@", 1)[-1]  # never print a password
        return f"{self.broker.value}://{netloc}/{self.stream}"


def parse_address(url: str) -> SourceAddress:
    """Parse a broker URL.

    Args:
        url: E.g. ``nats://127.0.0.1:4222/ORDERS?group=features``.

    Returns:
        The address, with the defaults filled in.

    Raises:
        SourceAddressError: The URL is malformed, names an unknown broker, lacks the
            stream, or carries unknown or invalid options.
    """
    parts = urlsplit(url)
    try:
        broker = Broker(parts.scheme)
    except ValueError:
        msg = f"{parts.scheme or 'no scheme'!r} is not a broker upwell can consume"
        raise SourceAddressError(msg, where=_safe(url), fix=f"write {_FORMS}") from None
    if not parts.netloc:
        msg = "names no server"
        raise SourceAddressError(msg, where=_safe(url), fix=f"write {_FORMS}")
    segments = [s for s in parts.path.split("/") if s]
    db = 0
    if broker is Broker.REDIS and len(segments) == 2 and segments[0].isdigit():
        db = int(segments.pop(0))
    if len(segments) != 1 or not _stream_pattern(broker).match(segments[0]):
        msg = f"path {parts.path!r} does not name one valid stream"
        raise SourceAddressError(msg, where=_safe(url), fix=f"write {_FORMS}")
    stream = segments[0]
    options = _options(parts.query, broker, url)
    return SourceAddress(
        broker=broker,
        servers=parts.netloc,
        stream=stream,
        group=options.get(AddressOption.GROUP, "upwell"),
        dead=options.get(AddressOption.DEAD, stream + _DEAD_SUFFIX[broker]),
        subject=options.get(AddressOption.SUBJECT, f"{stream}.events")
        if broker is Broker.NATS
        else "",
        db=db,
        ack_wait_s=_seconds(options.get(AddressOption.ACK_WAIT_S, "30"), url),
    )


def _stream_pattern(broker: Broker) -> re.Pattern[str]:
    return _NATS_STREAM if broker is Broker.NATS else _NAME


def _options(query: str, broker: Broker, url: str) -> dict[AddressOption, str]:
    options: dict[AddressOption, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        try:
            option = AddressOption(key)
        except ValueError:
            msg = f"unknown option {key!r}"
            raise SourceAddressError(
                msg, where=_safe(url), fix=f"use only {[o.value for o in AddressOption]}"
            ) from None
        if option is AddressOption.SUBJECT and broker is not Broker.NATS:
            msg = "option 'subject' applies to NATS only"
            raise SourceAddressError(msg, where=_safe(url), fix="drop it")
        pattern = _SUBJECT if option is AddressOption.SUBJECT else _NAME
        if not pattern.match(value):
            msg = f"option {key}={value!r} is not a valid name"
            raise SourceAddressError(msg, where=_safe(url), fix="use letters, digits, . _ - :")
        options[option] = value
    return options


def _seconds(text: str, url: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.1 <= value <= 86_400:
        msg = f"ack_wait_s={text!r} is not a number of seconds between 0.1 and 86400"
        raise SourceAddressError(msg, where=_safe(url), fix="write e.g. ack_wait_s=30")
    return value


def _safe(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url
