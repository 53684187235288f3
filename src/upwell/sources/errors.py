"""Errors raised by broker sources."""

from __future__ import annotations

from upwell.errors import UpwellError


class SourceAddressError(UpwellError):
    """A broker URL is malformed, names an unknown broker or carries unknown options."""


class BrokerError(UpwellError):
    """A broker refused a request or could not be reached."""
