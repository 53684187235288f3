"""The root of every error upwell raises on purpose."""

from __future__ import annotations


class UpwellError(Exception):
    """Base class of upwell's errors: each says what is wrong, where, and how to fix it.

    Args:
        what: What is wrong.
        where: The definition, field, event or path it concerns.
        fix: How to fix it.
    """

    def __init__(self, what: str, *, where: str = "", fix: str = "") -> None:
        self.what = what
        self.where = where
        self.fix = fix
        parts = [f"{where}: {what}" if where else what]
        if fix:
            parts.append(f"Fix: {fix}")
        super().__init__(" ".join(parts))
