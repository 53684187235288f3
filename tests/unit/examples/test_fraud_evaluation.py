"""The fraud example's evaluation protocol, ranking, scorers and report.

Oracles: hand-computed values on small frames; NumPy's own scalar introsort (reached through
``np.longdouble``, which has no SIMD sort) and outputs of NumPy 1.26.4's heapsort for the
handbook's tie order; the libraries' ``predict_proba`` for the compiled scorers.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier
from xgboost import XGBClassifier

from upwell.examples.fraud._compiled_trees import compile_sklearn_trees, compile_xgboost
from upwell.examples.fraud._handbook_sort import _heapsort, descending_order, introsort_argsort
from upwell.examples.fraud.evaluation import (
    FEATURES,
    EvaluationError,
    assess,
    card_precision_at_k,
    split_train_test,
)
from upwell.examples.fraud.models import MODEL_NAMES, library_versions, train_models
from upwell.examples.fraud.report import ReportError, ScoredSet, latency_summary, write_report
from upwell.examples.fraud.scoring import (
    ForestScorer,
    ScoringError,
    TreeScorer,
    XGBoostScorer,
    compile_scorer,
)

# ---------------------------------------------------------------- card precision@k


def _scored(rows: list[tuple[int, int, float, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["TX_TIME_DAYS", "CUSTOMER_ID", "predictions", "TX_FRAUD"])


# Day 1: card 1 (max score 0.9, fraud), card 2 (0.8, genuine), card 3 (0.7, fraud; its fraud
# is on a low-scored transaction). Day 2: card 1 again (dropped once detected), 3, 4, 5.
TWO_DAYS = _scored(
    [
        (1, 1, 0.9, 1),
        (1, 1, 0.2, 0),
        (1, 2, 0.8, 0),
        (1, 3, 0.7, 0),
        (1, 3, 0.1, 1),
        (2, 1, 0.95, 1),
        (2, 3, 0.6, 1),
        (2, 4, 0.5, 0),
        (2, 5, 0.4, 1),
    ]
)


@pytest.mark.parametrize(
    ("k", "expected_daily"),
    [
        # k=2: day 1 checks cards 1, 2 -> 1/2; card 1 detected. Day 2 checks 3, 4 -> 1/2.
        (2, [0.5, 0.5]),
        # k=1: day 1 card 1 -> 1; day 2 card 3 (card 1 dropped) -> 1.
        (1, [1.0, 1.0]),
        # k=5: day 1 has 3 cards, 2 fraudulent -> 2/5 (always / k); cards 1 and 3 detected,
        # so day 2 has cards 4, 5 -> 1/5.
        (5, [0.4, 0.2]),
    ],
    ids=["k2", "k1", "k5-denominator-is-k"],
)
def test_card_precision_hand_computed(k: int, expected_daily: list[float]) -> None:
    mean, daily = card_precision_at_k(TWO_DAYS, k)
    assert daily == expected_daily
    assert mean == pytest.approx(np.mean(expected_daily))


def test_card_precision_drops_only_detected_cards() -> None:
    # k=1: day 1 checks card 2 (genuine): nothing detected, so card 2 stays in day 2.
    frame = _scored([(1, 2, 0.9, 0), (1, 3, 0.1, 1), (2, 2, 0.9, 1), (2, 3, 0.8, 1)])
    assert card_precision_at_k(frame, 1) == (0.5, [0.0, 1.0])


def test_card_precision_ties_in_a_small_day_keep_customer_order() -> None:
    # Three cards tie; a day this small is insertion-sorted, so ascending CUSTOMER_ID wins.
    frame = _scored([(1, 9, 0.5, 1), (1, 4, 0.5, 0), (1, 7, 0.5, 1)])
    assert card_precision_at_k(frame, 1)[1] == [0.0]
    assert card_precision_at_k(frame, 2)[1] == [0.5]


def test_card_precision_rejects_nan_scores_and_bad_k() -> None:
    with pytest.raises(EvaluationError, match="NaN"):
        card_precision_at_k(_scored([(1, 1, float("nan"), 0)]))
    with pytest.raises(EvaluationError, match="k >= 1"):
        card_precision_at_k(TWO_DAYS, 0)


def test_assess_hand_computed() -> None:
    # Ranking .8(1) .4(0) .35(1) .1(0): AUC = 3 of 4 pairs = 0.75;
    # AP = 0.5 * 1 + 0.5 * 2/3; CP@100 = 1/100 (one card a day, fraudulent on day 1 only).
    frame = _scored([(1, 1, 0.8, 1), (1, 1, 0.1, 0), (2, 2, 0.4, 0), (2, 2, 0.35, 1)])
    result = assess(frame, "predictions")
    assert result["auc_roc"] == pytest.approx(0.75)
    assert result["average_precision"] == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert result["daily_card_precision_at_100"] == [0.01, 0.01]
    assert result["card_precision_at_100"] == pytest.approx(0.01)


# ---------------------------------------------------------------- the handbook's tie order


@pytest.mark.parametrize("high", [2, 3, 50, 10**9], ids=["0-1", "0-2", "0-49", "distinct"])
def test_introsort_replays_numpy_scalar_quicksort(high: int) -> None:
    rng = np.random.default_rng(high)
    for n in [*range(40), 100, 1000, 5000]:
        values = rng.integers(0, high, size=n).astype(np.float64)
        expected = np.argsort(values.astype(np.longdouble), kind="quicksort")
        assert introsort_argsort(values.tolist()) == expected.tolist(), n


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1.0, 1.0], [1, 0]),
        ([1.0, 1.0, 1.0, 1.0, 1.0], [1, 2, 3, 4, 0]),
        ([0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0], [7, 2, 0, 4, 5, 6, 3, 1]),
        ([2.0, 0.0, 1.0, 2.0, 1.0, 0.0, 2.0, 1.0, 0.0, 1.0], [5, 8, 1, 2, 4, 7, 9, 6, 3, 0]),
    ],
    ids=["two", "five-equal", "binary", "three-levels"],
)
def test_heapsort_fallback_matches_numpy_heapsort(values: list[float], expected: list[int]) -> None:
    # Expected: np.argsort(np.array(values, np.longdouble), kind="heapsort") in NumPy 1.26.4.
    order = list(range(len(values)))
    _heapsort(values, order, 0, len(values))
    assert order == expected


def test_descending_order_is_pandas_descending_sort() -> None:
    # pandas 1.x: reverse, argsort ascending (introsort), reverse back.
    scores = np.random.default_rng(3).integers(0, 4, size=3000).astype(np.float64) / 4
    ascending = np.argsort(scores[::-1].astype(np.longdouble), kind="quicksort")
    expected = (len(scores) - 1 - ascending)[::-1]
    order = descending_order(scores)
    np.testing.assert_array_equal(order, expected)
    assert np.all(np.diff(scores[order]) <= 0)


# ---------------------------------------------------------------- the split


def _transactions(days: int, customers: int, frauds: dict[tuple[int, int], int]) -> pd.DataFrame:
    """One transaction per customer and day at noon; ``frauds[(day, customer)] = 1``."""
    rows = [
        (d * customers + c, pd.Timestamp("2018-04-01 12:00") + pd.Timedelta(days=d), c, d)
        for d in range(days)
        for c in range(customers)
    ]
    frame = pd.DataFrame(
        rows, columns=["TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TX_TIME_DAYS"]
    )
    frame["TX_FRAUD"] = [frauds.get((d, c), 0) for _, _, c, d in rows]
    return frame


def test_split_removes_known_compromised_cards_day_by_day() -> None:
    # Train days 0-1, delay days 2-3, test days 4-6 (deltas 2/2/3), 6 customers, one
    # transaction each a day. Frauds: customer 0 on day 1 (train), 1 on day 2, 2 on day 3,
    # 3 on day 4 (a test day), 4 on day 7 (after the test); 5 never.
    # Before test day 4 + k the known cards are the train frauds plus those of day 1 + k:
    #   day 4: {0}        day 5: {0, 1}        day 6: {0, 1, 2}
    # (customer 3's own test-day fraud is never "known" inside the test week).
    frauds = {(1, 0): 1, (2, 1): 1, (3, 2): 1, (4, 3): 1, (7, 4): 1}
    frame = _transactions(days=8, customers=6, frauds=frauds)
    train, test = split_train_test(frame, "2018-04-01", delta_train=2, delta_delay=2, delta_test=3)
    assert train["TX_TIME_DAYS"].tolist() == [0] * 6 + [1] * 6
    kept = test.groupby("TX_TIME_DAYS")["CUSTOMER_ID"].apply(list).to_dict()
    assert kept == {4: [1, 2, 3, 4, 5], 5: [2, 3, 4, 5], 6: [3, 4, 5]}
    assert test["TRANSACTION_ID"].is_monotonic_increasing
    assert test.index.tolist() == list(range(len(test)))


def test_split_reads_the_start_in_the_data_time_zone() -> None:
    frame = _transactions(days=8, customers=3, frauds={(0, 1): 1})
    utc = frame.assign(TX_DATETIME=frame["TX_DATETIME"].dt.tz_localize("UTC"))
    naive_split = split_train_test(frame, "2018-04-02", 2, 1, 2)
    for start in ("2018-04-02", pd.Timestamp("2018-04-02", tz="UTC")):
        utc_split = split_train_test(utc, start, 2, 1, 2)
        for naive_part, utc_part in zip(naive_split, utc_split, strict=True):
            assert naive_part["TRANSACTION_ID"].tolist() == utc_part["TRANSACTION_ID"].tolist()


def test_split_without_test_days_and_outside_the_data() -> None:
    frame = _transactions(days=4, customers=2, frauds={})
    train, test = split_train_test(frame, "2018-04-01", 2, 1, 0)
    assert len(train) == 4
    assert test.empty
    assert list(test.columns) == list(frame.columns)
    with pytest.raises(EvaluationError, match="training period"):
        split_train_test(frame, "2019-01-01")


# ---------------------------------------------------------------- models and scorers


@pytest.fixture(scope="module")
def synthetic() -> tuple[pd.DataFrame, np.ndarray]:
    """A training frame with the 15 features, and rows to score (with exact duplicates)."""
    rng = np.random.default_rng(7)
    n = 2000
    x = rng.normal(size=(n, len(FEATURES))) * rng.uniform(0.5, 50, size=len(FEATURES))
    x[:, 1:3] = rng.integers(0, 2, size=(n, 2))
    margin = x[:, 0] / 30 + 2 * x[:, 1] - x[:, 3] / 40 + rng.normal(size=n)
    frame = pd.DataFrame(x, columns=list(FEATURES)).assign(TX_FRAUD=(margin > 2.5).astype(int))
    queries = np.vstack([rng.normal(size=(500, len(FEATURES))) * 30, x[:200]])
    return frame, queries


@pytest.fixture(scope="module")
def trained(synthetic: tuple[pd.DataFrame, np.ndarray]) -> dict:
    # One thread: the models are the same with any number (see make_estimator), and a
    # busy machine slows OpenMP down a lot.
    return train_models(synthetic[0], n_jobs=1)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_live_scores_equal_offline_scores_and_the_library(
    trained: dict, synthetic: tuple[pd.DataFrame, np.ndarray], name: str
) -> None:
    model, queries = trained[name], synthetic[1]
    scorer = compile_scorer(model)
    many = scorer.score_many(queries)
    one = np.array([scorer.score_one(row) for row in queries])
    assert one.tobytes() == many.tobytes()  # bit for bit
    np.testing.assert_allclose(many, model.predict_proba(queries), rtol=0, atol=1e-9)
    assert 0.0 < many.mean() < 1.0


def test_train_models_uses_the_handbook_settings(trained: dict) -> None:
    assert tuple(trained) == MODEL_NAMES
    params = {name: m.estimator.get_params() for name, m in trained.items()}
    assert params["logistic_regression"]["C"] == 1.0
    assert params["decision_tree_depth_2"]["max_depth"] == 2
    assert params["decision_tree"]["max_depth"] is None
    assert len(trained["random_forest"].estimator.estimators_) == 100
    assert params["xgboost"]["tree_method"] == "exact"
    assert trained["xgboost"].estimator.get_booster().num_boosted_rounds() == 100
    scalers = {id(m.scaler) for m in trained.values()}
    assert len(scalers) == 1


def test_scorers_follow_the_libraries_on_thresholds_and_missing_values() -> None:
    # Integer training data puts thresholds at half-integers; half-integer queries hit them
    # exactly (scikit-learn goes left on equality, XGBoost right); NaN follows each
    # library's missing-value rule. Identity scaling feeds the raw values through.
    rng = np.random.default_rng(11)
    x = rng.integers(0, 6, size=(800, 3)).astype(np.float64)
    y = (x[:, 0] + x[:, 1] / 2 + rng.normal(size=800) > 4).astype(int)
    queries = rng.integers(0, 12, size=(400, 3)) / 2
    queries[::7, 0] = np.nan
    queries[::11, 2] = np.nan
    zeros, ones = np.zeros(3), np.ones(3)
    forest = RandomForestClassifier(n_estimators=20, random_state=0).fit(x, y)
    tree = DecisionTreeClassifier(random_state=0).fit(x, y)
    boosted = XGBClassifier(n_estimators=20, tree_method="exact", base_score=0.5).fit(x, y)
    cases = [
        (ForestScorer(zeros, ones, compile_sklearn_trees(forest.estimators_)), forest),
        (ForestScorer(zeros, ones, compile_sklearn_trees([tree])), tree),
        (TreeScorer(zeros, ones, compile_sklearn_trees([tree])), tree),
        (XGBoostScorer(zeros, ones, *compile_xgboost(boosted.get_booster())), boosted),
    ]
    for scorer, estimator in cases:
        many = scorer.score_many(queries)
        one = np.array([scorer.score_one(row) for row in queries])
        assert one.tobytes() == many.tobytes()
        np.testing.assert_allclose(many, estimator.predict_proba(queries)[:, 1], rtol=0, atol=1e-9)


def test_compile_scorer_rejects_other_estimators(trained: dict) -> None:
    odd = replace(trained["logistic_regression"], name="dummy", estimator=DummyClassifier())
    with pytest.raises(ScoringError, match="DummyClassifier"):
        compile_scorer(odd)


def test_library_versions_names_the_libraries() -> None:
    versions = library_versions()
    assert set(versions) == {"python", "numpy", "pandas", "scikit-learn", "xgboost"}
    assert all(re.match(r"\d+\.\d+", v) for v in versions.values())


# ---------------------------------------------------------------- the report


def _summary() -> dict:
    metrics = {"auc_roc": 0.8, "average_precision": np.float64(0.5), "card_precision_at_100": 0.25}
    return {
        "models": {"m": {"test": metrics, "train": metrics}},
        "online_equals_offline": np.bool_(True),
        "latency_us": {"p50": 10.0, "p99": 20.0, "max": 30.0, "what": "scores"},
        "throughput_events_per_s": 1234.5,
        "versions": library_versions(),
        "extra": {"nan": float("nan"), "array": np.arange(3)},
    }


def test_write_report_writes_json_and_a_self_contained_page(tmp_path) -> None:
    rng = np.random.default_rng(0)
    n = 400
    scored = {
        name: ScoredSet(
            scores=rng.uniform(size=n),
            labels=rng.integers(0, 2, size=n),
            days=np.repeat([10, 11], n // 2),
            customer_ids=rng.integers(0, 50, size=n),
        )
        for name in ("a", "b")
    }
    json_path, html_path = write_report(
        tmp_path / "out", _summary(), test_scores=scored, latency_samples_us=rng.gamma(2, 10, 500)
    )
    report = json.loads(json_path.read_text())
    assert report["models"]["m"]["test"]["average_precision"] == 0.5
    assert report["online_equals_offline"] is True
    assert report["extra"] == {"nan": None, "array": [0, 1, 2]}
    page = html_path.read_text()
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert len(images) == 3  # curves, daily precision, latency
    assert all(base64.b64decode(i).startswith(b"\x89PNG\r\n\x1a\n") for i in images)
    assert "<td>0.800</td>" in page
    assert "src='http" not in page  # nothing fetched from elsewhere


def test_write_report_needs_the_required_keys(tmp_path) -> None:
    summary = _summary()
    del summary["versions"]
    with pytest.raises(ReportError, match="versions"):
        write_report(tmp_path, summary)
    with pytest.raises(ReportError, match="no latency samples"):
        write_report(tmp_path, _summary(), latency_samples_us=[])


def test_latency_summary() -> None:
    assert latency_summary(np.arange(1, 101)) == {"p50": 50.5, "p99": 99.01, "max": 100.0}
