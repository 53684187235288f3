"""Broker event sources: NATS JetStream, Redis Streams and Kafka, behind one Protocol."""
