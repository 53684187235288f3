"""Prediction records: validation, and the Arrow/DataFrame shapes every backend shares."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from upwell.audit import PREDICTION_SCHEMA, AuditError, Label, PredictionRecord, Route
from upwell.audit.tables import prediction_frame, record_row, rows_to_table, ts_ms_of

GOOD: dict[str, Any] = {
    "request_id": "r1",
    "model": "fraud",
    "version": 2,
    "ts_ms": 1_700_000_000_123,
    "score": 0.75,
}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"request_id": ""}, "request_id"),
        ({"model": 3}, "model"),
        ({"version": "2"}, "version"),
        ({"version": True}, "version"),
        ({"ts_ms": 1.5}, "ts_ms"),
        ({"score": math.nan}, "score"),
        ({"score": "high"}, "score"),
        ({"latency_us": -1.0}, "latency_us"),
        ({"features": {"a": "x"}}, "'a' is 'x'"),
        ({"features": [1.0]}, "not a mapping"),
        ({"explanation": {"a": [1]}}, "'a'"),
        ({"entity": {"c": [1]}}, "entity"),
        ({"decision": 1}, "decision"),
        ({"route": ""}, "route"),
        ({"shadow_version": 1.0}, "shadow_version"),
        ({"shadow_score": "x"}, "shadow_score"),
    ],
    ids=str,
)
def test_bad_records_are_refused(change: dict[str, Any], match: str) -> None:
    with pytest.raises(AuditError, match=match) as info:
        PredictionRecord(**{**GOOD, **change})
    assert "PredictionRecord(request_id=" in str(info.value)


def test_numbers_of_any_kind_are_accepted() -> None:
    rec = PredictionRecord(
        **GOOD,
        features={"a": np.float32(1.5), "b": np.int64(3), "c": True, "d": None},
        entity={"customer": 7, "name": "x", "flag": False},
    )
    assert rec.route == Route.CHAMPION == "champion"


@pytest.mark.parametrize(
    ("change", "match"),
    [({"key": ""}, "key"), ({"label": math.inf}, "label"), ({"ts_ms": "now"}, "ts_ms")],
)
def test_bad_labels_are_refused(change: dict[str, Any], match: str) -> None:
    with pytest.raises(AuditError, match=match):
        Label(**{"key": "k", "label": 1.0, "ts_ms": 0, **change})


def test_rows_table_and_frame_round_trip() -> None:
    records = [
        PredictionRecord(
            **GOOD,
            entity={"customer": 7, "note": "ü"},
            features={"amount": 12.5, "count": 3, "gap": math.nan, "none": None},
            decision="block",
            latency_us=42.0,
            explanation={"amount": 0.25},
            route=Route.CANARY,
            shadow_version=3,
            shadow_score=0.5,
        ),
        PredictionRecord(**{**GOOD, "request_id": "r2", "ts_ms": 5}),
    ]
    table = rows_to_table([10, 11], [record_row(r) for r in records])
    assert table.schema == PREDICTION_SCHEMA
    features = table["features"][0].as_py()
    assert features == [("amount", 12.5), ("count", 3.0), ("gap", None), ("none", None)]
    assert table["ts"].cast(pa.int64()).to_pylist() == [1_700_000_000_123, 5]
    frame = prediction_frame(table)
    first, second = frame.iloc[0], frame.iloc[1]
    assert first["entity"] == {"customer": 7, "note": "ü"}
    assert first["features"] == {"amount": 12.5, "count": 3.0, "gap": None, "none": None}
    assert (first["decision"], first["route"], first["shadow_version"]) == ("block", "canary", 3)
    assert second["decision"] is None
    assert second["explanation"] == {}
    assert ts_ms_of(frame).tolist() == [1_700_000_000_123, 5]
    assert rows_to_table([], []).num_rows == 0
