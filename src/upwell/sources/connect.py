"""Opening a consumer or a publisher from a broker URL.

Each broker's client library is imported only when that broker is used, so a worker
for NATS needs only the ``nats`` extra.
"""

from __future__ import annotations

from upwell.sources.address import Broker, SourceAddress, parse_address
from upwell.sources.protocol import BrokerSource, Publisher

DEFAULT_GROUP_IN_FLIGHT = 10_000


def open_source(
    url: str | SourceAddress,
    consumer_name: str,
    max_in_flight: int,
    group_in_flight: int = DEFAULT_GROUP_IN_FLIGHT,
) -> BrokerSource:
    """Join a broker stream's consumer group.

    Args:
        url: The broker URL (see :mod:`upwell.sources.address`) or its parsed form.
        consumer_name: This consumer's name, unique within the group and stable across
            restarts (Redis gives a restarted consumer its own pending entries back).
        max_in_flight: The most messages this consumer fetches at once.
        group_in_flight: NATS only: the most unacknowledged messages of the whole group.

    Returns:
        The consumer.
    """
    address = url if isinstance(url, SourceAddress) else parse_address(url)
    if address.broker is Broker.NATS:
        from upwell.sources.nats import NatsSource  # noqa: PLC0415 (optional extra)

        return NatsSource(address, consumer_name, max(group_in_flight, max_in_flight))
    if address.broker is Broker.REDIS:
        from upwell.sources.redis_streams import RedisStreamSource  # noqa: PLC0415

        return RedisStreamSource(address, consumer_name)
    from upwell.sources.kafka import KafkaSource  # noqa: PLC0415

    return KafkaSource(address, consumer_name, max_in_flight)


def open_publisher(url: str | SourceAddress, event_id: str | None) -> Publisher:
    """Connect a publisher to a broker stream (creating the NATS stream or Redis group).

    Args:
        url: The broker URL or its parsed form.
        event_id: The event field holding the id, or None.

    Returns:
        The publisher.
    """
    address = url if isinstance(url, SourceAddress) else parse_address(url)
    if address.broker is Broker.NATS:
        from upwell.sources.nats import NatsPublisher  # noqa: PLC0415

        return NatsPublisher(address, event_id)
    if address.broker is Broker.REDIS:
        from upwell.sources.redis_streams import RedisStreamPublisher  # noqa: PLC0415

        return RedisStreamPublisher(address, event_id)
    from upwell.sources.kafka import KafkaPublisher  # noqa: PLC0415

    return KafkaPublisher(address, event_id)
