"""Errors raised while serving features."""

from __future__ import annotations

from upwell.errors import UpwellError


class RequestError(UpwellError):
    """A feature request is malformed (missing entity key or request field)."""
