"""The composition root: :class:`FeatureStore` wires definitions, stores, log and paths.

This is the only package (with ``config`` and the CLI) that reads the clock, the
environment or decides on paths; everything it composes receives them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from upwell.config import OnlineConfig
from upwell.definitions.batch import BatchFeatures
from upwell.definitions.registry import Definition, Registry, validate
from upwell.definitions.service import FeatureService
from upwell.definitions.source import EventSource
from upwell.eventlog.memory import MemoryEventLog
from upwell.eventlog.parquet import ParquetEventLog
from upwell.eventlog.protocol import EventLog, Fsync
from upwell.eventlog.sql import query_events
from upwell.ingest import backfill as backfill_module
from upwell.ingest.columnar_batch import to_table, validate_columns
from upwell.ingest.dead_letters import DeadLetterSink, FileDeadLetters, MemoryDeadLetters
from upwell.ingest.pusher import Pusher, PushResult
from upwell.ingest.values import timestamp_ms
from upwell.runtime.clock import Clock, SystemClock
from upwell.runtime.governance import Governance
from upwell.runtime.kinds import Features, Output
from upwell.runtime.wiring import fsync_level, online_store
from upwell.serving.audit_sink import ScoringAudit
from upwell.serving.decisions_service import DecisionService
from upwell.serving.erasure_log import ErasureLog
from upwell.serving.feature_plan import FeatureRequestPlan, plan_request
from upwell.serving.model_service import ModelService
from upwell.serving.online import read_online
from upwell.serving.scoring import Prediction
from upwell.stores.directory_lock import DirectoryLock
from upwell.stores.memory import MemoryStore
from upwell.stores.redis import RedisStore
from upwell.training import batch_tables, frames
from upwell.training.builder import AnchorFrame, build


class FeatureStore(Governance):
    """Definitions, an online store and an event log, embedded in this process.

    With ``path`` everything is durable under that directory (event log, state
    snapshots, dead letters, batch tables) and reopening it restores the state; without
    it everything lives in memory.

    Args:
        definitions: Entities, sources, feature views, batch and request features, services.
        path: Directory for durable state, or None for in-memory.
        fsync: When acknowledged events are forced to stable storage.
        clock: Where "now" comes from.
        max_batch_events: The largest push accepted.
        models_path: The model registry's directory; default ``path/models``.
        online: Where the online state lives: None keeps it in this process (on disk
            under ``path``); a Redis URL (``redis://host:6379/0``) or an
            :class:`~upwell.config.OnlineConfig` shares it with other processes.
    """

    def __init__(
        self,
        definitions: Iterable[Definition],
        *,
        path: str | Path | None = None,
        fsync: Fsync | str = Fsync.NEVER,
        clock: Clock | None = None,
        max_batch_events: int = 1_000_000,
        models_path: str | Path | None = None,
        online: str | OnlineConfig | None = None,
    ) -> None:
        self.registry: Registry = validate(definitions)
        self.clock = clock or SystemClock()
        self.path = Path(path) if path is not None else None
        self._lock: DirectoryLock | None = None
        self.log: EventLog
        self.dead_letters: DeadLetterSink
        if self.path is None:
            self.log = MemoryEventLog()
            self.dead_letters = MemoryDeadLetters()
        else:
            self._lock = DirectoryLock(self.path)
            self.log = ParquetEventLog(self.path / "log", self.registry.sources, fsync_level(fsync))
            self.dead_letters = FileDeadLetters(self.path / "dead_letters.jsonl")
        self.store: MemoryStore | RedisStore = online_store(self.registry, online, self.path)
        self.batch_tables = batch_tables.BatchTables(self.path / "batch" if self.path else None)
        self._resolved: dict[
            object, tuple[tuple[str, ...], tuple[str, ...], FeatureRequestPlan]
        ] = {}
        self._models: ModelService | None = None
        self._models_path = Path(models_path) if models_path is not None else None
        self._models_tmp: tempfile.TemporaryDirectory[str] | None = None
        self.audit: ScoringAudit | None = None
        self._decisions: tuple[DecisionService, ErasureLog] | None = None
        self._pusher = Pusher(
            self.registry, self.store, self.log, self.dead_letters, max_batch_events
        )
        self._recover()

    def _recover(self) -> None:
        # Redis takes the replay in batches (one round trip each); it skips what it holds.
        batch: list[tuple[str, Any, int, int, Any]] = []
        for source, seq, row in self.log.replay(self.store.applied_seq()):
            spec = self.registry.sources.get(source)
            if spec is None:
                continue
            event_id = row[spec.event_id] if spec.event_id else None
            if not isinstance(self.store, RedisStore):
                self.store.apply(source, row, row[spec.timestamp], seq, event_id)
                continue
            batch.append((source, row, row[spec.timestamp], seq, event_id))
            if len(batch) == 1_000:
                self.store.apply_many(batch)
                batch = []
        if batch and isinstance(self.store, RedisStore):
            self.store.apply_many(batch)
        # Reloading every batch table is idempotent (a row replaces the row with the same
        # key and valid_from) and covers a crash between a table's write and the snapshot.
        for group in self.registry.batches.values():
            table = self.batch_tables.read(group)
            if table is not None:
                batch_tables.load_into(self.store, group, table)

    # ---- ingest -------------------------------------------------------------------

    def push(self, source: str, events: Any) -> PushResult:
        """Push events: validated, logged durably, then folded into the online state.

        Args:
            source: The source's name.
            events: A dict, a list of dicts, a pandas or Polars DataFrame or an Arrow table.

        Returns:
            How many events were accepted, duplicates, or late (sent to dead letters).
        """
        return self._pusher.push(source, events)

    def backfill(self, source: str, data: Any) -> PushResult:
        """Load history through the columnar path (far faster than pushing one by one).

        Args:
            source: The source's name.
            data: A DataFrame, Arrow table or Parquet path with the source's columns.

        Returns:
            Counts, as for :meth:`push`.
        """
        spec = self._pusher.source(source)
        with self._pusher.lock:
            if isinstance(self.store, RedisStore):
                result = self._backfill_shared(spec, data)
            else:
                result = backfill_module.backfill(
                    self.store.engine, self.log, self.dead_letters, spec, data
                )
            self.store.checkpoint()
        return result

    def _backfill_shared(self, spec: EventSource, data: Any) -> PushResult:
        """Backfill into Redis: the columnar path on the touched entities, then one write."""
        assert isinstance(self.store, RedisStore)  # noqa: S101 (the caller checked)
        table = to_table(data)
        columns = validate_columns(table, spec.schema, f"backfill {spec.name!r}")
        shared = self.store.prepare_backfill(spec.name, columns, self.log.last_seq() + 1)
        result = backfill_module.backfill(shared.engine, self.log, self.dead_letters, spec, table)
        shared.commit()
        return result

    def load_batch(self, group: str, data: Any) -> int:
        """Load rows of a batch feature group (keys, ``valid_from``, feature columns).

        Args:
            group: The BatchFeatures name.
            data: A DataFrame, Arrow table or Parquet path.

        Returns:
            How many rows were loaded.
        """
        spec = self.registry.groups.get(group)
        if not isinstance(spec, BatchFeatures):
            raise batch_tables.unknown_group(group, self.registry)
        table = batch_tables.validate(spec, data)
        with self._pusher.lock:
            self.batch_tables.append(spec, table)
            batch_tables.load_into(self.store, spec, table)
            self.store.checkpoint()
        return int(table.num_rows)

    # ---- online -------------------------------------------------------------------

    def get_features(
        self,
        features: Features,
        entity_rows: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        as_of: Any = None,
        output: Output = "dicts",
    ) -> Any:
        """Read online feature values for entity rows.

        Args:
            features: A FeatureService, its name, or qualified feature names.
            entity_rows: A row or rows with the entities' keys and any request fields.
            as_of: A UTC datetime to read as of (replay); default now.
            output: "dicts" (a dict for one row, else a list), "pandas", "polars", "arrow".

        Returns:
            Feature values.
        """
        _refs, columns, plan = self._resolve(features)
        single = isinstance(entity_rows, Mapping)
        rows = [entity_rows] if isinstance(entity_rows, Mapping) else list(entity_rows)
        self._check_consent(features, rows)
        at = self.clock.now_ms() if as_of is None else timestamp_ms(as_of, "as_of")
        with self._pusher.lock:  # a read never sees an event half applied
            values = read_online(self.registry, self.store, plan, rows, at)
        renamed = [dict(zip(columns, v, strict=True)) for v in values]
        if output == "dicts":
            return renamed[0] if single else renamed
        return frames.from_rows(renamed, columns, output)

    def read_vectors(
        self, features: str, rows: Sequence[Mapping[str, Any]], as_of_ms: int | None
    ) -> tuple[tuple[str, ...], list[list[Any]]]:
        """A service's output columns and each row's values in that order (for scoring).

        Args:
            features: A FeatureService's name.
            rows: Entity rows with keys and request fields.
            as_of_ms: Read time in epoch ms; default now.

        Returns:
            The columns and one list of values per row.
        """
        _refs, columns, plan = self._resolve(features)
        self._check_consent(features, rows)
        at = self.clock.now_ms() if as_of_ms is None else as_of_ms
        with self._pusher.lock:
            return columns, read_online(self.registry, self.store, plan, rows, at)

    def entity_keys(self, features: str) -> tuple[str, ...]:
        """The entity key fields the rows of a feature list carry.

        Args:
            features: A FeatureService's name or qualified feature names.

        Returns:
            The key field names, in order.
        """
        return self._resolve(features)[2].entity_keys

    def watermarks(self) -> dict[str, int | None]:
        """Each source's newest admitted event time (epoch ms), None before its first."""
        if isinstance(self.store, RedisStore):
            return self.store.watermarks()
        return {name: a.watermark for name, a in self.store.engine.admission.items()}

    # ---- models -------------------------------------------------------------------

    @property
    def models(self) -> ModelService:
        """The model registry and scorer (under ``path/models``, or a temporary directory)."""
        if self._models is None:
            if self._models_path is not None:
                root = self._models_path
            elif self.path is not None:
                root = self.path / "models"
            else:
                self._models_tmp = tempfile.TemporaryDirectory(prefix="upwell-models-")
                root = Path(self._models_tmp.name)
            self._models = ModelService(root, self.registry, self, self.clock.now_ms)
        return self._models

    def score(
        self,
        model: str,
        entity_rows: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        as_of: Any = None,
        request_id: str | Sequence[str] | None = None,
        explain: bool = False,
    ) -> Prediction | list[Prediction]:
        """Features and the served model's score for entity rows.

        Args:
            model: The model's name (its ``champion`` answers; see :attr:`models`).
            entity_rows: A row (returns one prediction) or rows (returns a list).
            as_of: A UTC datetime to read features as of; default now.
            request_id: Request id(s); generated where not given.
            explain: Also return per-feature contributions where the model supports it.

        Returns:
            Prediction(s) with score, version, features and timings.
        """
        at = None if as_of is None else timestamp_ms(as_of, "as_of")
        return self.models.score(
            model, entity_rows, as_of_ms=at, request_id=request_id, explain=explain
        )

    # ---- offline ------------------------------------------------------------------

    def training_set(
        self,
        features: Features,
        entity_df: Any,
        *,
        timestamp_column: str = "timestamp",
        output: Output = "pandas",
    ) -> Any:
        """Point-in-time features for each row of ``entity_df`` as of its timestamp.

        Each row gets exactly what an online read as of its time returns (every event
        with time at or before it counts), computed from the event log.

        Args:
            features: A FeatureService, its name, or qualified feature names.
            entity_df: Rows with entity keys, a UTC timestamp column and request fields.
            timestamp_column: The column holding each row's time.
            output: "pandas", "polars" or "arrow".

        Returns:
            The entity rows with one column per feature.
        """
        refs = self.registry.expand(features)
        table, columns = frames.anchor_columns(entity_df, timestamp_column)
        anchors = AnchorFrame(columns=columns, ts=columns[timestamp_column])
        values = self._build(refs, anchors)
        return frames.attach(table, self._columns(features, refs), values, refs, output)

    def event_training_set(
        self, features: Features, source: str, *, output: Output = "pandas"
    ) -> Any:
        """Features of every logged event of a source, as the online path saw them.

        Each row gets the features as of its own event, counting exactly the events
        logged up to and including it (ties in time follow the log).

        Args:
            features: A FeatureService, its name, or qualified feature names.
            source: The source whose events anchor the rows.
            output: "pandas", "polars" or "arrow".

        Returns:
            The logged events (with ``__seq__``) and one column per feature.
        """
        refs = self.registry.expand(features)
        spec = self._pusher.source(source)
        with self._pusher.lock:
            table = self.log.read_source(spec)
        columns = {n: table[n].to_numpy(zero_copy_only=False) for n in table.column_names}
        anchors = AnchorFrame(
            columns=columns,
            ts=columns[spec.timestamp].astype(np.int64),
            seq=columns["__seq__"].astype(np.int64),
        )
        values = self._build(refs, anchors, {spec.name: table})
        return frames.attach(table, self._columns(features, refs), values, refs, output)

    def _build(
        self,
        refs: tuple[str, ...],
        anchors: AnchorFrame,
        read: dict[str, pa.Table] | None = None,
    ) -> dict[str, np.ndarray]:
        """Build features; each source's log is read once per call (``read`` may hold some)."""
        tables = dict(read or {})

        def read_source(source: EventSource) -> pa.Table:
            if source.name not in tables:
                tables[source.name] = self.log.read_source(source)
            return tables[source.name]

        plan = plan_request(self.registry, refs)
        with self._pusher.lock:
            return build(self.registry, plan, anchors, read_source, self.batch_tables.frame)

    def _resolve(
        self, features: Features
    ) -> tuple[tuple[str, ...], tuple[str, ...], FeatureRequestPlan]:
        """Names, output columns and read plan of a feature list (cached: reads are hot)."""
        key = features if isinstance(features, str | FeatureService) else tuple(features)
        resolved = self._resolved.get(key)
        if resolved is None:
            refs = self.registry.expand(features)
            resolved = (refs, self._columns(features, refs), plan_request(self.registry, refs))
            self._resolved[key] = resolved
        return resolved

    def _columns(self, features: Features, refs: tuple[str, ...]) -> tuple[str, ...]:
        if isinstance(features, str) and features in self.registry.services:
            features = self.registry.services[features]
        return features.columns if isinstance(features, FeatureService) else refs

    # ---- lifecycle ----------------------------------------------------------------

    def events(self, source: str) -> pa.Table:
        """Every logged event of a source (timestamps as epoch ms, with ``__seq__``).

        Args:
            source: The source's name.

        Returns:
            An Arrow table.
        """
        return self.log.read_source(self._pusher.source(source))

    def sql(self, query: str, *, output: Output = "pandas") -> Any:
        """Query the event log with SQL (DuckDB); every source is a table named after it.

        Args:
            query: The query, e.g. ``SELECT count(*) FROM payments``.
            output: "pandas", "polars" or "arrow".

        Returns:
            The result.
        """
        with self._pusher.lock:
            table = query_events(self.log, self.registry.sources, query)
        return frames.convert(table, output)

    def checkpoint(self) -> None:
        """Flush the log to Parquet and snapshot the online state."""
        with self._pusher.lock:
            self.log.flush()
            self.store.checkpoint()

    def close(self) -> None:
        """Checkpoint and release files."""
        if self.audit is not None:
            self.audit.close()
        if self._decisions is not None:
            self._decisions[0].close()
        with self._pusher.lock:
            self.log.close()
            self.store.close()
            if self._lock is not None:
                self._lock.release()
            if self._models_tmp is not None:
                self._models_tmp.cleanup()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(
    definitions: Iterable[Definition], path: str | Path | None = None, **kwargs: Any
) -> FeatureStore:
    """Open an embedded feature store (a shorthand for :class:`FeatureStore`).

    Args:
        definitions: The definitions.
        path: Directory for durable state, or None for in-memory.
        **kwargs: Passed to :class:`FeatureStore`.

    Returns:
        The store.
    """
    return FeatureStore(definitions, path=path, **kwargs)
