"""Errors raised by the decision engine, its state stores and its consent stores."""

from __future__ import annotations

from upwell.errors import UpwellError


class DecisionError(UpwellError):
    """Base class of the decision engine's errors."""


class DecisionInputError(DecisionError):
    """A decision's inputs lack a value or a model score that its policy reads."""


class ConsentError(DecisionError):
    """An entity has not given consent for a purpose that a policy or feature needs.

    Args:
        what: What is missing.
        where: The policy, action or feature service that needs the consent.
        fix: How to fix it.
        missing: The names of the purposes without consent.
    """

    def __init__(
        self, what: str, *, where: str = "", fix: str = "", missing: tuple[str, ...] = ()
    ) -> None:
        self.missing = missing
        super().__init__(what, where=where, fix=fix)


class DecisionConflictError(DecisionError):
    """A decision lost the compare-and-set race more often than the engine retries."""


class DecisionStateError(DecisionError):
    """A decision or consent store cannot be opened or read (locked, corrupt, misnamed)."""
