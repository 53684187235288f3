"""Audit: the prediction log, late labels, live quality, drift and alerts.

The PostgreSQL backends are imported from their modules (they need the ``postgres``
extra): :mod:`upwell.audit.postgres_log` and :mod:`upwell.audit.postgres_labels`.
"""

from upwell.audit.alert_sinks import (
    ALERT_SCHEMA,
    AlertLog,
    AlertSink,
    PrometheusAlertSink,
    register_log_metrics,
)
from upwell.audit.alerts import AlertEvaluator, AlertEvent, AlertKind, AlertRule, Direction
from upwell.audit.drift import (
    PSI_EPSILON,
    ColumnReference,
    ReferenceProfile,
    jensen_shannon,
    ks_2samp,
    psi,
)
from upwell.audit.drift_windows import DriftReport, drift_over_windows, drift_report
from upwell.audit.errors import AuditClosedError, AuditError, AuditQueryError
from upwell.audit.journal import SyncPolicy
from upwell.audit.labels import (
    REQUEST_ID,
    LabelStore,
    MemoryLabelStore,
    join_labels,
    labels_from_frame,
)
from upwell.audit.live_stats import MonitorConfig
from upwell.audit.log_protocol import LogStats, PredictionLog
from upwell.audit.memory_log import MemoryPredictionLog
from upwell.audit.metrics import (
    Calibration,
    CardPrecision,
    ScoreDistribution,
    auc_roc,
    average_precision,
    brier_score,
    calibration,
    card_precision_at_k,
    score_distribution,
)
from upwell.audit.monitor import Monitor, StatObserver, open_monitor
from upwell.audit.parquet_labels import ParquetLabelStore
from upwell.audit.parquet_log import ParquetPredictionLog
from upwell.audit.quality import QualityReport, quality_over_windows, quality_report
from upwell.audit.records import LABEL_SCHEMA, PREDICTION_SCHEMA, Label, PredictionRecord, Route
from upwell.audit.stats import SCORE, Metric, WindowStat
from upwell.audit.webhook import WebhookError, WebhookSink
from upwell.audit.windows import Window, windows

__all__ = [
    "ALERT_SCHEMA",
    "LABEL_SCHEMA",
    "PREDICTION_SCHEMA",
    "PSI_EPSILON",
    "REQUEST_ID",
    "SCORE",
    "AlertEvaluator",
    "AlertEvent",
    "AlertKind",
    "AlertLog",
    "AlertRule",
    "AlertSink",
    "AuditClosedError",
    "AuditError",
    "AuditQueryError",
    "Calibration",
    "CardPrecision",
    "ColumnReference",
    "Direction",
    "DriftReport",
    "Label",
    "LabelStore",
    "LogStats",
    "MemoryLabelStore",
    "MemoryPredictionLog",
    "Metric",
    "Monitor",
    "MonitorConfig",
    "ParquetLabelStore",
    "ParquetPredictionLog",
    "PredictionLog",
    "PredictionRecord",
    "PrometheusAlertSink",
    "QualityReport",
    "ReferenceProfile",
    "Route",
    "ScoreDistribution",
    "StatObserver",
    "SyncPolicy",
    "WebhookError",
    "WebhookSink",
    "Window",
    "WindowStat",
    "auc_roc",
    "average_precision",
    "brier_score",
    "calibration",
    "card_precision_at_k",
    "drift_over_windows",
    "drift_report",
    "jensen_shannon",
    "join_labels",
    "ks_2samp",
    "labels_from_frame",
    "open_monitor",
    "psi",
    "quality_over_windows",
    "quality_report",
    "register_log_metrics",
    "score_distribution",
    "windows",
]
