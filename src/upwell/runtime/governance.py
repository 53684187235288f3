"""The feature store's audit, decisions, consent, erasure and lineage (a mixin).

:class:`~upwell.runtime.FeatureStore` inherits these methods; they delegate to
``upwell.serving`` (audit sink, decisions service, erasure, lineage).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from upwell.audit import AuditError, Monitor, open_monitor
from upwell.decisions.consent import ConsentRecord
from upwell.decisions.decision import Decision
from upwell.decisions.policy import Policy
from upwell.decisions.purpose import Purpose
from upwell.definitions.registry import Registry
from upwell.definitions.service import FeatureService
from upwell.eventlog.protocol import EventLog
from upwell.ingest.dead_letters import DeadLetterSink
from upwell.ingest.pusher import Pusher
from upwell.ingest.values import timestamp_ms
from upwell.runtime.clock import Clock
from upwell.runtime.kinds import Features
from upwell.serving.audit_sink import LabelFeed, ScoringAudit
from upwell.serving.decisions_service import DecisionService
from upwell.serving.decisions_setup import open_decisions
from upwell.serving.erasure import ErasureTarget, erase_subject
from upwell.serving.erasure_log import ErasureLog, ErasureRecord
from upwell.serving.lineage import feature_lineage, logged_prediction, prediction_lineage
from upwell.serving.model_service import ModelService
from upwell.serving.scoring import Prediction
from upwell.serving.subjects import find_entity, typed_key
from upwell.stores.memory import MemoryStore
from upwell.stores.redis import RedisStore
from upwell.training.batch_tables import BatchTables

_OPENING = threading.Lock()
"""Held while a store opens its decision state (once per store)."""


class Governance:
    """Audit, decisions, consent, erasure and lineage of a feature store."""

    # Set by FeatureStore.__init__; the mixin reads them.
    registry: Registry
    store: MemoryStore | RedisStore
    log: EventLog
    path: Path | None
    clock: Clock
    dead_letters: DeadLetterSink
    batch_tables: BatchTables
    audit: ScoringAudit | None
    _decisions: tuple[DecisionService, ErasureLog] | None
    _pusher: Pusher

    if TYPE_CHECKING:

        @property
        def models(self) -> ModelService:
            """The model registry and scorer."""
            ...

        def read_vectors(
            self, features: str, rows: Sequence[Mapping[str, Any]], as_of_ms: int | None
        ) -> tuple[tuple[str, ...], list[list[Any]]]:
            """A service's columns and each row's values."""
            ...

        def events(self, source: str) -> pa.Table:
            """Every logged event of a source."""
            ...

    # ---- audit --------------------------------------------------------------------

    def enable_audit(
        self, audit: Monitor | str | Path, *, labels: LabelFeed | None = None
    ) -> ScoringAudit:
        """Record every prediction :meth:`score` (or the HTTP server) makes in an audit.

        Args:
            audit: A :class:`~upwell.audit.Monitor`, or a folder for the embedded one
                (``open_monitor(folder)``: labels joined on the request id).
            labels: The event source carrying late labels: its accepted events become
                labels, and logged ones the label store lacks are stored now.

        Returns:
            The audit (``flush()``, ``evaluate()``, ``monitor`` for quality and drift);
            also :attr:`audit`. :meth:`close` closes it.

        Raises:
            AuditError: The audit is already on, or a label field is not in the source.
        """
        if self.audit is not None:
            msg = "the audit is already enabled"
            raise AuditError(msg, where="FeatureStore.enable_audit", fix="enable it once")
        feed = None if labels is None else labels.resolved(self._pusher.source(labels.source))
        monitor = audit if isinstance(audit, Monitor) else open_monitor(audit)
        self.audit = ScoringAudit(
            monitor, self.clock.now_ms, labels=feed, models=self.models.registry
        )
        self.models.add_sink(self.audit.record)
        if feed is not None:
            self.audit.catch_up_labels(self.events(feed.source))
            self._pusher.subscribe(feed.source, self.audit.on_labels)
        return self.audit

    # ---- decisions, consent, erasure, lineage ------------------------------------------

    @property
    def decisions(self) -> DecisionService:
        """Policies, consent and decision state, opened on first use.

        Embedded, they live under ``path/decisions`` (or in memory); with the online
        state in Redis, in that Redis, shared by every process of the project. Register
        policies with ``store.decisions.add(policy)``.
        """
        if self._decisions is None:
            with _OPENING:
                if self._decisions is None:
                    self._decisions = open_decisions(
                        self.registry, self.store, self.path, self.clock
                    )
        return self._decisions[0]

    def decide(
        self,
        policy: Policy | str,
        entity_row: Mapping[str, Any],
        request_id: str,
        *,
        as_of: Any = None,
    ) -> Decision:
        """Decide for an entity: the policy's features and scores, its rules, its state.

        The same request id returns the same decision (``replayed=True``); decisions for
        one entity made at once, here or in other processes sharing the state, never
        take conflicting actions.

        Args:
            policy: A policy, or the name of one registered in :attr:`decisions`.
            entity_row: The entity's key columns and the request fields.
            request_id: The idempotency key (e.g. the triggering event's id).
            as_of: The decision time (a UTC datetime); default now.

        Returns:
            The decision: actions, reasons, scores and model versions.
        """
        at = self.clock.now_ms() if as_of is None else timestamp_ms(as_of, "as_of")
        return self.decisions.decide(
            policy, entity_row, request_id, now_ms=at, read=self._policy_values, score=self._score
        )

    def _policy_values(self, service: str, row: Mapping[str, Any], at: int) -> dict[str, Any]:
        columns, values = self.read_vectors(service, [row], at)
        return dict(zip(columns, values[0], strict=True))

    def _score(self, model: str, row: Mapping[str, Any], at: int, rid: str) -> tuple[float, int]:
        prediction = self.models.score(model, row, as_of_ms=at, request_id=rid)
        assert isinstance(prediction, Prediction)  # noqa: S101 (one row gives one)
        return float(prediction.score), prediction.version

    def consent(self, entity: str, key: Any) -> ConsentRecord:
        """An entity's consent as stored now.

        Args:
            entity: The entity's name.
            key: Its key (a row with the key columns, the values, or one value).

        Returns:
            The consent record, per purpose.
        """
        return self.decisions.consent(entity, key)

    def set_consent(
        self,
        entity: str,
        key: Any,
        purpose: Purpose | str,
        *,
        granted: bool = True,
        at: Any = None,
        source: str = "",
    ) -> ConsentRecord:
        """Grant (or, with ``granted=False``, withdraw) consent; the next request obeys it.

        Args:
            entity: The entity's name.
            key: Its key.
            purpose: The purpose or its name.
            granted: Grant or withdraw.
            at: When it was given (a UTC datetime); default now. A later change wins.
            source: Where it was collected.

        Returns:
            The consent record after the change.
        """
        at_ms = self.clock.now_ms() if at is None else timestamp_ms(at, "at")
        return self.decisions.set_consent(
            entity, key, purpose, granted=granted, at_ms=at_ms, source=source
        )

    def _check_consent(self, features: Features, rows: Sequence[Mapping[str, Any]]) -> None:
        service = self.registry.services.get(features) if isinstance(features, str) else features
        if isinstance(service, FeatureService) and service.purposes:
            self.decisions.check_service(service, rows)

    def erase(self, entity: str, key: Any) -> ErasureRecord:
        """Erase an entity's data everywhere this store keeps it, and record the erasure.

        Removes its online state, its events (log, write-ahead file, dead letters), its
        batch rows, its predictions and their labels (with the audit on), its decision
        state, consent and logged decisions. Other entities' values are not changed.

        Args:
            entity: The entity's name (e.g. ``"customer"``).
            key: Its key.

        Returns:
            The erasure record (counts per store, a keyed digest instead of the key).
        """
        spec = find_entity(self.registry, entity)
        typed = typed_key(self.registry, spec, key)
        decisions = self.decisions
        assert self._decisions is not None  # noqa: S101 (opened just above)
        tables = self.batch_tables
        with self._pusher.lock:
            target = ErasureTarget(
                registry=self.registry,
                online=self.store,
                log=self.log,
                dead_letters=self.dead_letters,
                decisions=decisions,
                erasures=self._decisions[1],
                batch_directory=tables.directory,
                batch_memory=tables._memory if tables.directory is None else None,
                audit=self.audit,
            )
            return erase_subject(target, spec, typed, at_ms=self.clock.now_ms())

    def erasures(self, entity: str, key: Any) -> list[ErasureRecord]:
        """The erasures recorded for an entity (found by the keyed digest).

        Args:
            entity: The entity's name.
            key: Its key.

        Returns:
            The records, oldest first.
        """
        subject = self.decisions.subject(entity, key)
        assert self._decisions is not None  # noqa: S101 (opened by the line above)
        return self._decisions[1].find(subject)

    def lineage(
        self, feature: str, entity_row: Mapping[str, Any], *, as_of: Any = None
    ) -> dict[str, Any]:
        """Where a feature's value comes from: definitions, source and the events behind it.

        Args:
            feature: The qualified feature name (``view.feature``).
            entity_row: The entity's key columns (and request fields).
            as_of: The read time (a UTC datetime); default now.

        Returns:
            The definitions' fingerprint, the feature's group, source, window and
            filter, and the logged events of the entity it covers.
        """
        at = self.clock.now_ms() if as_of is None else timestamp_ms(as_of, "as_of")
        with self._pusher.lock:
            return feature_lineage(
                self.registry, feature, entity_row, at, self.log.read_source, self.batch_tables.read
            )

    def prediction_lineage(self, request_id: str, *, model: str | None = None) -> dict[str, Any]:
        """Where a logged prediction comes from: model version, definitions, features, events.

        Args:
            request_id: The prediction's request id.
            model: The model, where several scored the request.

        Returns:
            The prediction, its model version and the version's definitions fingerprint,
            and each input feature's lineage as of the prediction's time.

        Raises:
            AuditError: The audit is off.
        """
        if self.audit is None:
            msg = "the audit is off, so no prediction is logged"
            raise AuditError(msg, where="prediction_lineage", fix="call enable_audit() first")
        found = logged_prediction(self.audit.monitor.log, request_id, model)
        version = self.models.registry.get(found["model"], int(found["version"]))
        refs = self.registry.expand(version.features)
        with self._pusher.lock:
            return prediction_lineage(
                self.registry,
                found,
                version.to_json(),
                refs,
                self.log.read_source,
                self.batch_tables.read,
            )
