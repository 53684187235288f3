"""Errors raised for bad events."""

from __future__ import annotations

from upwell.errors import UpwellError


class EventError(UpwellError):
    """An event (or a batch of them) is malformed; nothing of the batch was stored."""
