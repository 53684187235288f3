"""Property-based fuzzing of the HTTP API from its own OpenAPI document (schemathesis).

Schemathesis generates requests for every operation of ``/openapi.json``, both valid
for the schema and deliberately invalid, and sends them to a real uvicorn server. The
properties: no response is a server error (5xx), every error body says what, where and
how to fix, and a rejected request (4xx) changes no state: the event log, the dead
letters and the model registry are byte-for-byte what they were.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

import fraud_serving
import upwell as uw
from live_server import thread_server
from upwell.server.app import create_app
from upwell.server.auth import ApiKey, Scope
from upwell.server.settings import ServerSettings

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]

KEY = "fuzz-admin-key-0123456789"
EXAMPLES_PER_MODE = 50  # x 2 modes x 17 operations: over 1,000 requests sent


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, uw.FeatureStore, Any]]:
    path = tmp_path_factory.mktemp("fuzz")
    store = uw.FeatureStore(fraud_serving.definitions(), path=path, clock=fraud_serving.clock())
    world = fraud_serving.build_world(store)
    store.models.register("fraud", world.v1, features="fraud_detection", aliases=("champion",))
    key = ApiKey(
        name="admin", sha256=hashlib.sha256(KEY.encode()).hexdigest(), scopes=frozenset(Scope)
    )
    app = create_app(store, ServerSettings(api_keys=(key,), refresh_interval_s=0.2))
    spec = app.openapi()
    with thread_server(app) as url:
        yield url, store, spec


def _state(store: uw.FeatureStore) -> tuple[Any, ...]:
    root = store.models.registry.root
    files = {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }
    counts = tuple(store.events(s).num_rows for s in ("transactions", "fraud_labels"))
    dead = store.path / "dead_letters.jsonl" if store.path else None
    dead_bytes = dead.read_bytes() if dead is not None and dead.exists() else b""
    return counts, dead_bytes, files


def test_generated_requests_never_fail_the_server_or_change_state_when_refused(server) -> None:
    url, store, spec = server
    schema = schemathesis.openapi.from_dict(spec)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 11
    sent: list[tuple[str, int]] = []
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            _fuzz(operation, mode, url, store, sent)
    assert len(sent) >= 1000, len(sent)
    assert not [s for s in sent if s[1] >= 500]
    statuses = {status for _, status in sent}
    assert {200, 400, 404, 422} & statuses  # the generator reached past validation too


def _fuzz(
    operation: Any, mode: Any, url: str, store: uw.FeatureStore, sent: list[tuple[str, int]]
) -> None:
    @settings(
        max_examples=EXAMPLES_PER_MODE,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=operation.as_strategy(generation_mode=mode), with_key=st.integers(0, 4).map(bool)
    )  # mostly with a key
    def run(case: Any, with_key: bool) -> None:
        before = _state(store)
        headers = {"Authorization": f"Bearer {KEY}"} if with_key else {}
        response = case.call(base_url=url, headers=headers, timeout=30)
        sent.append((operation.label, response.status_code))
        assert response.status_code < 500, (operation.label, response.text)
        if response.status_code >= 400:
            body = response.json()
            assert body["error"]["what"], body
            assert "fix" in body["error"], body
            assert _state(store) == before, (operation.label, case.body)
        if not with_key and operation.path.startswith("/v1"):
            assert response.status_code == 401

    try:
        run()
    except Unsatisfiable:
        # Operations without parameters or body (GET /healthz) have no invalid requests.
        if mode is not schemathesis.GenerationMode.NEGATIVE:
            raise


def test_the_document_is_valid_openapi(server) -> None:
    _, _, spec = server
    assert spec["openapi"].startswith("3.")
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            assert operation.get("summary"), f"{method.upper()} {path} has no summary"


def test_state_snapshot_sees_changes(server, tmp_path: Path) -> None:
    # The property above is only as good as _state: show it notices a real change.
    _, store, _ = server
    before = _state(store)
    store.models.set_rollout("fraud", "off")
    assert _state(store) != before
