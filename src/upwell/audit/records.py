"""What the audit stores: one record per prediction, one per label, and their Arrow schemas.

A prediction is stored as one row of :data:`PREDICTION_SCHEMA`. ``features`` and
``explanation`` are ``MAP(VARCHAR, DOUBLE)`` columns, which DuckDB reads with
``features['amount']``; ``entity`` holds mixed-type keys, so it is a JSON string
(``entity->>'$.customer_id'`` in DuckDB). ``ts`` is the request's event time as a UTC
``timestamp[ms]``; ``seq`` is the position the log gave the record (unique, increasing).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import pyarrow as pa

from upwell.audit.errors import AuditError

__all__ = [
    "LABEL_SCHEMA",
    "PREDICTION_SCHEMA",
    "Label",
    "PredictionRecord",
    "Route",
]

_UTC_MS = pa.timestamp("ms", tz="UTC")
_NUMBER_MAP = pa.map_(pa.string(), pa.float64())

PREDICTION_SCHEMA = pa.schema(
    [
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("version", pa.int64(), nullable=False),
        pa.field("ts", _UTC_MS, nullable=False),
        pa.field("entity", pa.string(), nullable=False),
        pa.field("features", _NUMBER_MAP, nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("decision", pa.string()),
        pa.field("latency_us", pa.float64(), nullable=False),
        pa.field("explanation", _NUMBER_MAP, nullable=False),
        pa.field("route", pa.string(), nullable=False),
        pa.field("shadow_version", pa.int64()),
        pa.field("shadow_score", pa.float64()),
    ]
)
"""Columns of the stored prediction log, in order (``features``/``explanation`` are maps)."""

LABEL_SCHEMA = pa.schema(
    [
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("key", pa.string(), nullable=False),
        pa.field("label", pa.float64(), nullable=False),
        pa.field("ts", _UTC_MS, nullable=False),
    ]
)
"""Columns of the stored labels: the join key, the label and when it became known."""


class Route(enum.StrEnum):
    """Which path of a deployment produced a prediction."""

    CHAMPION = "champion"
    CANARY = "canary"
    SHADOW = "shadow"


def _require(ok: bool, what: str, where: str, fix: str) -> None:
    if not ok:
        raise AuditError(what, where=where, fix=fix)


def _is_int(value: object) -> bool:
    return type(value) is int or (isinstance(value, int) and not isinstance(value, bool))


def _is_number(value: object) -> bool:
    kind = type(value)
    return kind is float or kind is int or isinstance(value, Real)


_ENTITY_TYPES = frozenset({str, int, float, bool, type(None)})
_PLAIN_NUMBERS = frozenset({float, int, type(None)})
_STR = frozenset({str})


def _is_mapping(value: object) -> bool:
    return type(value) is dict or isinstance(value, Mapping)


def _bad_number(values: Mapping[str, object]) -> str | None:
    """The first entry that is not a number or None, described; None if all are."""
    if not _is_mapping(values):
        return f"{values!r} is not a mapping"
    if _PLAIN_NUMBERS.issuperset(map(type, values.values())) and _STR.issuperset(map(type, values)):
        return None  # the common case, checked at C speed
    for name, value in values.items():
        if not (isinstance(name, str) and (value is None or isinstance(value, Real))):
            return f"{name!r} is {value!r}; values must be numbers (int, float, bool) or None"
    return None


def _is_entity(entity: object) -> bool:
    return (
        _is_mapping(entity)
        and _ENTITY_TYPES.issuperset(map(type, entity.values()))  # type: ignore[attr-defined]
        and _STR.issuperset(map(type, entity))  # type: ignore[call-overload]
    )


def _record_problem(rec: PredictionRecord) -> str | None:  # noqa: PLR0911 (one check a line)
    """What is wrong with a record, or None."""
    if not (type(rec.request_id) is str and rec.request_id):
        return "request_id must be a non-empty string"
    if not (type(rec.model) is str and rec.model):
        return "model must be a non-empty string"
    if not (_is_int(rec.version) and _is_int(rec.ts_ms)):
        return "version and ts_ms (epoch milliseconds) must be ints"
    if not (_is_number(rec.score) and math.isfinite(rec.score)):
        return f"score must be a finite number, got {rec.score!r}"
    if not (_is_number(rec.latency_us) and rec.latency_us >= 0):
        return f"latency_us must be a number >= 0, got {rec.latency_us!r}"
    if not (isinstance(rec.route, str) and rec.route):
        return "route must be a name"
    decision: object = rec.decision  # typed str | None, but callers may pass anything
    if not (decision is None or isinstance(decision, str)):
        return "decision must be a string or None"
    if not _is_entity(rec.entity):
        return "entity must map names to str, int, float, bool or None"
    bad = _bad_number(rec.features) or _bad_number(rec.explanation)
    if bad is not None:
        return f"features/explanation: {bad}"
    if not (rec.shadow_version is None or _is_int(rec.shadow_version)):
        return "shadow_version must be an int or None"
    if not (rec.shadow_score is None or _is_number(rec.shadow_score)):
        return "shadow_score must be a number or None"
    return None


@dataclass(frozen=True, kw_only=True, slots=True)
class PredictionRecord:
    """One prediction as the audit logs it.

    Args:
        request_id: Unique id of the request (the default label join key).
        model: Model name.
        version: Model version.
        ts_ms: Event time of the request, epoch milliseconds (UTC).
        score: The model's output.
        entity: Entity keys of the request, e.g. ``{"CUSTOMER_ID": 42}``.
        features: Model inputs by name (numbers; None or NaN when missing).
        decision: The decision taken on the score, if any.
        latency_us: Time spent scoring, microseconds.
        explanation: Per-input contributions, if the model gives them.
        route: The deployment path (:class:`Route` or another name).
        shadow_version: Version of a shadow model scored on the same request.
        shadow_score: The shadow model's output.

    Raises:
        AuditError: If a field has the wrong type or a score is not finite.

    >>> rec = PredictionRecord(request_id="r1", model="fraud", version=3, ts_ms=0, score=0.25)
    >>> rec.route == "champion"
    True
    """

    request_id: str
    model: str
    version: int
    ts_ms: int
    score: float
    entity: Mapping[str, Any] = field(default_factory=dict)
    features: Mapping[str, float | int | None] = field(default_factory=dict)
    decision: str | None = None
    latency_us: float = 0.0
    explanation: Mapping[str, float | None] = field(default_factory=dict)
    route: str = Route.CHAMPION
    shadow_version: int | None = None
    shadow_score: float | None = None

    def __post_init__(self) -> None:
        problem = _record_problem(self)
        if problem is not None:
            raise AuditError(
                problem,
                where=f"PredictionRecord(request_id={self.request_id!r})",
                fix="pass the documented types (see upwell.audit.PredictionRecord).",
            )


@dataclass(frozen=True, kw_only=True, slots=True)
class Label:
    """The true outcome of one prediction, known later.

    Args:
        key: The join key: a request id, or the value of an entity key (as a string).
        label: The outcome (1.0/0.0 for a classifier).
        ts_ms: When the label became known, epoch milliseconds; of several labels for one
            key the latest wins.

    Raises:
        AuditError: If a field has the wrong type or the label is not finite.
    """

    key: str
    label: float
    ts_ms: int

    def __post_init__(self) -> None:
        where = f"Label(key={self.key!r})"
        fix = "pass a string key, a finite number and epoch milliseconds."
        _require(isinstance(self.key, str) and bool(self.key), "key must be a string", where, fix)
        _require(
            _is_number(self.label) and math.isfinite(self.label),
            f"label must be a finite number, got {self.label!r}",
            where,
            fix,
        )
        _require(_is_int(self.ts_ms), "ts_ms must be an int (epoch milliseconds)", where, fix)
