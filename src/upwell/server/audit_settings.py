"""The audit's settings: the ``[audit]`` table of ``upwell.toml``.

::

    [audit]
    enabled = true                  # record every prediction (default true)
    directory = "audit"             # the audit folder, relative to the data directory
    # postgres = "postgresql://..." # predictions and labels in PostgreSQL instead
    capacity = 10000                # prediction buffer: the most a crash can lose
    fsync = "never"                 # "never", "every_second" or "always" (the log's WAL)
    label_source = "fraud_labels"   # the event source carrying late labels...
    label_key = "TRANSACTION_ID"    # ...its field holding the join key...
    label_field = "TX_FRAUD"        # ...and the one holding the label
    join_on = "request_id"          # match label keys with the request id, or an entity key
    card_key = "CUSTOMER_ID"        # entity key for card precision@k
    k = 100
    label_delay = "7d"              # live quality ends this long before now
    quality_window = "7d"
    drift_window = "1d"
    evaluate_interval_s = 60        # how often alert rules are evaluated
    # webhook_url = "https://hooks.example.com/upwell"

    [[audit.rules]]
    name = "amount-drift"
    metric = "psi"                  # see upwell.audit.Metric
    column = "TX_AMOUNT"
    fire_at = 0.25
    clear_at = 0.1                  # hysteresis: clears only below this
    min_samples = 100
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from upwell.audit import (
    REQUEST_ID,
    AlertRule,
    AuditError,
    Direction,
    Metric,
    MonitorConfig,
    SyncPolicy,
)
from upwell.config import ConfigError
from upwell.definitions.durations import to_ms
from upwell.definitions.errors import DefinitionError
from upwell.serving.audit_sink import LabelFeed

_KEYS = {
    "enabled", "directory", "postgres", "capacity", "fsync", "label_source", "label_key",
    "label_field", "join_on", "card_key", "k", "label_delay", "quality_window",
    "drift_window", "evaluate_interval_s", "webhook_url", "rules",
}  # fmt: skip
_RULE_KEYS = {
    "name", "metric", "fire_at", "clear_at", "direction", "column", "model", "min_samples",
}  # fmt: skip
_LABEL_KEYS = ("label_source", "label_key", "label_field")


@dataclass(frozen=True, kw_only=True)
class AuditSettings:
    """Validated audit settings.

    Args:
        enabled: Whether predictions are recorded.
        directory: The audit folder; None: ``<data>/audit``.
        postgres: A PostgreSQL connection string for predictions and labels.
        capacity: The prediction buffer's size.
        fsync: When the prediction log's write-ahead file is synced.
        labels: Where late labels come from; None: no labels.
        monitor: Windows, join key and card key of live statistics.
        rules: Alert rules.
        evaluate_interval_s: How often the rules are evaluated.
        webhook_url: Where alert events are POSTed.
    """

    enabled: bool = True
    directory: Path | None = None
    postgres: str | None = None
    capacity: int = 10_000
    fsync: SyncPolicy = SyncPolicy.NEVER
    labels: LabelFeed | None = None
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    rules: tuple[AlertRule, ...] = ()
    evaluate_interval_s: float = 60.0
    webhook_url: str | None = None


def load_audit_settings(
    table: Mapping[str, Any], data: Path, where: str = "upwell.toml [audit]"
) -> AuditSettings:
    """Validate the ``[audit]`` table.

    Args:
        table: The raw table.
        data: The data directory (a relative ``directory`` is relative to it).
        where: The table's location, for errors.

    Returns:
        The settings.

    Raises:
        ConfigError: An unknown key, a value of the wrong type, or an invalid rule.
    """
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        msg = f"has unknown keys {unknown}"
        raise ConfigError(msg, where=where, fix=f"use only {sorted(_KEYS)}")
    get = _Reader(table, where)
    directory = get.text("directory")
    try:
        fsync = SyncPolicy(get.text("fsync") or SyncPolicy.NEVER.value)
    except ValueError:
        msg = f"fsync={table.get('fsync')!r} is not a sync policy"
        fix = f"use one of {[p.value for p in SyncPolicy]}"
        raise ConfigError(msg, where=f"{where} fsync", fix=fix) from None
    try:
        monitor = MonitorConfig(
            drift_window_ms=get.duration("drift_window", "1d"),
            quality_window_ms=get.duration("quality_window", "7d"),
            label_delay_ms=get.duration("label_delay", "0s"),
            label_key=get.text("join_on") or REQUEST_ID,
            card_key=get.text("card_key"),
            k=get.number("k", 100, int),
        )
    except AuditError as error:
        raise ConfigError(error.what, where=where, fix=error.fix) from None
    return AuditSettings(
        enabled=get.flag("enabled", default=True),
        directory=None if directory is None else data / directory,
        postgres=get.text("postgres"),
        capacity=get.number("capacity", 10_000, int),
        fsync=fsync,
        labels=_labels(table, get, where),
        monitor=monitor,
        rules=_rules(table.get("rules", []), where),
        evaluate_interval_s=float(get.number("evaluate_interval_s", 60.0, float)),
        webhook_url=get.text("webhook_url"),
    )


class _Reader:
    """Typed reads of one table, with errors naming the key."""

    def __init__(self, table: Mapping[str, Any], where: str) -> None:
        self.table = table
        self.where = where

    def text(self, key: str) -> str | None:
        value = self.table.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            msg = f"must be a non-empty string, got {value!r}"
            raise ConfigError(msg, where=f"{self.where} {key}", fix=f'write {key} = "..."')
        return value.strip()

    def flag(self, key: str, *, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            msg = f"must be true or false, got {value!r}"
            raise ConfigError(msg, where=f"{self.where} {key}", fix=f"write {key} = true")
        return value

    def number(self, key: str, default: float, kind: type[int] | type[float]) -> Any:
        value = self.table.get(key, default)
        allowed = (int,) if kind is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, allowed) or value <= 0:
            msg = f"must be a positive {kind.__name__}, got {value!r}"
            raise ConfigError(msg, where=f"{self.where} {key}", fix=f"write {key} = {default!r}")
        return value

    def duration(self, key: str, default: str) -> int:
        value = self.table.get(key, default)
        try:
            ms = to_ms(value, definition="", field="")
        except DefinitionError:
            ms = -1
        if isinstance(value, int) or ms < 0:
            msg = f"must be a duration such as {default!r}, got {value!r}"
            raise ConfigError(msg, where=f"{self.where} {key}", fix=f'write {key} = "{default}"')
        return ms


def _labels(table: Mapping[str, Any], get: _Reader, where: str) -> LabelFeed | None:
    given = {k: get.text(k) for k in _LABEL_KEYS}
    if not any(given.values()):
        return None
    missing = [k for k, v in given.items() if v is None]
    if missing:
        msg = f"label settings need all of {list(_LABEL_KEYS)}; missing {missing}"
        raise ConfigError(msg, where=where, fix="name the label source, its key and its label")
    return LabelFeed(
        source=str(given["label_source"]),
        key=str(given["label_key"]),
        field=str(given["label_field"]),
    )


def _rules(raw: Any, where: str) -> tuple[AlertRule, ...]:
    if not isinstance(raw, list):
        msg = "rules must be an array of tables"
        raise ConfigError(msg, where=where, fix="write each rule as [[audit.rules]]")
    rules = tuple(_rule(entry, f"{where} rules[{i}]") for i, entry in enumerate(raw))
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        msg = f"rule names repeat: {names}"
        raise ConfigError(msg, where=where, fix="give each rule its own name")
    return rules


def _rule(entry: Any, where: str) -> AlertRule:
    if not isinstance(entry, dict):
        msg = "is not a table"
        raise ConfigError(msg, where=where, fix="write it as [[audit.rules]]")
    unknown = sorted(set(entry) - _RULE_KEYS)
    if unknown:
        msg = f"has unknown keys {unknown}"
        raise ConfigError(msg, where=where, fix=f"use only {sorted(_RULE_KEYS)}")
    get = _Reader(entry, where)
    try:
        metric = Metric(str(entry.get("metric")))
        direction = Direction(entry.get("direction", Direction.ABOVE.value))
    except ValueError:
        msg = f"metric {entry.get('metric')!r} or direction {entry.get('direction')!r} is unknown"
        fix = f"metric: one of {[m.value for m in Metric]}; direction: above or below"
        raise ConfigError(msg, where=where, fix=fix) from None
    raw = [entry.get("fire_at"), entry.get("clear_at")]
    thresholds = [float(t) for t in raw if isinstance(t, int | float) and not isinstance(t, bool)]
    if len(thresholds) != len(raw):
        msg = f"fire_at and clear_at must be numbers, got {raw}"
        raise ConfigError(msg, where=where, fix="write fire_at = 0.25 and clear_at = 0.1")
    try:
        return AlertRule(
            name=get.text("name") or "",
            metric=metric,
            fire_at=thresholds[0],
            clear_at=thresholds[1],
            direction=direction,
            column=get.text("column"),
            model=get.text("model"),
            min_samples=int(entry.get("min_samples", 0)),
        )
    except (AuditError, TypeError, ValueError) as error:
        raise ConfigError(str(error), where=where, fix="see docs/audit.md for rules") from None
