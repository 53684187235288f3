"""Consent: the latest change per purpose stands, requirements refuse clearly, erasure leaves
only a tombstone. Stores here are the embedded ones; Redis runs the same suite in
tests/integration/test_decisions_consent_contract.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from upwell.decisions.consent import (
    GRANTED,
    WITHDRAWN,
    ConsentChange,
    ConsentRecord,
    ConsentStatus,
    check_change,
    grant,
    latest,
    require,
    subject_digest,
    withdraw,
)
from upwell.decisions.consent_memory import MemoryConsentStore
from upwell.decisions.errors import ConsentError, DecisionError
from upwell.decisions.purpose import Purpose


@pytest.mark.parametrize(
    ("current_at", "change_at", "kept"),
    [
        pytest.param(None, 5, "change", id="first"),
        pytest.param(3, 5, "change", id="later_change"),
        pytest.param(5, 5, "change", id="tie_goes_to_the_newer_write"),
        pytest.param(7, 5, "current", id="older_change_ignored"),
    ],
)
def test_latest_change_stands(current_at: int | None, change_at: int, kept: str) -> None:
    current = None if current_at is None else ConsentChange("m", GRANTED, current_at)
    change = ConsentChange("m", WITHDRAWN, change_at)

    assert latest(current, change) is (change if kept == "change" else current)


def test_require_names_the_missing_purposes() -> None:
    record = ConsentRecord("42", {"marketing": ConsentChange("marketing", GRANTED, 1)})
    needed = (Purpose.MARKETING, Purpose.PERSONALISATION, Purpose.FRAUD_PREVENTION)

    with pytest.raises(ConsentError) as raised:
        require(record, needed, where="FeatureService 'offers'")

    assert raised.value.missing == ("personalisation",)
    assert raised.value.where == "FeatureService 'offers'"
    assert "'42'" in str(raised.value)
    require(record, (Purpose.MARKETING, Purpose.FRAUD_PREVENTION), where="x")


@pytest.mark.parametrize(
    ("entity", "change"),
    [
        pytest.param("", ConsentChange("marketing", GRANTED, 1), id="empty_entity"),
        pytest.param("1", ConsentChange("mark eting", GRANTED, 1), id="purpose_name"),
        pytest.param("1", ConsentChange("marketing", "granted", 1), id="status_str"),  # type: ignore[arg-type]
        pytest.param("1", ConsentChange("marketing", GRANTED, 1.5), id="time_float"),  # type: ignore[arg-type]
    ],
)
def test_bad_changes_are_rejected(entity: str, change: ConsentChange) -> None:
    with pytest.raises(DecisionError, match="Fix:"):
        check_change(entity, change)


def test_changes_apply_by_time_not_by_arrival() -> None:
    store = MemoryConsentStore()

    withdraw(store, "7", Purpose.MARKETING, at_ms=200)
    late = grant(store, "7", Purpose.MARKETING, at_ms=100)
    grant(store, "7", "personalisation", at_ms=50, source="app")

    assert late.changes["marketing"].status is ConsentStatus.WITHDRAWN
    record = store.get("7")
    assert not record.allows(Purpose.MARKETING)
    assert record.allows(Purpose.PERSONALISATION)
    assert record.changes["personalisation"].source == "app"
    assert store.get("8").changes == {}


def test_disk_store_survives_reopening(tmp_path: Path) -> None:
    store = MemoryConsentStore(tmp_path)
    grant(store, "7", Purpose.MARKETING, at_ms=100)
    withdraw(store, "7", Purpose.MARKETING, at_ms=300)
    grant(store, "9", Purpose.PERSONALISATION, at_ms=5)
    store.close()

    reopened = MemoryConsentStore(tmp_path)

    assert reopened.get("7").changes["marketing"] == ConsentChange("marketing", WITHDRAWN, 300)
    assert reopened.get("9").allows(Purpose.PERSONALISATION)
    reopened.close()


def test_unclosed_disk_store_keeps_acknowledged_changes(tmp_path: Path) -> None:
    store = MemoryConsentStore(tmp_path)
    grant(store, "7", Purpose.MARKETING, at_ms=100)
    store._journal.close()  # type: ignore[union-attr]  # the process dies: no last snapshot

    reopened = MemoryConsentStore(tmp_path)

    assert reopened.get("7").allows(Purpose.MARKETING)
    reopened.close()


def test_erasure_leaves_a_tombstone_and_no_personal_data(tmp_path: Path) -> None:
    store = MemoryConsentStore(tmp_path, salt=b"secret")
    grant(store, "alice-1234", Purpose.MARKETING, at_ms=100, source="branch-kingston")
    grant(store, "bob-5678", Purpose.MARKETING, at_ms=100)

    tombstone = store.erase("alice-1234", at_ms=999)

    assert store.get("alice-1234").changes == {}
    assert store.get("bob-5678").allows(Purpose.MARKETING)
    assert tombstone.at_ms == 999
    assert tombstone.consent_records == 1
    assert tombstone.subject_digest == subject_digest("alice-1234", b"secret")
    assert tombstone.subject_digest != subject_digest("alice-1234", b"")
    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"alice-1234" not in on_disk
    assert b"branch-kingston" not in on_disk
    assert b"bob-5678" in on_disk
    store.close()

    reopened = MemoryConsentStore(tmp_path, salt=b"secret")
    assert reopened.erasures("alice-1234") == (tombstone,)
    assert reopened.erasures("bob-5678") == ()
    assert reopened.get("alice-1234").changes == {}
    reopened.close()
