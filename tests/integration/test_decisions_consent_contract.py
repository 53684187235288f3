"""One behaviour suite for every consent store: memory, a directory, Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from integration.test_decisions_support import connect_redis, disconnect, namespace
from upwell.decisions.consent import (
    GRANTED,
    WITHDRAWN,
    ConsentChange,
    ConsentStore,
    grant,
    subject_digest,
    withdraw,
)
from upwell.decisions.consent_memory import MemoryConsentStore
from upwell.decisions.consent_redis import RedisConsentStore
from upwell.decisions.purpose import Purpose


@pytest.fixture(params=["memory", "directory", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ConsentStore]:
    if request.param == "redis":
        client = connect_redis()
        with namespace(client) as name:
            yield RedisConsentStore(client, namespace=name, salt=b"s")
        disconnect(client)
        return
    memory = MemoryConsentStore(tmp_path if request.param == "directory" else None, salt=b"s")
    yield memory
    memory.close()


def test_nothing_recorded_means_no_consent(store: ConsentStore) -> None:
    record = store.get("c1")

    assert record.changes == {}
    assert not record.allows(Purpose.MARKETING)
    assert record.allows(Purpose.FRAUD_PREVENTION)


def test_the_latest_change_per_purpose_stands(store: ConsentStore) -> None:
    grant(store, "c1", Purpose.MARKETING, at_ms=100, source="web")
    withdraw(store, "c1", Purpose.MARKETING, at_ms=300, source="phone")
    stale = grant(store, "c1", Purpose.MARKETING, at_ms=200)
    grant(store, "c1", Purpose.PERSONALISATION, at_ms=50)
    tie = grant(store, "c1", Purpose.PERSONALISATION, at_ms=50, source="again")

    assert stale.changes["marketing"] == ConsentChange("marketing", WITHDRAWN, 300, "phone")
    assert tie.changes["personalisation"] == ConsentChange("personalisation", GRANTED, 50, "again")
    assert store.get("c1") == tie
    assert store.get("c2").changes == {}


def test_erase_leaves_only_a_tombstone(store: ConsentStore) -> None:
    grant(store, "c1", Purpose.MARKETING, at_ms=100)
    grant(store, "c1", Purpose.PERSONALISATION, at_ms=100)
    grant(store, "c2", Purpose.MARKETING, at_ms=100)

    tombstone = store.erase("c1", at_ms=500)
    second = store.erase("c1", at_ms=600)

    assert store.get("c1").changes == {}
    assert store.get("c2").allows(Purpose.MARKETING)
    assert (tombstone.at_ms, tombstone.consent_records) == (500, 2)
    assert tombstone.subject_digest == subject_digest("c1", b"s")
    assert second.consent_records == 0
    assert store.erasures("c1") == (tombstone, second)
    assert store.erasures("c2") == ()
    grant(store, "c1", Purpose.MARKETING, at_ms=700)  # a returning customer starts afresh
    assert store.get("c1").allows(Purpose.MARKETING)
