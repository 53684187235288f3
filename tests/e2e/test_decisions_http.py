"""Decisions, consent, erasure and lineage over a real uvicorn server (and in Python).

The store holds the next-best-action example's features plus a marketing service (its
features need marketing consent) and a model on it. Expected decisions are derived by
hand from the policy's rules (see upwell.examples.next_best_action.policy): a customer
whose card is 96% used and who paid a tax bill an hour ago gets the tax alert (priority
30), then the balance-transfer offer (20, needs marketing consent), then nothing (the
alert's 24h cooldown, the credit group's 30-day cooldown).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import upwell as uw
from live_server import thread_server
from upwell.decisions.errors import ConsentError
from upwell.decisions.policy import Action, Policy
from upwell.decisions.purpose import Purpose
from upwell.definitions.expressions import col
from upwell.definitions.service import FeatureService
from upwell.examples.next_best_action.features import DEFINITIONS, customer
from upwell.examples.next_best_action.policy import POLICY
from upwell.server.app import create_app
from upwell.server.auth import ApiKey, Scope
from upwell.server.settings import ServerSettings
from upwell.testing import ManualClock

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

NOW = datetime(2024, 3, 1, 12, tzinfo=UTC)
KEYS = {
    "reader": ("reader-key-0123456789", {Scope.FEATURES_READ}),
    "writer": ("writer-key-0123456789", {Scope.FEATURES_READ, Scope.EVENTS_WRITE}),
}
marketing_profile = FeatureService(
    name="marketing_profile",
    features=("card.balance", "card.credit_limit"),
    output_names=("balance", "credit_limit"),
    purposes=(Purpose.MARKETING,),
)
OUTREACH = Policy(
    name="outreach",
    entity=customer,
    actions=(Action(name="newsletter", eligible=col("balance") > 0),),
    features=marketing_profile,
    purposes=(Purpose.MARKETING,),
)


def _auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name][0]}"}


def _card(customer_id: int, n: int, category: str, balance: float, minutes_ago: int) -> dict:
    return {
        "event_id": f"tx-{customer_id}-{n}",
        "customer_id": customer_id,
        "ts": NOW - timedelta(minutes=minutes_ago),
        "amount": 25.0,
        "balance": balance,
        "credit_limit": 5_000.0,
        "category": category,
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, uw.FeatureStore]]:
    store = uw.FeatureStore(
        [*DEFINITIONS, marketing_profile],
        path=tmp_path_factory.mktemp("store"),
        clock=ManualClock(NOW),
    )
    store.decisions.add(POLICY, OUTREACH)
    events = [
        _card(44, 1, "purchase", 1_000.0, 30 * 60),  # 30 hours ago: outside the 1d window
        _card(44, 2, "donation", 1_100.0, 20 * 60),
        _card(44, 3, "purchase", 1_200.0, 120),
    ]
    events += [_card(c, 1, "tax_payment", 4_800.0, 60) for c in (42, 43, 45)]
    store.push("card_transactions", sorted(events, key=lambda e: e["ts"]))
    x = np.random.default_rng(7).uniform(0, 5_000, size=(200, 2))
    model = LogisticRegression().fit(x, (x[:, 0] > 2_500).astype(int))
    store.models.register("propensity", model, features="marketing_profile", aliases=("champion",))
    keys = tuple(
        ApiKey(name=n, sha256=hashlib.sha256(k.encode()).hexdigest(), scopes=frozenset(s))
        for n, (k, s) in KEYS.items()
    )
    with thread_server(create_app(store, ServerSettings(api_keys=keys))) as url:
        yield url, store


def _decide(url: str, policy: str, customer_id: int, request_id: str) -> dict[str, Any]:
    body = {"policy": policy, "entity": {"customer_id": customer_id}, "request_id": request_id}
    response = httpx.post(f"{url}/v1/decisions", json=body, headers=_auth("reader"))
    assert response.status_code == 200, response.text
    return dict(response.json())


def _set_consent(url: str, customer_id: int, status: str) -> httpx.Response:
    body = {"purpose": "marketing", "status": status, "source": "app-settings"}
    return httpx.put(f"{url}/v1/consent/customer/{customer_id}", json=body, headers=_auth("writer"))


def test_decisions_take_the_allowed_actions_and_a_retry_gets_the_same(served: Any) -> None:
    url, store = served
    assert _set_consent(url, 42, "granted").status_code == 200
    first = _decide(url, "next_best_action", 42, "evt-1")
    assert (first["action"], first["refused"], first["replayed"]) == ("tax_alert", False, False)
    assert first["entity_key"] == "customer:42"
    rules = {(r["rule"], r["action"]): r["outcome"] for r in first["reasons"]}
    assert rules[("eligibility", "tax_alert")] == "passed"
    assert rules[("max_actions", "balance_transfer_offer")] == "rejected"
    second = _decide(url, "next_best_action", 42, "evt-2")
    assert second["action"] == "balance_transfer_offer"
    third = _decide(url, "next_best_action", 42, "evt-3")
    assert third["action"] is None
    rejected = {c["action"]: c["rule"] for c in third["considered"]}
    assert rejected["tax_alert"] == "cooldown"
    assert rejected["balance_transfer_offer"] == "group_cooldown"
    retried = _decide(url, "next_best_action", 42, "evt-1")
    assert (retried["action"], retried["replayed"]) == ("tax_alert", True)
    assert retried["state_version"] == first["state_version"]
    in_python = store.decide("next_best_action", {"customer_id": 42}, "evt-2")
    assert (in_python.action, in_python.replayed) == ("balance_transfer_offer", True)
    logged = store.decisions.log.read("customer:42")
    assert [d["action"] for d in logged] == ["tax_alert", "balance_transfer_offer", None]
    assert logged[0]["values"]["utilisation"] == pytest.approx(0.96)


def test_without_consent_features_scores_and_actions_are_refused(served: Any) -> None:
    url, store = served
    read = {"features": "marketing_profile", "entities": [{"customer_id": 43}]}
    refused = httpx.post(f"{url}/v1/features", json=read, headers=_auth("reader"))
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["type"] == "ConsentError"
    assert "customer:43" in error["what"]
    assert "marketing" in error["what"]
    assert error["where"] == "FeatureService 'marketing_profile'"
    with pytest.raises(ConsentError) as caught:
        store.get_features("marketing_profile", {"customer_id": 43})
    assert caught.value.missing == ("marketing",)
    score = {"model": "propensity", "entities": [{"customer_id": 43}]}
    assert httpx.post(f"{url}/v1/score", json=score, headers=_auth("reader")).status_code == 400
    with pytest.raises(ConsentError):
        store.score("propensity", {"customer_id": 43})
    outreach = _decide(url, "outreach", 43, "o-1")
    assert outreach["refused"] is True
    assert outreach["action"] is None
    assert outreach["reasons"][0]["rule"] == "consent"
    assert "no consent recorded for marketing" in outreach["reasons"][0]["detail"]

    assert _set_consent(url, 43, "granted").status_code == 200  # applies to the next request
    served_now = httpx.post(f"{url}/v1/features", json=read, headers=_auth("reader"))
    assert served_now.json()["features"] == [{"balance": 4_800.0, "credit_limit": 5_000.0}]
    assert httpx.post(f"{url}/v1/score", json=score, headers=_auth("reader")).status_code == 200
    assert _decide(url, "outreach", 43, "o-2")["action"] == "newsletter"

    withdrawn = _set_consent(url, 43, "withdrawn").json()
    assert withdrawn["purposes"]["marketing"]["status"] == "withdrawn"
    assert httpx.post(f"{url}/v1/features", json=read, headers=_auth("reader")).status_code == 400
    assert _decide(url, "outreach", 43, "o-3")["refused"] is True
    nba = _decide(url, "next_best_action", 43, "n-1")
    assert nba["action"] == "tax_alert"  # a service message: no consent needed
    nba = _decide(url, "next_best_action", 43, "n-2")
    offer = next(c for c in nba["considered"] if c["action"] == "balance_transfer_offer")
    assert (nba["action"], offer["rule"]) == (None, "consent")
    assert "marketing withdrawn at" in offer["detail"]
    assert store.consent("customer", 43).changes["marketing"].source == "app-settings"


def test_consent_changes_and_erasure_need_the_write_scope(served: Any) -> None:
    url, store = served
    body = {"purpose": "marketing", "status": "granted"}
    put = httpx.put(f"{url}/v1/consent/customer/45", json=body, headers=_auth("reader"))
    assert put.status_code == 403
    erase = {"entity": "customer", "key": 45}
    assert httpx.post(f"{url}/v1/erase", json=erase, headers=_auth("reader")).status_code == 403
    assert httpx.post(f"{url}/v1/erase", json=erase).status_code == 401
    consent = httpx.get(f"{url}/v1/consent/customer/45", headers=_auth("reader")).json()
    assert consent == {"entity": "customer", "subject": "customer:45", "purposes": {}}
    assert store.get_features("next_best_action", {"customer_id": 45})["balance"] == 4_800.0


def test_lineage_and_erasure_over_http(served: Any) -> None:
    url, store = served
    lineage = httpx.get(
        f"{url}/v1/lineage/features/card.tax_events_1d",
        params={"customer_id": "44"},
        headers=_auth("reader"),
    ).json()
    assert lineage["definitions"] == store.registry.fingerprint
    assert (lineage["source"], lineage["entity"], lineage["key"]) == (
        "card_transactions",
        "customer",
        {"customer_id": 44},
    )
    # the 1d window holds the events of 20h and 2h ago; only the donation is tax-relevant
    seen = [(e["event_id"], e["counted"]) for e in lineage["events"]]
    assert seen == [("tx-44-2", True), ("tx-44-3", False)]
    assert store.get_features("next_best_action", {"customer_id": 44})["tax_events_1d"] == 1

    erase = {"entity": "customer", "key": "44"}
    record = httpx.post(f"{url}/v1/erase", json=erase, headers=_auth("writer")).json()
    assert (record["entity"], record["removed"]["events"]) == ("customer", 3)
    # The record keeps a keyed digest of the subject, never the key itself.
    assert len(record["subject_digest"]) == 64
    assert int(record["subject_digest"], 16) >= 0
    assert not {"44", 44} & {v for v in record.values() if isinstance(v, str | int)}
    after = store.get_features("next_best_action", {"customer_id": 44})
    assert (after["balance"], after["tax_events_1d"]) == (None, 0)
    assert store.get_features("next_best_action", {"customer_id": 45})["balance"] == 4_800.0
    again = httpx.get(
        f"{url}/v1/lineage/features/card.tax_events_1d",
        params={"customer_id": "44"},
        headers=_auth("reader"),
    ).json()
    assert again["events"] == []
    unknown = httpx.post(
        f"{url}/v1/erase", json={"entity": "planet", "key": 1}, headers=_auth("writer")
    )
    assert unknown.status_code == 404
    assert "customer" in unknown.json()["error"]["fix"]


def test_cli_records_consent_and_erases(tmp_path: Any) -> None:
    from typer.testing import CliRunner  # noqa: PLC0415

    from upwell.cli.app import app  # noqa: PLC0415

    (tmp_path / "features.py").write_text(
        "from upwell.examples.next_best_action.features import DEFINITIONS\n"
        "definitions = list(DEFINITIONS)\n"
    )
    (tmp_path / "upwell.toml").write_text(
        '[project]\nname = "nba"\ndefinitions = "features.py"\ndata = "data"\n'
    )
    runner = CliRunner()
    project = ["--project", str(tmp_path)]
    granted = runner.invoke(app, ["consent", "customer", "7", "--grant", "marketing", *project])
    assert granted.exit_code == 0, granted.output
    assert '"status": "granted"' in granted.output
    erased = runner.invoke(app, ["erase", "customer", "7", "--yes", *project])
    assert erased.exit_code == 0, erased.output
    assert '"consent_records": 1' in erased.output
    shown = runner.invoke(app, ["consent", "customer", "7", *project])
    assert '"purposes": {}' in shown.output
    unknown = runner.invoke(app, ["erase", "planet", "1", "--yes", *project])
    assert unknown.exit_code == 1
