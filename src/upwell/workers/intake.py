"""Turning broker messages into validated events, and bad ones into dead letters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from upwell.definitions.source import EventSource
from upwell.ingest.batch import validate
from upwell.ingest.errors import EventError
from upwell.sources.protocol import DeadLetter, DeadLetterReason, Message


@dataclass
class Intake:
    """The messages of one fetch, sorted into valid events and dead letters.

    Args:
        rows: Validated events (timestamps in epoch ms), in delivery order.
        letters: Messages that are not valid events of the source.
        positions: The broker position of each row, for later dead letters.
        payloads: The payload of each row, for later dead letters.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)
    positions: list[str] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)


def read_messages(source: EventSource, messages: Sequence[Message]) -> Intake:
    """Decode and validate each message as one event of the source.

    A message that is not a JSON object, or whose event fails the source's validation
    (missing or unknown fields, wrong types, naive timestamps...), becomes a dead letter
    with reason ``invalid`` and the validation error as detail; the others are kept.

    Args:
        source: The source the messages belong to.
        messages: The fetched messages.

    Returns:
        The sorted messages.
    """
    intake = Intake()
    decoded, kept = _decode(messages, intake.letters)
    try:  # the common case: every event is valid, validated in one pass
        rows = validate(source, decoded).rows
        survivors = kept
    except EventError:
        rows, survivors = [], []
        for value, message in zip(decoded, kept, strict=True):
            try:
                rows.append(validate(source, [value]).rows[0])
                survivors.append(message)
            except EventError as error:
                intake.letters.append(_invalid(message, str(error)))
    intake.rows = rows
    intake.positions = [m.position for m in survivors]
    intake.payloads = [m.payload for m in survivors]
    return intake


def _decode(
    messages: Sequence[Message], letters: list[DeadLetter]
) -> tuple[list[dict[str, Any]], list[Message]]:
    """The JSON objects of the messages (and their messages); the rest become letters."""
    decoded: list[dict[str, Any]] = []
    kept: list[Message] = []
    for message in messages:
        try:
            value = orjson.loads(message.payload)
        except orjson.JSONDecodeError as error:
            letters.append(_invalid(message, f"not JSON: {error}"))
            continue
        if not isinstance(value, dict):
            letters.append(_invalid(message, f"not a JSON object: {type(value).__name__}"))
            continue
        decoded.append(value)
        kept.append(message)
    return decoded, kept


def _invalid(message: Message, detail: str) -> DeadLetter:
    return DeadLetter(message.payload, DeadLetterReason.INVALID, detail, message.position)
