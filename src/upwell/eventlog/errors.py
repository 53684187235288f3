"""Errors raised by the event log."""

from __future__ import annotations

from upwell.errors import UpwellError


class QueryError(UpwellError):
    """A SQL query over the event log failed (bad SQL, unknown table or column)."""
