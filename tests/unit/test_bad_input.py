"""Bad input at the FeatureStore's public boundary: clear errors, and nothing stored.

Definitions must fail with a DefinitionError that names the definition, the field and
a fix. Pushes, backfills and batch loads must fail with an EventError that names the
source or group, the row and field where it can, and a fix; and after each rejected
call the stored state (event log, online features, dead letters, batch rows) must be
exactly what it was, also after reopening a durable store.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import upwell as uw
from upwell.ingest.values import MAX_STRING_CHARS

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)
MAX_BATCH = 25

CUSTOMER = uw.Entity(name="customer", keys=("cid",))
TERMINAL = uw.Entity(name="terminal", keys=("term",))
TX = uw.EventSource(
    name="tx",
    schema={
        "tid": int,
        "cid": int,
        "amount": float,
        "qty": int,
        "note": str,
        "ok": bool,
        "ts": datetime,
    },
    timestamp="ts",
    event_id="tid",
    entities=(CUSTOMER,),
    allowed_lateness="1h",
)
SPEND = uw.FeatureView(
    name="spend",
    entity=CUSTOMER,
    source=TX,
    features=(
        uw.Feature(name="n", aggregation=uw.Count()),
        uw.Feature(name="total", aggregation=uw.Sum("amount")),
        uw.Feature(name="mean_1h", aggregation=uw.Mean("amount"), window="1h"),
        uw.Feature(name="low", aggregation=uw.Min("amount"), window="1d"),
        uw.Feature(name="last_note", aggregation=uw.Last("note"), window="1d"),
        uw.Feature(name="last3", aggregation=uw.LastK("amount", k=3), window="1d"),
        uw.Feature(name="notes", aggregation=uw.DistinctCount("note"), window="1d"),
    ),
)
PROFILE = uw.BatchFeatures(name="profile", entity=CUSTOMER, schema={"age": int, "score": float})
DEFINITIONS = [SPEND, PROFILE]
REFS = [f"spend.{f.name}" for f in SPEND.features] + ["profile.age", "profile.score"]


def good_row(i: int) -> dict[str, Any]:
    return {
        "tid": 1_000 + i,
        "cid": i % 3,
        "amount": 10.0 + i,
        "qty": i,
        "note": f"n{i % 4}",
        "ok": i % 2 == 0,
        "ts": T0 + timedelta(minutes=i),
    }


def future_row() -> dict[str, Any]:
    """A good event two days ahead of the rest, with the id of ``good_row(40)``."""
    return {**good_row(40), "ts": T0 + timedelta(days=2)}


def good_profile() -> pa.Table:
    return pa.table(
        {
            "cid": [0, 1],
            "valid_from": pa.array([T0, T0], pa.timestamp("ms", tz="UTC")),
            "age": [30, 40],
            "score": [0.5, 0.25],
        }
    )


@pytest.fixture(params=["memory", "disk"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[uw.FeatureStore]:
    path = tmp_path / "store" if request.param == "disk" else None
    store = uw.FeatureStore(DEFINITIONS, path=path, max_batch_events=MAX_BATCH)
    store.push("tx", [good_row(i) for i in range(20)])
    late = {**good_row(99), "ts": T0 - timedelta(hours=3)}
    assert store.push("tx", late).late == 1  # so dead letters hold something
    store.load_batch("profile", good_profile())
    yield store
    store.close()


def state(store: uw.FeatureStore) -> dict[str, Any]:
    """Everything a rejected call must leave as it was."""
    times = [T0, T0 + timedelta(minutes=10), T0 + timedelta(hours=2)]
    rows = [{"cid": cid} for cid in (0, 1, 2, 7)]
    return {
        "events": store.events("tx").to_pylist(),
        "last_seq": store.log.last_seq(),
        "features": [store.get_features(REFS, rows, as_of=t) for t in times],
        "dead_letters": store.dead_letters.read(),
        "profile": store.batch_tables.read(PROFILE),
    }


# ---- definitions ---------------------------------------------------------------------


def _view(*features: uw.Feature, entity: uw.Entity = CUSTOMER) -> uw.FeatureView:
    return uw.FeatureView(name="bad", entity=entity, source=TX, features=features)


def _request(*features: tuple[str, tuple[str, ...]]) -> uw.RequestFeatureView:
    return uw.RequestFeatureView(
        name="rq",
        features=tuple(
            uw.RequestFeature(name=name, inputs=inputs, function=lambda *v: 0.0)
            for name, inputs in features
        ),
    )


F, COUNT = uw.Feature, uw.Count()
# (id, definitions, words the message must hold: definition, field, the culprit)
DEFINITION_CASES: list[tuple[str, Callable[[], list[Any]], tuple[str, ...]]] = [
    (
        "unknown-aggregation-column",
        lambda: [_view(F(name="m", aggregation=uw.Mean("amt")))],
        ("FeatureView 'bad'", "feature 'm'", "aggregation", "'amt'"),
    ),
    (
        "unknown-filter-column",
        lambda: [_view(F(name="n", aggregation=COUNT, where=uw.col("kind") == "x"))],
        ("FeatureView 'bad'", "feature 'n'", "where", "'kind'"),
    ),
    (
        "duplicate-feature-names",
        lambda: [_view(F(name="n", aggregation=COUNT), F(name="n", aggregation=uw.Sum("qty")))],
        ("FeatureView 'bad'", "features", "'n'"),
    ),
    (
        "two-views-one-name",
        lambda: [_view(F(name="n", aggregation=COUNT)), _view(F(name="m", aggregation=COUNT))],
        ("'bad'", "name"),
    ),
    (
        "request-feature-cycle",
        lambda: [_request(("a", ("rq.b",)), ("b", ("rq.a",)))],
        ("RequestFeatureView", "inputs", "rq.a", "rq.b", "cycle"),
    ),
    (
        "request-feature-reads-itself",
        lambda: [_request(("a", ("rq.a",)))],
        ("RequestFeatureView", "inputs", "rq.a", "cycle"),
    ),
    (
        "request-feature-unknown-input",
        lambda: [SPEND, _request(("a", ("spend.nope",)))],
        ("RequestFeature 'rq.a'", "inputs", "'spend.nope'"),
    ),
    (
        "zero-window",
        lambda: [_view(F(name="n", aggregation=COUNT, window="0s"))],
        ("Feature 'n'", "window", "'0s'"),
    ),
    (
        "negative-window",
        lambda: [_view(F(name="n", aggregation=COUNT, window="-1h"))],
        ("Feature 'n'", "window", "'-1h'"),
    ),
    (
        "negative-timedelta-window",
        lambda: [_view(F(name="n", aggregation=COUNT, window=timedelta(hours=-1)))],
        ("Feature 'n'", "window"),
    ),
    (
        "zero-sliding-window",
        lambda: [_view(F(name="n", aggregation=COUNT, window=uw.Sliding(0)))],
        ("Sliding", "size"),
    ),
    (
        "window-not-a-duration",
        lambda: [_view(F(name="n", aggregation=COUNT, window="weekly"))],
        ("Feature 'n'", "window", "'weekly'"),
    ),
    (
        "offset-without-window",
        lambda: [_view(F(name="n", aggregation=COUNT, offset="7d"))],
        ("Feature 'n'", "offset", "window"),
    ),
    (
        "negative-offset",
        lambda: [_view(F(name="n", aggregation=COUNT, window="1d", offset="-7d"))],
        ("Feature 'n'", "offset"),
    ),
    (
        "service-unknown-feature",
        lambda: [SPEND, uw.FeatureService(name="svc", features=("spend.n", "spend.nope"))],
        ("FeatureService 'svc'", "features", "'spend.nope'"),
    ),
    (
        "mean-of-a-string",
        lambda: [_view(F(name="m", aggregation=uw.Mean("note")))],
        ("FeatureView 'bad'", "feature 'm'", "aggregation", "'note'", "numeric"),
    ),
    (
        "variance-of-a-string",
        lambda: [_view(F(name="v", aggregation=uw.Variance("note"), window="1d"))],
        ("FeatureView 'bad'", "feature 'v'", "aggregation", "'note'", "numeric"),
    ),
    (
        "entity-not-in-source",
        lambda: [_view(F(name="n", aggregation=COUNT), entity=TERMINAL)],
        ("FeatureView 'bad'", "entity", "'terminal'", "'tx'"),
    ),
    (
        "source-without-its-entity-key",
        lambda: [
            uw.EventSource(name="s", schema={"ts": datetime}, timestamp="ts", entities=(CUSTOMER,))
        ],
        ("EventSource 's'", "entities", "'cid'"),
    ),
    (
        "source-timestamp-not-a-timestamp",
        lambda: [
            uw.EventSource(
                name="s", schema={"cid": int, "ts": int}, timestamp="ts", entities=(CUSTOMER,)
            )
        ],
        ("EventSource 's'", "timestamp", "'ts'"),
    ),
    (
        "not-a-definition",
        lambda: [SPEND, "spend"],
        ("'spend'", "definition"),
    ),
]


@pytest.mark.parametrize(
    ("build", "words"),
    [pytest.param(build, words, id=name) for name, build, words in DEFINITION_CASES],
)
def test_bad_definitions_name_definition_field_and_fix(
    build: Callable[[], list[Any]], words: tuple[str, ...]
) -> None:
    with pytest.raises(uw.DefinitionError) as caught:
        uw.FeatureStore(build())
    message = str(caught.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    assert "Fix: " in message
    assert caught.value.fix


# ---- pushed events ----------------------------------------------------------------------


def _with(**changes: Any) -> Callable[[dict[str, Any]], Any]:
    return lambda row: {**row, **changes}


def _without(field: str) -> Callable[[dict[str, Any]], Any]:
    return lambda row: {k: v for k, v in row.items() if k != field}


def _frame(**changes: Any) -> Callable[[dict[str, Any]], Any]:
    def build(row: dict[str, Any]) -> pd.DataFrame:
        frame = pd.DataFrame([row, {**row, "tid": row["tid"] + 1}])
        for column, value in changes.items():
            frame[column] = value(frame[column]) if callable(value) else value
        return frame

    return build


def _naive(column: pd.Series) -> pd.Series:
    return column.dt.tz_convert(None)


def _berlin(column: pd.Series) -> pd.Series:
    return column.dt.tz_convert("Europe/Berlin")


# (id, the pushed data from a fresh good row, words the message must hold)
EVENT_CASES: list[tuple[str, Callable[[dict[str, Any]], Any], tuple[str, ...]]] = [
    ("missing-field", _without("amount"), ("tx[0]", "'amount'")),
    ("unknown-field", _with(colour="red"), ("tx[0]", "'colour'")),
    ("str-for-float", _with(amount="12.5"), ("tx[0].amount", "str")),
    ("float-for-int", _with(qty=2.0), ("tx[0].qty", "float")),
    ("bool-for-int", _with(qty=True), ("tx[0].qty", "bool")),
    ("bool-for-float", _with(amount=False), ("tx[0].amount", "bool")),
    ("numpy-bool-for-int", _with(qty=np.bool_(True)), ("tx[0].qty", "bool")),
    ("int-for-str", _with(note=5), ("tx[0].note", "int")),
    ("str-for-bool", _with(ok="true"), ("tx[0].ok", "str")),
    ("int-for-bool", _with(ok=1), ("tx[0].ok", "int")),
    ("null-value", _with(qty=None), ("tx[0].qty", "missing")),
    ("int-beyond-int64", _with(qty=2**63), ("tx[0].qty", "64-bit")),
    ("lone-surrogate", _with(note="ok\ud800"), ("tx[0].note", "Unicode")),
    ("oversized-string", _with(note="x" * (MAX_STRING_CHARS + 1)), ("tx[0].note", "too long")),
    ("nan", _with(amount=math.nan), ("tx[0].amount", "nan")),
    ("numpy-nan", _with(amount=np.float32("nan")), ("tx[0].amount", "nan")),
    ("plus-inf", _with(amount=math.inf), ("tx[0].amount", "inf")),
    ("minus-inf", _with(amount=-math.inf), ("tx[0].amount", "-inf")),
    ("naive-timestamp", _with(ts=datetime(2024, 5, 1, 12)), ("tx[0].ts", "naive")),  # noqa: DTZ001
    (
        "non-utc-timestamp",
        _with(ts=datetime(2024, 5, 1, 14, tzinfo=timezone(timedelta(hours=2)))),
        ("tx[0].ts", "not in UTC"),
    ),
    ("naive-iso-string", _with(ts="2024-05-01T12:00:00"), ("tx[0].ts", "naive")),
    ("not-a-timestamp-string", _with(ts="yesterday"), ("tx[0].ts", "ISO-8601")),
    ("epoch-int-timestamp", _with(ts=1_714_564_800_000), ("tx[0].ts", "int")),
    ("missing-timestamp", _with(ts=None), ("tx[0].ts", "missing")),
    ("absent-timestamp", _without("ts"), ("tx[0]", "'ts'")),
    ("nat-timestamp", _with(ts=pd.NaT), ("tx[0].ts", "missing")),
    ("frame-naive-datetimes", _frame(ts=_naive), ("tx[0].ts", "naive")),
    ("frame-berlin-datetimes", _frame(ts=_berlin), ("tx[0].ts", "not in UTC")),
    ("frame-nan-amount", _frame(amount=[1.0, math.nan]), ("tx[1].amount",)),
    ("frame-inf-amount", _frame(amount=[math.inf, 1.0]), ("tx[0].amount", "inf")),
    ("frame-float-ids", _frame(tid=lambda c: c + 0.5), ("tx[0].tid", "float")),
    (
        "only-the-last-row-bad",
        lambda row: [good_row(50), good_row(51), {**row, "amount": math.nan}],
        ("tx[2].amount",),
    ),
    (
        "only-the-last-frame-row-bad",
        lambda row: pd.DataFrame([good_row(50), good_row(51), {**row, "ts": None}]),
        ("tx[2].ts",),
    ),
    ("oversized-batch", lambda row: [good_row(50 + i) for i in range(MAX_BATCH + 1)], ("limit",)),
    ("list-with-a-non-event", lambda row: [row, 5], ("cannot read events",)),
    ("a-string", lambda row: "tid=1", ("cannot read events",)),
    ("none", lambda row: None, ("cannot read events",)),
]


@pytest.mark.parametrize(
    ("make", "words"),
    [pytest.param(make, words, id=name) for name, make, words in EVENT_CASES],
)
def test_bad_push_is_refused_and_changes_nothing(
    store: uw.FeatureStore, make: Callable[[dict[str, Any]], Any], words: tuple[str, ...]
) -> None:
    before = state(store)
    with pytest.raises(uw.EventError) as caught:
        store.push("tx", make(future_row()))
    message = str(caught.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    assert "Fix: " in message
    assert state(store) == before
    # Admission state did not move either: had the refused event's id been recorded it
    # would be a duplicate now, and had its time raised the watermark, late.
    assert store.push("tx", good_row(40)).accepted == 1


def test_unknown_source_is_refused(store: uw.FeatureStore) -> None:
    before = state(store)
    with pytest.raises(uw.EventError, match=r"unknown source 'payments'.*Fix: .*'tx'"):
        store.push("payments", good_row(40))
    assert state(store) == before


def test_empty_push_is_accepted_and_changes_nothing(store: uw.FeatureStore) -> None:
    before = state(store)
    assert store.push("tx", []) == uw.PushResult(accepted=0, duplicates=0, late=0)
    assert state(store) == before


def test_a_batch_at_the_size_limit_is_accepted(store: uw.FeatureStore) -> None:
    result = store.push("tx", [good_row(50 + i) for i in range(MAX_BATCH)])
    assert result.accepted == MAX_BATCH


def test_unknown_entity_reads_empty_values_not_an_error(store: uw.FeatureStore) -> None:
    got = store.get_features(REFS, {"cid": 12_345}, as_of=T0 + timedelta(hours=1))
    assert got == {
        "spend.n": 0,
        "spend.total": 0.0,
        "spend.mean_1h": None,
        "spend.low": None,
        "spend.last_note": None,
        "spend.last3": [],
        "spend.notes": 0,
        "profile.age": None,
        "profile.score": None,
    }


def test_entity_row_without_its_key_is_a_request_error(store: uw.FeatureStore) -> None:
    with pytest.raises(uw.RequestError, match=r"entity_rows\[1\].*'cid'"):
        store.get_features(REFS, [{"cid": 1}, {"customer": 1}], as_of=T0)


def test_naive_as_of_is_refused(store: uw.FeatureStore) -> None:
    with pytest.raises(uw.EventError, match=r"as_of.*naive"):
        store.get_features(REFS, {"cid": 1}, as_of=datetime(2024, 5, 1))  # noqa: DTZ001


# ---- backfill ------------------------------------------------------------------------------


def _table(**changes: Any) -> Callable[[], Any]:
    def build() -> pa.Table:
        frame = pd.DataFrame([good_row(60 + i) for i in range(4)])
        for column, value in changes.items():
            frame[column] = value(frame[column]) if callable(value) else value
        return pa.Table.from_pandas(frame, preserve_index=False)

    return build


def _arrow(column: str, array: pa.Array) -> Callable[[], pa.Table]:
    def build() -> pa.Table:
        table = _table()()
        return table.set_column(table.schema.get_field_index(column), column, array)

    return build


BACKFILL_CASES: list[tuple[str, Callable[[], Any], tuple[str, ...]]] = [
    ("naive-timestamps", _table(ts=_naive), ("backfill 'tx'.ts", "naive")),
    ("berlin-timestamps", _table(ts=_berlin), ("backfill 'tx'.ts", "Europe/Berlin")),
    ("missing-column", lambda: _table()().drop_columns(["qty"]), ("backfill 'tx'", "'qty'")),
    ("unknown-column", _table(extra=1), ("backfill 'tx'", "'extra'")),
    ("null-in-last-row", _table(qty=[1, 2, 3, None]), ("backfill 'tx'.qty", "row 3")),
    ("nan-in-last-row", _table(amount=[1.0, 2.0, 3.0, math.nan]), ("backfill 'tx'.amount",)),
    ("inf", _table(amount=[1.0, math.inf, 3.0, 4.0]), ("backfill 'tx'.amount", "inf")),
    ("str-for-float", _table(amount="1.5"), ("backfill 'tx'.amount", "string")),
    ("float-for-int", _table(qty=1.5), ("backfill 'tx'.qty", "double")),
    ("int-for-bool", _table(ok=1), ("backfill 'tx'.ok", "int64")),
    (
        "uint64-beyond-int64",
        _arrow("qty", pa.array([1, 2, 3, 2**64 - 1], pa.uint64())),
        ("backfill 'tx'.qty", "row 3"),
    ),
    ("epoch-int-timestamps", _arrow("ts", pa.array([1, 2, 3, 4])), ("backfill 'tx'.ts",)),
    ("not-a-table", lambda: 42, ("cannot read a table",)),
]


@pytest.mark.parametrize(
    ("make", "words"),
    [pytest.param(make, words, id=name) for name, make, words in BACKFILL_CASES],
)
def test_bad_backfill_is_refused_and_changes_nothing(
    store: uw.FeatureStore, make: Callable[[], Any], words: tuple[str, ...]
) -> None:
    before = state(store)
    with pytest.raises(uw.EventError) as caught:
        store.backfill("tx", make())
    message = str(caught.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    assert "Fix: " in message
    assert state(store) == before
    assert store.backfill("tx", _table()()).accepted == 4


def test_backfill_to_an_unknown_source_is_refused(store: uw.FeatureStore) -> None:
    before = state(store)
    with pytest.raises(uw.EventError, match="unknown source 'payments'"):
        store.backfill("payments", _table()())
    assert state(store) == before


# ---- batch features ------------------------------------------------------------------------


def _profile(**changes: Any) -> Callable[[], pa.Table]:
    def build() -> pa.Table:
        table = good_profile()
        for column, array in changes.items():
            if column in table.column_names:
                index = table.schema.get_field_index(column)
                table = table.set_column(index, column, array)
            else:
                table = table.append_column(column, array)
        return table

    return build


LOAD_CASES: list[tuple[str, Callable[[], pa.Table], tuple[str, ...]]] = [
    ("missing-key", lambda: good_profile().drop_columns(["cid"]), ("'profile'", "'cid'")),
    ("null-key", _profile(cid=pa.array([0, None])), ("'profile'.cid", "null")),
    ("missing-valid-from", lambda: good_profile().drop_columns(["valid_from"]), ("valid_from",)),
    (
        "naive-valid-from",
        _profile(valid_from=pa.array([T0, T0], pa.timestamp("ms"))),
        ("'profile'.valid_from", "naive"),
    ),
    ("unknown-column", _profile(colour=pa.array(["r", "g"])), ("'profile'", "'colour'")),
    ("missing-column", lambda: good_profile().drop_columns(["score"]), ("'profile'", "'score'")),
    ("nan-in-last-row", _profile(score=pa.array([0.5, math.nan])), ("'profile'.score", "row 1")),
    ("str-for-int", _profile(age=pa.array(["30", "40"])), ("'profile'.age", "string")),
    (
        "uint64-beyond-int64",
        _profile(age=pa.array([1, 2**64 - 1], pa.uint64())),
        ("'profile'.age", "row 1"),
    ),
]


@pytest.mark.parametrize(
    ("make", "words"),
    [pytest.param(make, words, id=name) for name, make, words in LOAD_CASES],
)
def test_bad_batch_load_is_refused_and_changes_nothing(
    store: uw.FeatureStore, make: Callable[[], pa.Table], words: tuple[str, ...]
) -> None:
    before = state(store)
    with pytest.raises(uw.EventError) as caught:
        store.load_batch("profile", make())
    message = str(caught.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    assert "Fix: " in message
    assert state(store) == before


def test_batch_load_into_an_unknown_group_is_refused(store: uw.FeatureStore) -> None:
    before = state(store)
    with pytest.raises(uw.DefinitionError, match=r"'profiles'.*Fix: .*'profile'"):
        store.load_batch("profiles", good_profile())
    assert state(store) == before


# ---- a durable store after all of it -----------------------------------------------------


def test_rejected_calls_leave_nothing_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "store"
    store = uw.FeatureStore(DEFINITIONS, path=path, max_batch_events=MAX_BATCH)
    store.push("tx", [good_row(i) for i in range(20)])
    store.load_batch("profile", good_profile())
    before = state(store)
    for _, make, _ in EVENT_CASES:
        with pytest.raises(uw.EventError):
            store.push("tx", make(future_row()))
    for _, make_table, _ in BACKFILL_CASES:
        with pytest.raises(uw.EventError):
            store.backfill("tx", make_table())
    for _, make_profile, _ in LOAD_CASES:
        with pytest.raises(uw.EventError):
            store.load_batch("profile", make_profile())
    assert state(store) == before
    store.close()
    reopened = uw.FeatureStore(DEFINITIONS, path=path, max_batch_events=MAX_BATCH)
    try:
        assert state(reopened) == before
    finally:
        reopened.close()
