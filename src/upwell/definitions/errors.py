"""Errors raised while constructing or validating definitions."""

from __future__ import annotations

from upwell.errors import UpwellError


class DefinitionError(UpwellError):
    """A definition (entity, source, feature view, ...) is invalid.

    The message names the definition, the field, what is wrong and the fix.
    """

    def __init__(self, definition: str, field: str, what: str, fix: str) -> None:
        self.definition = definition
        self.field = field
        super().__init__(what, where=f"{definition}.{field}" if field else definition, fix=fix)
