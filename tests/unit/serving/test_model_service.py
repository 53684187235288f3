"""The model registry and scoring on the fraud example.

Oracles: scikit-learn's own ``predict_proba`` on the training-set builder's features
(scores), the registry's files (nothing changes after a refused model), and counting
(canary shares, sticky routes).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import fraud_serving
import upwell as uw
from upwell.examples.fraud.features import HANDBOOK_FEATURES
from upwell.models.errors import ModelError, ModelNotFoundError
from upwell.models.registry import _fingerprint
from upwell.serving.live_models import Route, sticky_bucket
from upwell.testing import ManualClock

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # sklearn feature-name notes


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[uw.FeatureStore, fraud_serving.FraudWorld]:
    store = uw.FeatureStore(
        fraud_serving.definitions(),
        path=tmp_path_factory.mktemp("store"),
        clock=fraud_serving.clock(),
    )
    built = fraud_serving.build_world(store)
    store.models.register(
        "fraud", built.v1, features="fraud_detection", training_set=built.training,
        metrics={"auc": 0.9}, aliases=("champion",),
    )  # fmt: skip
    store.models.register("fraud", built.v2, features="fraud_detection", aliases=("challenger",))
    yield store, built
    store.close()


def _registry_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def test_served_scores_equal_the_model_on_offline_features(world) -> None:
    store, built = world
    sample = built.transactions.iloc[::37]
    offline = built.training.iloc[::37]
    expected = built.v1.predict_proba(offline[list(HANDBOOK_FEATURES)])[:, 1]
    rows = fraud_serving.entity_rows(sample)
    for row, when, want, features in zip(
        rows, sample["TX_DATETIME"], expected, offline[list(HANDBOOK_FEATURES)].to_numpy(),
        strict=True,
    ):  # fmt: skip
        p = store.score("fraud", row, as_of=when.to_pydatetime())
        assert p.version == 1
        assert p.route is Route.CHAMPION
        got = np.array([p.features[c] for c in HANDBOOK_FEATURES], dtype=float)
        np.testing.assert_array_equal(got, features)  # online == offline, exactly
        assert p.score == pytest.approx(want, rel=1e-12, abs=1e-15)
        assert set(p.timings_us) == {"features", "model", "total"}


def test_batched_scoring_equals_one_by_one(world) -> None:
    store, built = world
    rows = fraud_serving.entity_rows(built.transactions.iloc[-50:])
    at = built.transactions["TX_DATETIME"].iloc[-1].to_pydatetime()
    batch = store.score("fraud", rows, as_of=at)
    singles = [store.score("fraud", r, as_of=at) for r in rows]
    assert [p.score for p in batch] == pytest.approx([p.score for p in singles], rel=1e-12)
    assert [p.features for p in batch] == [p.features for p in singles]


def test_metadata_records_lineage(world) -> None:
    store, built = world
    v1 = store.models.registry.get("fraud", "champion")
    assert v1.version == 1
    assert v1.features == "fraud_detection"
    assert v1.inputs == tuple(HANDBOOK_FEATURES)
    assert v1.definitions_fingerprint == store.registry.fingerprint
    assert v1.metrics == {"auc": 0.9}
    assert v1.training_fingerprint is not None
    changed = built.training.copy()
    changed.iloc[0, -1] += 1.0
    assert _fingerprint(changed) != v1.training_fingerprint
    assert _fingerprint(built.training) == v1.training_fingerprint


def test_promote_and_rollback_switch_the_served_version(world) -> None:
    store, built = world
    row = fraud_serving.entity_rows(built.transactions.iloc[-1:])[0]
    assert store.score("fraud", row).version == 1
    store.models.promote("fraud", 2)
    p = store.score("fraud", row)
    assert p.version == 2
    x = pd.DataFrame([[p.features[c] for c in HANDBOOK_FEATURES]], columns=list(HANDBOOK_FEATURES))
    assert p.score == pytest.approx(built.v2.predict_proba(x)[0, 1], rel=1e-12)
    store.models.rollback("fraud")
    assert store.score("fraud", row).version == 1
    with pytest.raises(ModelError, match="no earlier version"):
        store.models.rollback("fraud", alias="challenger")


def test_shadow_records_the_challenger_without_changing_the_answer(world) -> None:
    store, built = world
    rows = fraud_serving.entity_rows(built.transactions.iloc[-20:])
    plain = store.score("fraud", rows)
    store.models.set_rollout("fraud", "shadow")
    try:
        shadowed = store.score("fraud", rows)
    finally:
        store.models.set_rollout("fraud", "off")
    assert [p.score for p in shadowed] == [p.score for p in plain]
    assert {p.version for p in shadowed} == {1}
    x = pd.DataFrame(
        [[p.features[c] for c in HANDBOOK_FEATURES] for p in shadowed],
        columns=list(HANDBOOK_FEATURES),
    )
    expected = built.v2.predict_proba(x)[:, 1]
    assert [p.shadow.version for p in shadowed] == [2] * len(rows)
    assert [p.shadow.score for p in shadowed] == pytest.approx(list(expected), rel=1e-12)


def test_canary_is_sticky_per_entity_and_near_its_share(world) -> None:
    store, built = world
    last_day = built.transactions["TX_DATETIME"] > fraud_serving.END - timedelta(days=1)
    frame = built.transactions[last_day].drop_duplicates("CUSTOMER_ID")  # features all set
    assert len(frame) > 20
    rows = fraud_serving.entity_rows(frame)
    store.models.set_rollout("fraud", "canary", share=0.5)
    try:
        first = store.score("fraud", rows)
        again = store.score("fraud", rows)
    finally:
        store.models.set_rollout("fraud", "off")
    assert [p.route for p in first] == [p.route for p in again]
    for p in first:
        expected = sticky_bucket("fraud", tuple(p.entity.values())) < 0.5
        assert (p.route is Route.CANARY) == expected
        assert p.version == (2 if expected else 1)
    buckets = [sticky_bucket("fraud", (c,)) for c in range(10_000)]
    assert np.mean(np.array(buckets) < 0.1) == pytest.approx(0.1, abs=0.01)


@pytest.mark.parametrize(
    ("label", "make", "message"),
    [
        ("corrupt", lambda d: _write(d / "m.skops", b"PK\x03\x04 not a zip"), "model"),
        ("unknown format", lambda d: _write(d / "m.bin", b"\x00\x01\x02"), "format"),
        ("missing file", lambda d: d / "nope.onnx", "does not exist"),
    ],
)
def test_refused_files_change_nothing(world, tmp_path: Path, label, make, message) -> None:
    store, built = world
    before = _registry_files(store.models.registry.root)
    row = fraud_serving.entity_rows(built.transactions.iloc[-1:])[0]
    served = store.score("fraud", row)
    with pytest.raises(ModelError, match=message):
        store.models.register("fraud", make(tmp_path), features="fraud_detection")
    assert _registry_files(store.models.registry.root) == before
    assert store.score("fraud", row).score == served.score


def test_inputs_that_do_not_match_the_service_are_refused(world) -> None:
    store, built = world
    before = _registry_files(store.models.registry.root)
    wrong = pd.DataFrame(built.training[list(HANDBOOK_FEATURES[:5])])
    small = LogisticRegression().fit(wrong, built.transactions["TX_FRAUD"])
    with pytest.raises(ModelError, match="takes 5 inputs"):
        store.models.register("fraud", small, features="fraud_detection")
    renamed = LogisticRegression().fit(
        built.training[list(HANDBOOK_FEATURES)].set_axis([f"x{i}" for i in range(15)], axis=1),
        built.transactions["TX_FRAUD"],
    )
    with pytest.raises(ModelError, match="do not match"):
        store.models.register("fraud", renamed, features="fraud_detection")
    assert _registry_files(store.models.registry.root) == before


def test_unknown_names_are_not_found(world) -> None:
    store, _ = world
    with pytest.raises(ModelNotFoundError, match="no model named"):
        store.score("nobody", {"CUSTOMER_ID": 1})
    with pytest.raises(ModelNotFoundError, match="no version 99"):
        store.models.promote("fraud", 99)
    with pytest.raises(ModelError, match="no feature service"):
        store.models.register("x", object(), features="nope")


def test_a_changed_file_is_refused_at_load(world, tmp_path: Path) -> None:
    store, _ = world
    meta = store.models.registry.get("fraud", 1)
    path = store.models.registry.root / "fraud" / "1" / meta.file
    original = path.read_bytes()
    try:
        path.write_bytes(original + b"\x00")
        with pytest.raises(ModelError, match="changed since it was registered"):
            store.models.registry.load(meta)
    finally:
        path.write_bytes(original)


def test_as_of_defaults_to_the_clock(tmp_path: Path) -> None:
    frame = fraud_serving.transactions()
    last = frame["TX_DATETIME"].iloc[-1].to_pydatetime()
    clock = ManualClock(last + timedelta(seconds=1))
    with uw.FeatureStore(fraud_serving.definitions(), clock=clock) as store:
        fraud_serving.load(store, frame)
        rows = fraud_serving.entity_rows(frame.iloc[-3:])
        x = fraud_serving.offline_features(store, frame.iloc[-3:])
        model = LogisticRegression().fit(
            np.vstack([x[list(HANDBOOK_FEATURES)].to_numpy()] * 2), [0, 1, 0, 1, 0, 1]
        )
        store.models.register("m", model, features="fraud_detection", aliases=("champion",))
        now = store.score("m", rows)
        explicit = store.score("m", rows, as_of=last + timedelta(seconds=1))
        assert [p.features for p in now] == [p.features for p in explicit]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
