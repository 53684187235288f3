"""Purposes of processing, and the legal basis each one rests on.

A :class:`Purpose` says why an entity's data is used (personalisation, marketing,
fraud prevention, ...). Only purposes whose basis is :attr:`LegalBasis.CONSENT` need
the entity's recorded consent; the others (fraud prevention rests on the bank's
legitimate interest) are allowed without it.

>>> Purpose.MARKETING.needs_consent
True
>>> Purpose.FRAUD_PREVENTION.needs_consent
False
>>> Purpose(name="credit_scoring").name
'credit_scoring'
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar

from upwell.definitions.errors import DefinitionError
from upwell.definitions.names import check_name


class LegalBasis(enum.Enum):
    """Why processing for a purpose is lawful (the bases of GDPR article 6)."""

    CONSENT = "consent"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    LEGITIMATE_INTEREST = "legitimate_interest"


@dataclass(frozen=True, kw_only=True)
class Purpose:
    """A purpose of processing, such as marketing.

    The common purposes are class attributes: ``Purpose.PERSONALISATION``,
    ``Purpose.MARKETING`` (both need consent) and ``Purpose.FRAUD_PREVENTION``
    (legitimate interest). Define others with ``Purpose(name=...)``.

    Args:
        name: The purpose's name; consent is recorded under it.
        basis: The legal basis; only ``LegalBasis.CONSENT`` needs recorded consent.
        description: Free text for humans.

    Raises:
        DefinitionError: The name is not an identifier or the basis is not a LegalBasis.
    """

    name: str
    basis: LegalBasis = LegalBasis.CONSENT
    description: str = ""

    PERSONALISATION: ClassVar[Purpose]
    MARKETING: ClassVar[Purpose]
    FRAUD_PREVENTION: ClassVar[Purpose]

    def __post_init__(self) -> None:
        where = f"Purpose {self.name!r}"
        check_name(self.name, definition=where)
        if not isinstance(self.basis, LegalBasis):
            raise DefinitionError(
                where,
                "basis",
                f"{self.basis!r} is not a legal basis",
                f"use one of {[f'LegalBasis.{b.name}' for b in LegalBasis]}",
            )

    @property
    def needs_consent(self) -> bool:
        """Whether the entity's recorded consent is needed."""
        return self.basis is LegalBasis.CONSENT


Purpose.PERSONALISATION = Purpose(
    name="personalisation", description="Tailoring content and service to the person."
)
Purpose.MARKETING = Purpose(name="marketing", description="Offers of products and services.")
Purpose.FRAUD_PREVENTION = Purpose(
    name="fraud_prevention",
    basis=LegalBasis.LEGITIMATE_INTEREST,
    description="Detecting and preventing fraud.",
)
