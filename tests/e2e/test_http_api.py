"""The HTTP API over a real uvicorn server, driven with a real HTTP client.

Oracles: the in-process store (features), scikit-learn's ``predict_proba`` on the
features a response returns (scores), the event log (what ingest stored), and the
Prometheus text format parsed by prometheus-client.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

import fraud_serving
import upwell as uw
from live_server import thread_server
from upwell.examples.fraud.features import HANDBOOK_FEATURES
from upwell.models.formats import save_model
from upwell.server.app import create_app
from upwell.server.auth import ApiKey, Scope
from upwell.server.settings import ServerSettings

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

KEYS = {
    "reader": ("reader-key-0123456789", {Scope.FEATURES_READ}),
    "writer": ("writer-key-0123456789", {Scope.EVENTS_WRITE}),
    "admin": ("admin-key-01234567890", set(Scope)),
}


def _settings() -> ServerSettings:
    keys = tuple(
        ApiKey(name=n, sha256=hashlib.sha256(k.encode()).hexdigest(), scopes=frozenset(s))
        for n, (k, s) in KEYS.items()
    )
    return ServerSettings(api_keys=keys, refresh_interval_s=0.2, max_rows=5000)


def _auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name][0]}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, uw.FeatureStore, Any]]:
    store = uw.FeatureStore(
        fraud_serving.definitions(),
        path=tmp_path_factory.mktemp("store"),
        clock=fraud_serving.clock(),
    )
    world = fraud_serving.build_world(store)
    store.models.register("fraud", world.v1, features="fraud_detection", aliases=("champion",))
    with thread_server(create_app(store, _settings())) as url:
        yield url, store, world


def _json_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = frame[["CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_DATETIME"]].copy()
    rows["TX_DATETIME"] = rows["TX_DATETIME"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return rows.to_dict("records")


def _event_count(store: uw.FeatureStore) -> int:
    return int(store.events("transactions").num_rows)


def test_features_equal_the_store(served) -> None:
    url, store, world = served
    sample = world.transactions.iloc[-5:]
    at = sample["TX_DATETIME"].iloc[-1]
    body = {"features": "fraud_detection", "entities": _json_rows(sample), "as_of": at.isoformat()}
    response = httpx.post(f"{url}/v1/features", json=body, headers=_auth("reader"))
    assert response.status_code == 200, response.text
    expected = store.get_features("fraud_detection", fraud_serving.entity_rows(sample), as_of=at)
    assert response.json()["features"] == expected  # JSON floats round-trip exactly


def test_score_names_its_version_and_equals_the_model(served) -> None:
    url, _, world = served
    sample = world.transactions.iloc[-30:]
    body = {
        "model": "fraud",
        "entities": _json_rows(sample),
        "request_ids": [f"r{i}" for i in range(30)],
    }
    response = httpx.post(f"{url}/v1/score", json=body, headers=_auth("reader"))
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    x = pd.DataFrame(
        [[p["features"][c] for c in HANDBOOK_FEATURES] for p in predictions],
        columns=list(HANDBOOK_FEATURES),
    )
    expected = world.v1.predict_proba(x)[:, 1]
    assert [p["score"] for p in predictions] == pytest.approx(list(expected), rel=1e-12)
    assert {p["version"] for p in predictions} == {1}
    assert [p["request_id"] for p in predictions] == [f"r{i}" for i in range(30)]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/features", {"features": "fraud_detection", "entities": [{"CUSTOMER_ID": 1}]}),
        ("POST", "/v1/score", {"model": "fraud", "entities": [{"CUSTOMER_ID": 1}]}),
        ("POST", "/v1/events", {"source": "transactions", "events": []}),
        ("POST", "/v1/models/fraud/promote", {"version": 1}),
        ("POST", "/v1/models/fraud/rollback", {}),
        ("GET", "/v1/models", None),
    ],
)
def test_missing_or_wrong_keys_get_401_and_change_nothing(served, method, path, body) -> None:
    url, store, _ = served
    before = (_event_count(store), store.models.registry.generation())
    for headers in ({}, {"Authorization": "Bearer wrong-key-000000000"}, {"X-API-Key": "nope"}):
        response = httpx.request(method, f"{url}{path}", json=body, headers=headers)
        assert response.status_code == 401, response.text
        assert response.json()["error"]["type"] == "AuthError"
    assert (_event_count(store), store.models.registry.generation()) == before


def test_keys_without_the_scope_get_403(served) -> None:
    url, store, world = served
    before = _event_count(store)
    event = _json_rows(world.transactions.iloc[-1:])[0]
    response = httpx.post(
        f"{url}/v1/events", json={"source": "transactions", "event": event}, headers=_auth("reader")
    )
    assert response.status_code == 403
    assert "events:write" in response.json()["error"]["what"]
    response = httpx.post(
        f"{url}/v1/models/fraud/promote", json={"version": 1}, headers=_auth("writer")
    )
    assert response.status_code == 403
    assert _event_count(store) == before


def test_ingest_single_and_batch_then_read(served) -> None:
    url, store, world = served
    last = world.transactions.iloc[-1]
    base = int(world.transactions["TRANSACTION_ID"].max()) + 1_000
    when = (last["TX_DATETIME"] + pd.Timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {
        "TRANSACTION_ID": base, "TX_DATETIME": when, "CUSTOMER_ID": int(last["CUSTOMER_ID"]),
        "TERMINAL_ID": int(last["TERMINAL_ID"]), "TX_AMOUNT": 12.5,
    }  # fmt: skip
    before = _event_count(store)
    one = httpx.post(
        f"{url}/v1/events", json={"source": "transactions", "event": event}, headers=_auth("writer")
    )
    assert one.json() == {"accepted": 1, "duplicate": 0, "late": 0}
    batch = [event, {**event, "TRANSACTION_ID": base + 1, "TX_AMOUNT": 7.5}]
    two = httpx.post(
        f"{url}/v1/events",
        json={"source": "transactions", "events": batch},
        headers=_auth("writer"),
    )
    assert two.json() == {"accepted": 1, "duplicate": 1, "late": 0}
    assert _event_count(store) == before + 2
    logged = store.sql(
        f"SELECT TX_AMOUNT FROM transactions WHERE TRANSACTION_ID >= {base} ORDER BY 1"  # noqa: S608
    )
    assert logged["TX_AMOUNT"].tolist() == [7.5, 12.5]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"TX_AMOUNT": "lots"}, "TX_AMOUNT"),
        ({"TX_DATETIME": "2018-05-01T00:00:00"}, "TX_DATETIME"),  # naive
        ({"CUSTOMER_ID": None}, "CUSTOMER_ID"),
        ({"SURPRISE": 1}, "SURPRISE"),
    ],
)
def test_a_bad_event_rejects_its_batch_and_stores_nothing(served, change, field) -> None:
    url, store, world = served
    good = _json_rows(world.transactions.iloc[-1:])[0] | {"TRANSACTION_ID": 10**9}
    bad = {**good, "TRANSACTION_ID": 10**9 + 1, **change}
    before = _event_count(store)
    response = httpx.post(
        f"{url}/v1/events",
        json={"source": "transactions", "events": [good, bad]},
        headers=_auth("writer"),
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert field in error["what"] + error["where"]
    assert error["fix"]
    assert _event_count(store) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"entities": [{"CUSTOMER_ID": 1}]}, "body.model"),
        ({"model": "fraud", "entities": []}, "body.entities"),
        ({"model": "fraud", "entities": [{"CUSTOMER_ID": 1}], "explain": "maybe"}, "body.explain"),
        ({"model": "fraud", "entities": [{"CUSTOMER_ID": 1}], "extra": 1}, "body.extra"),
    ],
)
def test_invalid_bodies_name_the_field(served, body, field) -> None:
    url, _, _ = served
    response = httpx.post(f"{url}/v1/score", json=body, headers=_auth("reader"))
    assert response.status_code == 422
    assert response.json()["error"]["where"] == field


def test_unknown_model_is_404_and_missing_keys_400(served) -> None:
    url, _, _ = served
    response = httpx.post(
        f"{url}/v1/score",
        json={"model": "nobody", "entities": [{"CUSTOMER_ID": 1}]},
        headers=_auth("reader"),
    )
    assert response.status_code == 404
    response = httpx.post(
        f"{url}/v1/score",
        json={"model": "fraud", "entities": [{"CUSTOMER_ID": 1}]},
        headers=_auth("reader"),
    )
    assert response.status_code == 400
    assert "TERMINAL_ID" in response.text


def test_model_management_over_http(served, tmp_path: Path) -> None:
    url, _, world = served
    _, file = save_model(world.v2, tmp_path)
    body = {"path": str(file), "features": "fraud_detection", "metrics": {"auc": 0.5}}
    registered = httpx.post(f"{url}/v1/models/fraud/versions", json=body, headers=_auth("admin"))
    assert registered.status_code == 201, registered.text
    version = registered.json()["version"]
    corrupt = tmp_path / "broken.skops"
    corrupt.write_bytes(file.read_bytes()[:100])
    refused = httpx.post(
        f"{url}/v1/models/fraud/versions",
        json={**body, "path": str(corrupt)},
        headers=_auth("admin"),
    )
    assert refused.status_code == 400
    rows = _json_rows(world.transactions.iloc[-1:])
    score = {"model": "fraud", "entities": rows}
    assert (
        httpx.post(f"{url}/v1/score", json=score, headers=_auth("reader")).json()["predictions"][0][
            "version"
        ]
        == 1
    )
    promoted = httpx.post(
        f"{url}/v1/models/fraud/promote", json={"version": version}, headers=_auth("admin")
    )
    assert promoted.status_code == 200
    assert (
        httpx.post(f"{url}/v1/score", json=score, headers=_auth("reader")).json()["predictions"][0][
            "version"
        ]
        == version
    )
    httpx.post(
        f"{url}/v1/models/fraud/rollback", json={}, headers=_auth("admin")
    ).raise_for_status()
    assert (
        httpx.post(f"{url}/v1/score", json=score, headers=_auth("reader")).json()["predictions"][0][
            "version"
        ]
        == 1
    )
    listed = httpx.get(f"{url}/v1/models", headers=_auth("reader")).json()["models"]
    assert listed[0]["aliases"]["champion"] == 1
    versions = httpx.get(f"{url}/v1/models/fraud", headers=_auth("reader")).json()["versions"]
    assert [v["version"] for v in versions] == list(range(1, version + 1))


def test_metrics_count_requests_predictions_and_events(served) -> None:
    url, _, world = served
    rows = _json_rows(world.transactions.iloc[-3:])
    httpx.post(
        f"{url}/v1/score", json={"model": "fraud", "entities": rows}, headers=_auth("reader")
    ).raise_for_status()
    text = httpx.get(f"{url}/metrics").text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    wanted = {("route", "/v1/score"), ("status", "200")}
    score_requests = [
        v
        for (name, labels), v in samples.items()
        if name == "upwell_http_requests_total" and wanted <= set(labels)
    ]
    assert score_requests
    assert score_requests[0] >= 1
    predictions = sum(v for (n, _), v in samples.items() if n == "upwell_predictions_total")
    assert predictions >= 3
    assert any(n == "upwell_score_duration_seconds_bucket" for n, _ in samples)
    assert any(n == "upwell_http_request_duration_seconds_bucket" for n, _ in samples)
    assert any(n == "upwell_feature_freshness_seconds" for n, _ in samples)
    assert samples[("upwell_model_version", (("alias", "champion"), ("model", "fraud")))] == 1


def test_openapi_lists_every_route(served) -> None:
    url, _, _ = served
    spec = httpx.get(f"{url}/openapi.json").json()
    paths = set(spec["paths"])
    assert {"/v1/features", "/v1/score", "/v1/events", "/v1/models", "/v1/models/{name}/promote",
            "/v1/models/{name}/rollback", "/v1/models/{name}/versions", "/healthz", "/readyz",
            "/metrics"} <= paths  # fmt: skip
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{url}/readyz").status_code == 200
