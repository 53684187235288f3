"""Errors raised by the engine."""

from __future__ import annotations

from upwell.errors import UpwellError


class RetentionError(UpwellError):
    """A read asks for events older than the online state keeps."""


class RequestFeatureError(UpwellError):
    """A request-time feature's function failed."""
