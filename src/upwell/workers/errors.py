"""Errors raised by workers."""

from __future__ import annotations

from upwell.errors import UpwellError


class WorkerError(UpwellError):
    """A worker cannot run with the given source, store or settings."""
