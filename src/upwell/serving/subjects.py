"""Data subjects: an entity and its key, as consent, decisions and erasure name them.

A subject key is ``<entity>:<key>``: ``customer:42`` for one key column, and the key
values as a JSON list for several (``account:["DE",7]``). Consent and decision state are
kept under it, so customer 42 and terminal 42 never share a record.

>>> from upwell.definitions.entity import Entity
>>> subject_key(Entity(name="customer", keys=("customer_id",)), {"customer_id": 42})
'customer:42'
>>> subject_key(Entity(name="account", keys=("bank", "number")), ("DE", 7))
'account:["DE",7]'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from upwell.definitions.entity import Entity
from upwell.definitions.registry import Registry
from upwell.definitions.types import FieldType
from upwell.serving.errors import RequestError

KeyInput = Mapping[str, Any] | Sequence[Any] | str | int | float
"""An entity's key: a row with its key columns, the values in key order, or one value."""


class UnknownEntityError(RequestError):
    """An entity name is not among the definitions."""

    not_found = True


def key_values(entity: Entity, key: KeyInput) -> tuple[Any, ...]:
    """An entity's key values in key order, from any accepted form.

    Args:
        entity: The entity.
        key: A row holding the key columns, a sequence of values, or the single value.

    Returns:
        The values.

    Raises:
        RequestError: A key column is missing or the number of values is wrong.
    """
    if isinstance(key, Mapping):
        missing = [k for k in entity.keys if k not in key]
        if missing:
            msg = f"lacks the key columns {missing} of entity {entity.name!r}"
            raise RequestError(msg, where="entity", fix=f"send {list(entity.keys)}")
        return tuple(key[k] for k in entity.keys)
    values = tuple(key) if isinstance(key, list | tuple) else (key,)
    if len(values) != len(entity.keys):
        msg = f"{len(values)} key values for entity {entity.name!r}, which has {entity.keys}"
        raise RequestError(msg, where="entity", fix="give one value per key column")
    return values


def subject_key(entity: Entity, key: KeyInput) -> str:
    """The subject key of an entity's key (see the module).

    Args:
        entity: The entity.
        key: Its key in any accepted form.

    Returns:
        ``<entity>:<key>``.
    """
    values = [_plain(v) for v in key_values(entity, key)]
    if len(values) == 1 and isinstance(values[0], str | int):
        return f"{entity.name}:{values[0]}"
    return f"{entity.name}:{orjson.dumps(values).decode()}"


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    item = getattr(value, "item", None)  # numpy scalars
    return _plain(item()) if callable(item) else value


def find_entity(registry: Registry, name: str) -> Entity:
    """An entity of the definitions by name.

    Args:
        registry: The definitions.
        name: The entity's name.

    Returns:
        The entity.

    Raises:
        UnknownEntityError: No entity has that name.
    """
    entity = registry.entities.get(name)
    if entity is None:
        msg = f"{name!r} is not an entity of the definitions"
        raise UnknownEntityError(msg, where="entity", fix=f"use one of {sorted(registry.entities)}")
    return entity


def typed_key(registry: Registry, entity: Entity, key: KeyInput) -> dict[str, Any]:
    """Key column to value, each converted to the column's type where a source declares it.

    A key that arrived as text (an HTTP path) matches the stored integers.

    Args:
        registry: The definitions.
        entity: The entity.
        key: Its key in any accepted form.

    Returns:
        Key column to value.

    Raises:
        RequestError: A value does not convert to its column's type.
    """
    types: dict[str, object] = {}
    schemas = [s.schema for s in registry.sources.values() if entity in s.entities]
    for schema in schemas:
        for column in entity.keys:
            types.setdefault(column, schema.get(column))
    return {
        column: _typed(value, types.get(column), f"entity {entity.name!r}.{column}")
        for column, value in zip(entity.keys, key_values(entity, key), strict=True)
    }


def _typed(value: Any, kind: object, where: str) -> Any:
    if value is None or isinstance(value, bool) or not isinstance(value, str | int | float):
        msg = f"{value!r} is not a key value"
        raise RequestError(msg, where=where, fix="send a number or a string")
    try:
        if kind is FieldType.INT and not isinstance(value, int):
            number = float(value)
            if not number.is_integer():
                raise ValueError(value)
            return int(number)
        if kind is FieldType.STRING:
            return str(value)
    except (ValueError, OverflowError):
        msg = f"{value!r} is not an integer"
        raise RequestError(msg, where=where, fix="send the key as an integer") from None
    return _plain(value)
