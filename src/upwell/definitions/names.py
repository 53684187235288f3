"""Rules for the names of definitions and features."""

from __future__ import annotations

import re

from upwell.definitions.errors import DefinitionError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_name(name: object, *, definition: str, field: str = "name") -> str:
    """Check that a name is a Python-style identifier.

    Args:
        name: The candidate name.
        definition: Which definition the name belongs to.
        field: The field that holds it.

    Returns:
        The name.

    Raises:
        DefinitionError: It is not a non-empty identifier.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise DefinitionError(
            definition,
            field,
            f"{name!r} is not a valid name",
            "use letters, digits and underscores, starting with a letter or underscore",
        )
    return name
