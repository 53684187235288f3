"""Predictions acknowledged to the write-ahead file survive SIGKILL; the loss is bounded.

The test runs this file as a child process (``python test_prediction_log_crash.py DIR``):
the child opens a :class:`ParquetPredictionLog` with a small buffer and records
predictions with increasing ids as fast as it can, in bursts (so the buffer sometimes
fills and records are dropped). After each ``record()`` it prints ``A <id>`` (accepted)
or ``D <id>`` (dropped); every few records it prints ``S <accepted> <written> <buffered>
<dropped> <failed>`` from ``stats()``. The parent kills it with SIGKILL at a random
moment, reopens the folder (which recovers the write-ahead file's tail) and checks,
against the child's reports:

- no prediction appears twice, and none appears that was dropped or never recorded;
- every stored prediction has exactly the fields it was recorded with;
- the first ``written`` accepted predictions of the last ``S`` line are all stored
  (records are written in acceptance order);
- the lost predictions (accepted, not stored) are at most the buffer's capacity, and at
  most what the last ``S`` line reported as buffered plus what was accepted after it;
- ``stats().recovered`` on reopening counts exactly the records that were only in the
  write-ahead file.

Several kills accumulate in one folder, so recovery runs on top of earlier recoveries.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from upwell.audit import ParquetPredictionLog, PredictionRecord

CAPACITY = 64
TRIALS = 4
T0_MS = 1_700_000_000_000
START_TIMEOUT_S = 120.0


def prediction(i: int) -> PredictionRecord:
    """The prediction with id ``i``: a pure function of ``i``."""
    rng = random.Random(i)
    return PredictionRecord(
        request_id=f"req-{i}",
        model="fraud",
        version=1 + i % 2,
        # about 40 minutes apart: predictions spread over several day folders
        ts_ms=T0_MS + i * 2_400_000,
        score=rng.random(),
        entity={"customer": i % 17, "note": "ü\t\n"},
        features={"amount": rng.uniform(0, 100), "count": float(i % 5), "gap": None},
        decision="review" if i % 3 == 0 else None,
        latency_us=float(i % 1000),
    )


def child(directory: str, first_id: int) -> None:
    """Record predictions until killed, reporting every call on stdout."""
    log = ParquetPredictionLog(
        directory, capacity=CAPACITY, flush_interval_s=0.002, roll_records=300
    )
    out = sys.stdout
    out.write(f"READY {log.stats().recovered}\n")
    out.flush()
    i = first_id
    rng = random.Random(first_id)
    while True:
        for _ in range(rng.randint(1, 200)):
            ok = log.record(prediction(i))
            out.write(f"{'A' if ok else 'D'} {i}\n")
            out.flush()
            i += 1
        s = log.stats()
        out.write(f"S {s.accepted} {s.written} {s.buffered} {s.dropped} {s.failed}\n")
        out.flush()
        time.sleep(rng.choice([0.0, 0.001, 0.005]))


@dataclass
class Report:
    """What one child said before it died."""

    accepted: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    last_stats: tuple[int, ...] = (0, 0, 0, 0, 0)
    accepted_after_stats: int = 0
    max_id: int = -1


def parse(lines: list[str]) -> Report:
    report = Report()
    for line in lines:
        kind, *values = line.split()
        if kind == "A":
            report.accepted.append(int(values[0]))
            report.accepted_after_stats += 1
            report.max_id = int(values[0])
        elif kind == "D":
            report.dropped.append(int(values[0]))
            report.max_id = int(values[0])
        elif kind == "S":
            report.last_stats = tuple(int(v) for v in values)
            report.accepted_after_stats = 0
    return report


def run_child(directory: Path, first_id: int, rng: random.Random, stderr: Path) -> list[str]:
    with open(stderr, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, __file__, str(directory), str(first_id)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    ready = process.stdout.readline()
    if not ready.startswith("READY"):
        process.kill()
        process.wait()
        pytest.fail(f"child did not start: {ready!r} {stderr.read_text()}")
    assert time.monotonic() < deadline
    time.sleep(rng.uniform(0.05, 0.6))
    process.send_signal(signal.SIGKILL)
    rest = process.stdout.read()
    process.stdout.close()
    process.wait()
    lines = rest.splitlines()
    if lines and not lines[-1].endswith(("\n",)) and rest and not rest.endswith("\n"):
        lines = lines[:-1]  # a line torn by the kill
    return lines


def rows_in_files(directory: Path) -> int:
    files = (directory / "predictions").glob("date=*/part-*.parquet")
    return sum(pq.read_metadata(p).num_rows for p in files)


@pytest.mark.slow
def test_sigkill_loses_at_most_the_buffer(tmp_path: Path) -> None:
    directory = tmp_path / "audit"
    rng = random.Random(7)
    stored_before: set[int] = set()
    next_id = 0
    recovered_total = 0
    for trial in range(TRIALS):
        report = parse(run_child(directory, next_id, rng, tmp_path / f"stderr-{trial}.txt"))
        assert report.accepted, "the child recorded nothing before the kill"
        in_files = rows_in_files(directory)

        log = ParquetPredictionLog(directory)
        try:
            recovered = log.stats().recovered
            table = log.query("SELECT request_id, seq FROM predictions")
            frame = log.read()
        finally:
            log.close()
        ids = [int(r.removeprefix("req-")) for r in table["request_id"].to_pylist()]
        assert len(ids) == len(set(ids)), "a prediction is stored twice"
        assert len(set(table["seq"].to_pylist())) == len(ids), "a log position repeats"
        assert recovered == len(ids) - in_files
        recovered_total += recovered

        new = set(ids) - stored_before
        accepted = set(report.accepted)
        unreported = new - accepted - set(report.dropped)
        assert unreported <= {report.max_id + 1}, "stored but never recorded"
        assert not (new & set(report.dropped)), "a dropped prediction was stored"

        written = report.last_stats[1]
        assert set(report.accepted[:written]) <= new, "a written prediction was lost"
        lost = accepted - new
        buffered = report.last_stats[2]
        assert len(lost) <= CAPACITY
        assert len(lost) <= buffered + report.accepted_after_stats
        assert min(lost, default=report.max_id) >= min(report.accepted[written:], default=0)

        for row in frame.itertuples():
            expected = prediction(int(row.request_id.removeprefix("req-")))
            assert row.features == {**expected.features, "gap": None}
            assert row.entity == expected.entity
            assert row.score == expected.score
            assert row.version == expected.version
            assert row.ts.value // 1_000_000 == expected.ts_ms
            assert (row.decision or None) == expected.decision
        stored_before = set(ids)
        next_id = report.max_id + 2
    assert recovered_total > 0, "no kill left records in the write-ahead file"


if __name__ == "__main__":
    child(sys.argv[1], int(sys.argv[2]))
