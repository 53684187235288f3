"""Entities: the things features describe (a customer, a terminal, a pair of them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from upwell.definitions.errors import DefinitionError
from upwell.definitions.names import check_name


@dataclass(frozen=True, kw_only=True)
class Entity:
    """An entity identified by one or more key columns.

    Args:
        name: The entity's name.
        keys: The key column(s); a string for one key.
        description: Free text for humans.

    Raises:
        DefinitionError: A name or key is invalid, or keys repeat.
    """

    name: str
    keys: tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        where = f"Entity {self.name!r}"
        check_name(self.name, definition=where)
        raw: Any = self.keys
        keys = (raw,) if isinstance(raw, str) else tuple(raw)
        if not keys:
            raise DefinitionError(where, "keys", "has no key column", "pass keys=('customer_id',)")
        for key in keys:
            check_name(key, definition=where, field="keys")
        if len(set(keys)) != len(keys):
            raise DefinitionError(where, "keys", f"repeats a key in {keys}", "list each key once")
        object.__setattr__(self, "keys", keys)
