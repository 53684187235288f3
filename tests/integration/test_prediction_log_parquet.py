"""The embedded prediction log: reads, SQL, rolls, recovery, torn tails, readers, one writer.

Crash states are produced the way a crash leaves them: by copying the folder of a log
that is still open (what a SIGKILL leaves on disk), or by restoring the write-ahead file
a roll had already emptied (a crash between publishing the Parquet files and emptying it).
The expected contents come from the records themselves, filtered with plain Python.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from upwell.audit import AuditClosedError, AuditError, ParquetPredictionLog, PredictionRecord

DAY = 86_400_000
T0 = 19_000 * DAY


def records(n: int, first: int = 0) -> list[PredictionRecord]:
    return [
        PredictionRecord(
            request_id=f"r{i}",
            model="fraud" if i % 3 else "churn",
            version=1 + i % 2,
            ts_ms=T0 + i * 3_600_000,  # hourly: a day folder per 24 records
            score=(i % 100) / 100,
            entity={"customer": i % 11},
            features={"amount": float(i), "count": None if i % 4 == 0 else float(i % 7)},
            latency_us=float(i),
        )
        for i in range(first, first + n)
    ]


def stored_ids(log: ParquetPredictionLog) -> list[str]:
    return log.query("SELECT request_id FROM predictions ORDER BY seq")["request_id"].to_pylist()


def test_read_filters_equal_a_python_filter(tmp_path: Path) -> None:
    recs = records(200)
    with ParquetPredictionLog(tmp_path, roll_records=70) as log:
        for r in recs:
            assert log.record(r)
        assert log.flush(10)
        cases = [
            {},
            {"model": "fraud"},
            {"model": "fraud", "version": 2},
            {"start_ms": T0 + 24 * 3_600_000, "end_ms": T0 + 48 * 3_600_000},
            {"version": 1, "end_ms": T0 + 10 * 3_600_000},
        ]
        for case in cases:
            frame = log.read(**case)  # type: ignore[arg-type]
            expected = [
                r.request_id
                for r in recs
                if r.model == case.get("model", r.model)
                and r.version == case.get("version", r.version)
                and r.ts_ms > case.get("start_ms", -1)
                and r.ts_ms <= case.get("end_ms", r.ts_ms)
            ]
            assert frame["request_id"].tolist() == expected, case
        row = log.read(start_ms=T0 + 7 * 3_600_000 - 1, end_ms=T0 + 7 * 3_600_000).iloc[0]
        assert row["features"] == {"amount": 7.0, "count": 0.0}
        assert row["entity"] == {"customer": 7}
        assert log.stats().written == 200
    assert len(list((tmp_path / "predictions").glob("date=*"))) == 9  # 200 hours


def test_sql_sees_maps_and_json(tmp_path: Path) -> None:
    with ParquetPredictionLog(tmp_path) as log:
        for r in records(48):
            log.record(r)
        log.flush()
        table = log.query(
            "SELECT version, count(*) AS n, sum(features['amount']) AS amount, "
            "count(features['count']) AS counted, "
            "max(CAST(entity->>'$.customer' AS INTEGER)) AS top "
            "FROM predictions WHERE model = 'fraud' GROUP BY version ORDER BY version"
        )
    fraud = [r for r in records(48) if r.model == "fraud"]
    expected = []
    for version in (1, 2):
        mine = [r for r in fraud if r.version == version]
        expected.append(
            {
                "version": version,
                "n": len(mine),
                "amount": sum(r.features["amount"] for r in mine),  # type: ignore[misc]
                "counted": sum(r.features["count"] is not None for r in mine),
                "top": max(r.entity["customer"] for r in mine),
            }
        )
    assert table.to_pylist() == expected


def test_reopening_keeps_everything_and_compaction_merges_days(tmp_path: Path) -> None:
    with ParquetPredictionLog(tmp_path, roll_records=10) as log:
        for i, r in enumerate(records(100)):
            log.record(r)
            if i % 10 == 9:
                log.flush()
                log.roll()
    folders = list((tmp_path / "predictions").glob("date=*"))
    assert sum(len(list(f.glob("*.parquet"))) for f in folders) > len(folders)
    with ParquetPredictionLog(tmp_path) as log:
        assert log.stats().recovered == 0
        for r in records(20, first=100):
            log.record(r)
        log.flush()
        log.roll()  # day 4 now has two files too
        assert log.compact() == len(folders)
        assert stored_ids(log) == [f"r{i}" for i in range(120)]
    assert all(len(list(f.glob("*.parquet"))) == 1 for f in folders)
    with ParquetPredictionLog(tmp_path, read_only=True) as reader:
        assert stored_ids(reader) == [f"r{i}" for i in range(120)]


def test_the_write_ahead_tail_is_recovered(tmp_path: Path) -> None:
    live = tmp_path / "live"
    log = ParquetPredictionLog(live, roll_records=1_000_000, roll_interval_s=3_600)
    try:
        for r in records(30):
            log.record(r)
        assert log.flush(10)
        crashed = tmp_path / "crashed"
        shutil.copytree(live, crashed)  # what a SIGKILL now leaves: all 30 in wal.log only
    finally:
        log.close()
    assert not list((crashed / "predictions").glob("date=*"))
    with ParquetPredictionLog(crashed) as recovered:
        assert recovered.stats().recovered == 30
        assert stored_ids(recovered) == [f"r{i}" for i in range(30)]
        assert (crashed / "predictions" / "wal.log").stat().st_size == 0
        recovered.record(records(1, first=30)[0])
        recovered.flush()
        seqs = recovered.query("SELECT seq FROM predictions ORDER BY seq")["seq"].to_pylist()
    assert seqs == list(range(1, 32))  # positions go on after the recovered ones


def test_a_crash_after_a_roll_does_not_duplicate(tmp_path: Path) -> None:
    with ParquetPredictionLog(tmp_path, roll_records=1_000_000, roll_interval_s=3_600) as log:
        for r in records(30):
            log.record(r)
        log.flush()
        wal = (tmp_path / "predictions" / "wal.log").read_bytes()
        assert log.roll() == 30
    # the Parquet files are published but wal.log was not emptied yet
    (tmp_path / "predictions" / "wal.log").write_bytes(wal)
    with ParquetPredictionLog(tmp_path) as log:
        assert log.stats().recovered == 0
        assert stored_ids(log) == [f"r{i}" for i in range(30)]


def test_a_torn_write_ahead_tail_is_dropped(tmp_path: Path) -> None:
    live = tmp_path / "live"
    log = ParquetPredictionLog(live, roll_records=1_000_000, roll_interval_s=3_600)
    try:
        for r in records(10):
            log.record(r)
        log.flush()
        for r in records(5, first=10):
            log.record(r)
        log.flush()
        crashed = tmp_path / "crashed"
        shutil.copytree(live, crashed)
    finally:
        log.close()
    wal = crashed / "predictions" / "wal.log"
    wal.write_bytes(wal.read_bytes()[:-7])  # the second batch's frame is cut short
    with ParquetPredictionLog(crashed) as recovered:
        assert recovered.stats().recovered == 10
        assert stored_ids(recovered) == [f"r{i}" for i in range(10)]


def test_a_reader_sees_a_live_writer_without_duplicates(tmp_path: Path) -> None:
    writer = ParquetPredictionLog(tmp_path, roll_records=1_000_000, roll_interval_s=3_600)
    reader = ParquetPredictionLog(tmp_path, read_only=True)
    try:
        for r in records(25):
            writer.record(r)
        writer.flush()
        assert stored_ids(reader) == [f"r{i}" for i in range(25)]  # all in wal.log
        writer.roll()
        for r in records(5, first=25):
            writer.record(r)
        writer.flush()
        assert stored_ids(reader) == [f"r{i}" for i in range(30)]  # files + wal.log
        assert reader.read(model="churn")["request_id"].tolist() == [
            f"r{i}" for i in range(0, 30, 3)
        ]
        assert reader.stats().written == 0
        with pytest.raises(AuditClosedError):
            reader.record(records(1)[0])
        with pytest.raises(AuditError, match="another writer"):
            ParquetPredictionLog(tmp_path)
    finally:
        writer.close()
        reader.close()
    with pytest.raises(AuditClosedError):
        writer.record(records(1)[0])
