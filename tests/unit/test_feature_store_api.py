"""The FeatureStore's public surface: input and output kinds, batch and request features.

Oracles: pandas (merge_asof for batch features, plain arithmetic for request features)
and the online path itself for training sets, which must be identical to it.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import upwell as uw
from upwell.testing import ManualClock

T0 = datetime(2024, 3, 1, tzinfo=UTC)

customer = uw.Entity(name="customer", keys=("cid",))
payments = uw.EventSource(
    name="payments",
    schema={
        "pid": uw.FieldType.INT,
        "cid": uw.FieldType.INT,
        "amount": uw.FieldType.FLOAT,
        "ts": uw.FieldType.TIMESTAMP,
    },
    timestamp="ts",
    event_id="pid",
    entities=(customer,),
)
spend = uw.FeatureView(
    name="spend",
    entity=customer,
    source=payments,
    features=(
        uw.Feature(name="n_1d", aggregation=uw.Count(), window="1d"),
        uw.Feature(name="avg_1d", aggregation=uw.Mean("amount"), window="1d"),
    ),
)
profile = uw.BatchFeatures(
    name="profile",
    entity=customer,
    schema={"limit": uw.FieldType.FLOAT, "embedding": uw.Vector(3)},
)
request = uw.RequestSource(name="req", schema={"amount": uw.FieldType.FLOAT})


def _ratio(amount: float, avg: float | None) -> float:
    return amount / avg if avg else 0.0


def _doubled(ratio: float) -> float:
    return 2.0 * ratio


derived = uw.RequestFeatureView(
    name="derived",
    features=(
        uw.RequestFeature(name="ratio", inputs=("req.amount", "spend.avg_1d"), function=_ratio),
        uw.RequestFeature(name="doubled", inputs=("derived.ratio",), function=_doubled),
    ),
)
service = uw.FeatureService(
    name="svc",
    features=("spend.n_1d", "spend.avg_1d", "profile.limit", "derived.doubled"),
    output_names=("n", "avg", "limit", "doubled"),
)
DEFINITIONS = [spend, profile, request, derived, service]


def _events() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 60
    minutes = np.sort(rng.integers(0, 3 * 24 * 60, n))
    return pd.DataFrame(
        {
            "pid": np.arange(n),
            "cid": rng.integers(0, 4, n),
            "amount": np.round(rng.uniform(1, 100, n), 2),
            "ts": [T0 + timedelta(minutes=int(m)) for m in minutes],
        }
    ).astype({"ts": "datetime64[ns, UTC]"})


def _profiles() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cid": [0, 0, 1, 2, 0],
            "valid_from": pd.to_datetime(
                [
                    "2024-03-01 00:00",
                    "2024-03-02 00:00",
                    "2024-03-01 12:00",
                    "2024-03-03 00:00",
                    "2024-03-02 00:00",
                ],
                utc=True,
            ),
            "limit": [100.0, 150.0, 80.0, 60.0, 175.0],
            "embedding": [[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1.0, 1.0], [2.0, 0, 0]],
        }
    )


@pytest.mark.parametrize(
    "kind",
    ["dicts", "pandas", "polars", "arrow"],
)
def test_every_input_kind_gives_the_same_state(kind: str) -> None:
    frame = _events()
    data: object = {
        "dicts": frame.to_dict("records"),
        "pandas": frame,
        "polars": pl.from_pandas(frame),
        "arrow": pa.Table.from_pandas(frame, preserve_index=False),
    }[kind]
    reference = uw.FeatureStore([spend])
    for row in frame.to_dict("records"):
        reference.push("payments", row)
    store = uw.FeatureStore([spend])
    assert store.push("payments", data).accepted == len(frame)
    at = T0 + timedelta(days=2, hours=5)
    rows = [{"cid": c} for c in range(5)]
    assert store.get_features(["spend.n_1d", "spend.avg_1d"], rows, as_of=at) == (
        reference.get_features(["spend.n_1d", "spend.avg_1d"], rows, as_of=at)
    )


def _as_of_oracle(profiles: pd.DataFrame, cid: int, at: datetime) -> pd.Series | None:
    # the row with the greatest valid_from <= at; among equal valid_from the last loaded
    mine = profiles[(profiles.cid == cid) & (profiles.valid_from <= pd.Timestamp(at))]
    if mine.empty:
        return None
    return mine.sort_values("valid_from", kind="stable").iloc[-1]


@pytest.mark.parametrize("durable", [False, True], ids=["memory", "disk"])
def test_batch_features_are_an_as_of_join_online_and_offline(tmp_path: Path, durable: bool) -> None:
    store = uw.FeatureStore(DEFINITIONS, path=tmp_path if durable else None)
    profiles = _profiles()
    assert store.load_batch("profile", profiles) == len(profiles)
    if durable:
        store.close()
        store = uw.FeatureStore(DEFINITIONS, path=tmp_path)
    times = [
        T0 - timedelta(hours=1),
        T0,
        T0 + timedelta(hours=13),
        T0 + timedelta(days=1),
        T0 + timedelta(days=1, hours=1),
        T0 + timedelta(days=5),
    ]
    entity_rows = []
    for at in times:
        for cid in range(4):
            got = store.get_features(["profile.limit", "profile.embedding"], {"cid": cid}, as_of=at)
            expected = _as_of_oracle(profiles, cid, at)
            if expected is None:
                assert got == {"profile.limit": None, "profile.embedding": None}
            else:
                assert got["profile.limit"] == expected["limit"]
                assert list(got["profile.embedding"]) == list(expected["embedding"])
            entity_rows.append({"cid": cid, "ts": at, "online": got})
    entity_df = pd.DataFrame([{"cid": r["cid"], "ts": r["ts"]} for r in entity_rows])
    offline = store.training_set(
        ["profile.limit", "profile.embedding"], entity_df, timestamp_column="ts"
    )
    for row, (_, off) in zip(entity_rows, offline.iterrows(), strict=True):
        online = row["online"]
        if online["profile.limit"] is None:
            assert pd.isna(off["profile.limit"])
            assert off["profile.embedding"] is None
        else:
            assert off["profile.limit"] == online["profile.limit"]
            assert list(off["profile.embedding"]) == list(online["profile.embedding"])


def test_request_features_chain_and_match_between_paths() -> None:
    store = uw.FeatureStore(DEFINITIONS)
    frame = _events()
    store.push("payments", frame)
    store.load_batch("profile", _profiles())
    at = T0 + timedelta(days=3)
    rows = [{"cid": c, "amount": 10.0 * (c + 1)} for c in range(4)]
    online = store.get_features("svc", rows, as_of=at)
    for row, got in zip(rows, online, strict=True):
        window = frame[
            (frame.cid == row["cid"])
            & (frame.ts > pd.Timestamp(at - timedelta(days=1)))
            & (frame.ts <= pd.Timestamp(at))
        ]
        avg = window.amount.mean() if len(window) else None
        assert got["n"] == len(window)
        assert got["doubled"] == pytest.approx(2 * (row["amount"] / avg if avg else 0.0), rel=1e-12)
    entity_df = pl.DataFrame(
        {
            "cid": [r["cid"] for r in rows],
            "amount": [r["amount"] for r in rows],
            "ts": [at] * len(rows),
        }
    )
    offline = store.training_set("svc", entity_df, timestamp_column="ts", output="polars")
    assert isinstance(offline, pl.DataFrame)
    assert offline.columns == ["cid", "amount", "ts", "n", "avg", "limit", "doubled"]
    for got, off in zip(online, offline.iter_rows(named=True), strict=True):
        for column in ("n", "avg", "limit", "doubled"):
            assert off[column] == got[column]


@pytest.mark.parametrize("output", ["pandas", "polars", "arrow"])
def test_outputs(output: str) -> None:
    store = uw.FeatureStore([spend])
    store.push("payments", _events())
    at = T0 + timedelta(days=2)
    result = store.get_features(["spend.n_1d"], [{"cid": 0}, {"cid": 1}], as_of=at, output=output)
    expected = [
        r["spend.n_1d"]
        for r in store.get_features(["spend.n_1d"], [{"cid": 0}, {"cid": 1}], as_of=at)
    ]
    if output == "pandas":
        assert isinstance(result, pd.DataFrame)
        assert result["spend.n_1d"].tolist() == expected
    elif output == "polars":
        assert isinstance(result, pl.DataFrame)
        assert result["spend.n_1d"].to_list() == expected
    else:
        assert isinstance(result, pa.Table)
        assert result.column("spend.n_1d").to_pylist() == expected


@pytest.mark.parametrize("durable", [False, True], ids=["memory", "disk"])
def test_sql_over_the_event_log_matches_pandas(tmp_path: Path, durable: bool) -> None:
    store = uw.FeatureStore([spend], path=tmp_path if durable else None)
    frame = _events()
    store.push("payments", frame.iloc[:30])
    store.checkpoint()  # half in Parquet segments, half in the write-ahead file
    store.push("payments", frame.iloc[30:].to_dict("records"))
    result = store.sql(
        "SELECT cid, count(*) AS n, sum(amount) AS total, max(ts) AS last "
        "FROM payments GROUP BY cid ORDER BY cid"
    )
    expected = frame.groupby("cid").agg(
        n=("pid", "size"), total=("amount", "sum"), last=("ts", "max")
    )
    assert result["cid"].tolist() == expected.index.tolist()
    assert result["n"].tolist() == expected["n"].tolist()
    np.testing.assert_allclose(result["total"], expected["total"], rtol=1e-12)
    assert [pd.Timestamp(t) for t in result["last"]] == expected["last"].tolist()
    order = store.sql("SELECT pid FROM payments ORDER BY __seq__", output="arrow")
    assert order.column("pid").to_pylist() == frame["pid"].tolist()
    with pytest.raises(uw.QueryError, match="query failed"):
        store.sql("SELECT nothing FROM nowhere")


def test_reads_as_of_now_follow_the_injected_clock() -> None:
    clock = ManualClock(T0)
    store = uw.FeatureStore([spend], clock=clock)
    frame = _events()
    store.push("payments", frame)
    for hours in (0, 7, 30, 49, 80):
        clock.set(T0 + timedelta(hours=hours))
        now = pd.Timestamp(T0 + timedelta(hours=hours))
        window = frame[
            (frame.cid == 1) & (frame.ts > now - pd.Timedelta(days=1)) & (frame.ts <= now)
        ]
        assert store.get_features(["spend.n_1d"], {"cid": 1}) == {"spend.n_1d": len(window)}


def test_reads_from_other_threads_never_see_an_event_half_applied() -> None:
    # Every event has amount 1.0, so in any consistent state the 1-day mean is exactly
    # 1.0 (or None before the first event) and the count only grows.
    late_ok = uw.EventSource(
        name="late_payments",
        schema=payments.schema,
        timestamp="ts",
        event_id="pid",
        entities=(customer,),
        allowed_lateness="1h",
    )
    view = uw.FeatureView(name="spend", entity=customer, source=late_ok, features=spend.features)
    store = uw.FeatureStore([view])
    start = T0
    n = 3_000
    problems: list[str] = []
    done = threading.Event()

    def read() -> None:
        last = 0
        while not done.is_set():
            got = store.get_features(
                ["spend.n_1d", "spend.avg_1d"], {"cid": 0}, as_of=start + timedelta(hours=1)
            )
            if got["spend.avg_1d"] not in (None, 1.0) or got["spend.n_1d"] < last:
                problems.append(repr(got))
            last = got["spend.n_1d"]

    readers = [threading.Thread(target=read) for _ in range(2)]
    for thread in readers:
        thread.start()
    for i in range(n):
        store.push(
            "late_payments",
            {
                "pid": i,
                "cid": 0,
                "amount": 1.0,
                "ts": start + timedelta(milliseconds=(i * 7919) % 3_600_000),
            },
        )
    done.set()
    for thread in readers:
        thread.join()
    assert problems == []
    assert store.get_features(["spend.n_1d"], {"cid": 0}, as_of=start + timedelta(hours=1)) == {
        "spend.n_1d": n
    }
