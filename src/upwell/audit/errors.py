"""Errors raised by the audit package."""

from __future__ import annotations

from upwell.errors import UpwellError


class AuditError(UpwellError, ValueError):
    """Bad input to the audit API: a malformed record, label, rule or argument."""


class AuditQueryError(UpwellError):
    """A SQL query over the prediction log, the labels or the alert log failed."""


class AuditClosedError(UpwellError, RuntimeError):
    """A prediction log or label store was used after ``close()`` or opened read-only."""
