"""Entity rows from the command line: ``key=value`` pairs typed by the definitions."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from upwell.cli.errors import CommandError
from upwell.definitions.registry import Registry
from upwell.definitions.request import RequestSource
from upwell.definitions.types import FieldType, ValueType

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def row_types(registry: Registry) -> dict[str, ValueType]:
    """The declared type of every entity key and request field, by bare name.

    Args:
        registry: The definitions.

    Returns:
        Column name to type (entity keys first; the first declaration wins).
    """
    types: dict[str, ValueType] = {}
    for source in registry.sources.values():
        for entity in source.entities:
            for key in entity.keys:
                types.setdefault(key, source.schema[key])
    for group in registry.groups.values():
        if isinstance(group, RequestSource):
            for name, kind in group.schema.items():
                types.setdefault(name, kind)
    return types


def parse_pairs(pairs: Iterable[str], types: dict[str, ValueType], option: str) -> dict[str, Any]:
    """Parse ``key=value`` pairs into a row, each value converted to its declared type.

    Args:
        pairs: The pairs as given.
        types: Declared types by name (see :func:`row_types`).
        option: The option's name, for the error message.

    Returns:
        The row.

    Raises:
        CommandError: A pair is not ``key=value``, names an unknown field, repeats one,
            or its value does not parse as the field's type.
    """
    row: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            msg = f"{pair!r} is not key=value"
            raise CommandError(msg, where=option, fix=f"write e.g. {option} customer_id=42")
        if key not in types:
            msg = f"unknown field {key!r}"
            raise CommandError(msg, where=option, fix=f"use one of {sorted(types)}")
        if key in row:
            msg = f"{key!r} is given twice"
            raise CommandError(msg, where=option, fix="give each field once")
        row[key] = parse_value(text, types[key], f"{option} {key}")
    return row


def parse_value(text: str, kind: ValueType, where: str) -> Any:
    """Convert command-line text to a value of a declared type.

    Args:
        text: The text.
        kind: The type.
        where: The option and field, for the error message.

    Returns:
        An int, float, bool, str, UTC datetime, or a list of floats for a vector.

    Raises:
        CommandError: The text does not parse as the type.
    """
    expected = kind.value if isinstance(kind, FieldType) else f"a JSON list of {kind.dim} numbers"
    try:
        if kind is FieldType.INT:
            return int(text)
        if kind is FieldType.FLOAT:
            return float(text)
        if kind is FieldType.BOOL:
            if text.lower() not in _TRUE | _FALSE:
                raise ValueError(text)
            return text.lower() in _TRUE
        if kind is FieldType.STRING:
            return text
        if kind is FieldType.TIMESTAMP:
            return parse_time(text, where)
        return json.loads(text)
    except ValueError:
        msg = f"{text!r} is not {'an' if expected[0] in 'aeiou' else 'a'} {expected}"
        raise CommandError(msg, where=where, fix=f"give a value of type {expected}") from None


def parse_time(text: str, where: str) -> datetime:
    """Parse an ISO-8601 time with an offset into a UTC datetime.

    Args:
        text: E.g. ``2024-05-01T12:00:00Z`` or ``2024-05-01T14:00:00+02:00``.
        where: The option, for the error message.

    Returns:
        The time in UTC.

    Raises:
        CommandError: The text is not ISO-8601 or has no offset.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        msg = f"{text!r} is not an ISO-8601 time"
        raise CommandError(msg, where=where, fix="write e.g. 2024-05-01T12:00:00Z") from None
    if moment.utcoffset() is None:
        msg = f"{text!r} has no UTC offset"
        raise CommandError(msg, where=where, fix=f"write it with one, e.g. {text.strip()}Z")
    return moment.astimezone(UTC)
