"""Late labels: the latest wins, in every store, and joins to predictions by key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from upwell.audit import (
    AuditClosedError,
    AuditError,
    Label,
    LabelStore,
    MemoryLabelStore,
    ParquetLabelStore,
    join_labels,
    labels_from_frame,
)
from upwell.audit.records import LABEL_SCHEMA
from upwell.audit.segments import compact_folder, live_segments, publish

LABELS = [
    Label(key="a", label=0.0, ts_ms=100),
    Label(key="b", label=1.0, ts_ms=100),
    Label(key="a", label=1.0, ts_ms=300),  # a correction: the latest wins
    Label(key="c", label=1.0, ts_ms=200),
    Label(key="c", label=0.0, ts_ms=200),  # same time: the one stored last wins
]


@pytest.fixture(params=["memory", "parquet"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LabelStore]:
    opened: LabelStore = (
        MemoryLabelStore()
        if request.param == "memory"
        else ParquetLabelStore(tmp_path, compact_at=3)
    )
    yield opened
    opened.close()


def latest(store: LabelStore, **kwargs: object) -> dict[str, tuple[float, int]]:
    frame = store.read(**kwargs)  # type: ignore[arg-type]
    stamps = frame["ts"].dt.as_unit("ms").astype("int64")
    return {k: (v, int(t)) for k, v, t in zip(frame["key"], frame["label"], stamps, strict=True)}


def test_the_latest_label_wins(store: LabelStore) -> None:
    for label in LABELS:  # one add per label: several segments, then a compaction
        assert store.add([label]) == 1
    assert latest(store) == {"a": (1.0, 300), "b": (1.0, 100), "c": (0.0, 200)}
    assert latest(store, keys=["a", "zz"]) == {"a": (1.0, 300)}
    assert latest(store, as_of_ms=250) == {"a": (0.0, 100), "b": (1.0, 100), "c": (0.0, 200)}
    assert latest(store, as_of_ms=50) == {}
    assert store.query("SELECT count(*) AS n FROM labels")["n"].to_pylist() == [5]
    assert store.add([]) == 0


def test_parquet_labels_survive_reopening_and_a_crash_during_compaction(tmp_path: Path) -> None:
    store = ParquetLabelStore(tmp_path, compact_at=100)
    for label in LABELS:
        store.add([label])
    expected = latest(store)
    store.close()
    folder = tmp_path / "labels"
    assert len(live_segments(folder)) == 5
    # the state a crash leaves after the merged segment is published, before the merged
    # ones are deleted: readers see each label once
    merged = compact_folder(folder, LABEL_SCHEMA)
    assert merged is not None
    publish([merged])
    assert len(list(folder.glob("*.parquet"))) == 6
    reader = ParquetLabelStore(tmp_path, read_only=True)
    assert latest(reader) == expected
    assert reader.query("SELECT count(*) AS n FROM labels")["n"].to_pylist() == [5]
    with pytest.raises(AuditClosedError):
        reader.add(LABELS)
    writer = ParquetLabelStore(tmp_path)  # a writer deletes the merged segments
    assert len(list(folder.glob("*.parquet"))) == 1
    writer.add([Label(key="d", label=1.0, ts_ms=1)])
    assert latest(writer) == {**expected, "d": (1.0, 1)}
    writer.close()


def test_one_writer_per_folder(tmp_path: Path) -> None:
    first = ParquetLabelStore(tmp_path)
    with pytest.raises(AuditError, match="another writer"):
        ParquetLabelStore(tmp_path)
    first.close()
    ParquetLabelStore(tmp_path).close()


def predictions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "request_id": ["r1", "r2", "r3"],
            "entity": [{"tx": 10}, {"tx": 11}, {}],
            "score": [0.1, 0.2, 0.3],
        },
        index=[5, 6, 7],
    )


def test_join_on_request_id_and_on_an_entity_key() -> None:
    labels = pd.DataFrame(
        {
            "key": ["r1", "r1", "10", "11", "r3"],
            "label": [1.0, 0.0, 1.0, 0.0, 1.0],
            "ts": pd.to_datetime([2, 1, 5, 5, 3], unit="ms", utc=True),
        }
    )
    by_request = join_labels(predictions(), labels)
    assert by_request.index.tolist() == [5, 6, 7]
    assert by_request["label"].tolist()[0] == 1.0  # ts 2 beats ts 1
    assert np.isnan(by_request["label"].iloc[1])
    by_entity = join_labels(predictions(), labels, on="tx")
    assert by_entity["label"].tolist()[:2] == [1.0, 0.0]
    assert np.isnan(by_entity["label"].iloc[2])  # no tx key
    none = join_labels(predictions(), labels.iloc[:0])
    assert none["label"].isna().all()
    assert none["label_ts"].isna().all()


def test_labels_from_a_frame() -> None:
    frame = pd.DataFrame(
        {
            "TRANSACTION_ID": [7, 8],
            "TX_FRAUD": [1, 0],
            "known": pd.to_datetime(["2018-04-08 00:00:00", "2018-04-09 00:00:01"]),
        }
    )
    labels = labels_from_frame(frame, key="TRANSACTION_ID", label="TX_FRAUD", ts="known")
    assert labels == [
        Label(key="7", label=1.0, ts_ms=1_523_145_600_000),
        Label(key="8", label=0.0, ts_ms=1_523_232_001_000),
    ]
    millis = frame.assign(known=[5, 6])
    again = labels_from_frame(millis, key="TRANSACTION_ID", label="TX_FRAUD", ts="known")
    assert [lb.ts_ms for lb in again] == [5, 6]
    with pytest.raises(AuditError, match="missing column"):
        labels_from_frame(frame, key="id", label="TX_FRAUD", ts="known")
