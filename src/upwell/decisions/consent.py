"""Consent: which purposes each entity agreed to, and the contract of consent stores.

Consent is recorded per entity and purpose as the latest change (granted or
withdrawn, with its time). A purpose whose legal basis is not consent is always
allowed. An entity with nothing recorded for a consent-based purpose has not given
it (opt-in). Stores are read once per request, so a change applies from the next
request on.

>>> record = ConsentRecord("42", {"marketing": ConsentChange("marketing", GRANTED, 1_000)})
>>> record.allows(Purpose.MARKETING), record.allows(Purpose.PERSONALISATION)
(True, False)
>>> [p.name for p in record.missing((Purpose.MARKETING, Purpose.PERSONALISATION))]
['personalisation']
"""

from __future__ import annotations

import enum
import functools
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from upwell.decisions.errors import ConsentError, DecisionError
from upwell.decisions.purpose import Purpose


class ConsentStatus(enum.Enum):
    """Whether an entity has consent for a purpose."""

    GRANTED = "granted"
    WITHDRAWN = "withdrawn"


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
GRANTED = ConsentStatus.GRANTED
WITHDRAWN = ConsentStatus.WITHDRAWN


@dataclass(frozen=True)
class ConsentChange:
    """A grant or withdrawal of consent for one purpose.

    Args:
        purpose: The purpose's name.
        status: Granted or withdrawn.
        at_ms: When the entity gave or withdrew it (epoch ms).
        source: Where it was collected (e.g. ``"app-settings"``), for the record.
    """

    purpose: str
    status: ConsentStatus
    at_ms: int
    source: str = ""


def check_change(entity_key: str, change: ConsentChange) -> ConsentChange:
    """Check a change before it is stored.

    Args:
        entity_key: The entity.
        change: The change.

    Returns:
        The change.

    Raises:
        DecisionError: The entity key is empty, the purpose is not a name, the status is
            not a ConsentStatus or the time is not an int.
    """
    problems = [
        (not isinstance(entity_key, str) or not entity_key, "entity_key", "a non-empty string"),
        (not _NAME.fullmatch(str(change.purpose)), "purpose", "a purpose name, e.g. marketing"),
        (not isinstance(change.status, ConsentStatus), "status", "ConsentStatus.GRANTED/WITHDRAWN"),
        (isinstance(change.at_ms, bool) or not isinstance(change.at_ms, int), "at_ms", "epoch ms"),
    ]
    for bad, name, expected in problems:
        if bad:
            value = entity_key if name == "entity_key" else getattr(change, name)
            msg = f"{name}={value!r} is not {expected}"
            raise DecisionError(msg, where=f"consent.{name}", fix=f"pass {expected}")
    return change


def latest(current: ConsentChange | None, change: ConsentChange) -> ConsentChange:
    """The change that stands: the later one, or the new one on a tie.

    Args:
        current: The stored change, if any.
        change: The change being recorded.

    Returns:
        The change to keep.

    >>> old, new = ConsentChange("m", GRANTED, 5), ConsentChange("m", WITHDRAWN, 3)
    >>> latest(old, new) is old
    True
    """
    if current is not None and current.at_ms > change.at_ms:
        return current
    return change


@dataclass(frozen=True)
class ConsentRecord:
    """An entity's consent, purpose by purpose.

    Args:
        entity_key: The entity.
        changes: Purpose name to the change that stands.
    """

    entity_key: str
    changes: Mapping[str, ConsentChange] = field(default_factory=dict)

    def allows(self, purpose: Purpose) -> bool:
        """Whether processing for the purpose is allowed.

        Args:
            purpose: The purpose.

        Returns:
            True if it needs no consent or consent is granted.
        """
        if not purpose.needs_consent:
            return True
        change = self.changes.get(purpose.name)
        return change is not None and change.status is ConsentStatus.GRANTED

    def missing(self, purposes: Iterable[Purpose]) -> tuple[Purpose, ...]:
        """The purposes not allowed.

        Args:
            purposes: The purposes needed.

        Returns:
            Those without consent, in the given order.
        """
        return tuple(p for p in purposes if not self.allows(p))

    def explain(self, purpose: Purpose) -> str:
        """Why a purpose is allowed or not, for a decision's reasons.

        Args:
            purpose: The purpose.

        Returns:
            A short sentence.
        """
        if not purpose.needs_consent:
            return f"{purpose.name} rests on {purpose.basis.value}, no consent needed"
        change = self.changes.get(purpose.name)
        if change is None:
            return f"no consent recorded for {purpose.name}"
        return f"{purpose.name} {change.status.value} at {format_ms(change.at_ms)}"


@dataclass(frozen=True)
class Erasure:
    """The tombstone an erasure leaves: when, and how much, without the personal data.

    Args:
        erasure_id: A random identifier of the erasure.
        at_ms: When it was done (epoch ms).
        subject_digest: A keyed hash of the entity key (see :func:`subject_digest`).
        consent_records: How many consent records (one per purpose) were removed.
    """

    erasure_id: str
    at_ms: int
    subject_digest: str
    consent_records: int = 0


def subject_digest(entity_key: str, salt: bytes) -> str:
    """A keyed hash of an entity key, to find an entity's tombstones again.

    With a secret salt, the digest cannot be turned back into the key by trying keys.

    Args:
        entity_key: The entity.
        salt: The store's secret salt (may be empty).

    Returns:
        Hex HMAC-SHA256.
    """
    return hmac.new(salt, entity_key.encode(), hashlib.sha256).hexdigest()


def require(record: ConsentRecord, purposes: Iterable[Purpose], *, where: str) -> None:
    """Refuse unless the entity allows every purpose.

    Args:
        record: The entity's consent, read for this request.
        purposes: The purposes needed.
        where: The policy, action or feature service that needs them.

    Raises:
        ConsentError: Some purposes lack consent; ``missing`` names them.
    """
    missing = record.missing(purposes)
    if missing:
        names = tuple(p.name for p in missing)
        msg = f"entity {record.entity_key!r} has not given consent for {', '.join(names)}"
        raise ConsentError(
            msg,
            where=where,
            fix="record the entity's consent (grant) before this request, or stop using "
            "the data for that purpose",
            missing=names,
        )


@functools.lru_cache(maxsize=4_096)
def format_ms(ms: int) -> str:
    """An epoch-ms time as an ISO-8601 UTC string.

    Args:
        ms: Epoch milliseconds.

    Returns:
        e.g. ``2024-05-01T12:00:00.000Z``.

    >>> format_ms(0)
    '1970-01-01T00:00:00.000Z'
    """
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class ConsentStore(Protocol):
    """Where consent is kept, per entity. Implementations are thread-safe.

    Contract: :meth:`record` keeps, per purpose, the change with the latest ``at_ms``
    (the newer write on a tie); :meth:`get` returns what is stored now; :meth:`erase`
    removes every change of the entity and keeps only an :class:`Erasure` tombstone.
    """

    def record(self, entity_key: str, change: ConsentChange) -> ConsentRecord:
        """Record a grant or withdrawal; returns the entity's consent after it."""
        ...

    def get(self, entity_key: str) -> ConsentRecord:
        """The entity's consent now (empty if nothing is recorded)."""
        ...

    def erase(self, entity_key: str, *, at_ms: int) -> Erasure:
        """Remove the entity's consent records; returns the tombstone left."""
        ...

    def erasures(self, entity_key: str) -> tuple[Erasure, ...]:
        """The tombstones of the entity's erasures, oldest first."""
        ...

    def close(self) -> None:
        """Release files or connections."""
        ...


def grant(
    store: ConsentStore, entity_key: str, purpose: Purpose | str, *, at_ms: int, source: str = ""
) -> ConsentRecord:
    """Record that an entity grants consent for a purpose.

    Args:
        store: The consent store.
        entity_key: The entity.
        purpose: The purpose or its name.
        at_ms: When consent was given.
        source: Where it was collected.

    Returns:
        The entity's consent after the change.
    """
    name = purpose.name if isinstance(purpose, Purpose) else purpose
    return store.record(entity_key, ConsentChange(name, GRANTED, at_ms, source))


def withdraw(
    store: ConsentStore, entity_key: str, purpose: Purpose | str, *, at_ms: int, source: str = ""
) -> ConsentRecord:
    """Record that an entity withdraws consent for a purpose.

    Args:
        store: The consent store.
        entity_key: The entity.
        purpose: The purpose or its name.
        at_ms: When consent was withdrawn.
        source: Where the withdrawal came from.

    Returns:
        The entity's consent after the change.
    """
    name = purpose.name if isinstance(purpose, Purpose) else purpose
    return store.record(entity_key, ConsentChange(name, WITHDRAWN, at_ms, source))
