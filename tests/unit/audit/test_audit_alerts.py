"""Alert rules: hysteresis, filters and minimum samples, table-driven."""

from __future__ import annotations

import math

import pytest

from upwell.audit import (
    AlertEvaluator,
    AlertKind,
    AlertRule,
    AuditError,
    Direction,
    Metric,
    WindowStat,
)

PSI_RULE = AlertRule(name="psi", metric=Metric.PSI, fire_at=0.2, clear_at=0.1, min_samples=10)
AUC_RULE = AlertRule(
    name="auc", metric=Metric.AUC_ROC, fire_at=0.8, clear_at=0.85, direction=Direction.BELOW
)


def stat(value: float | None, metric: Metric = Metric.PSI, t: int = 0, **kw: object) -> WindowStat:
    fields: dict[str, object] = {"model": "m", "version": 1, "column": "amount", "n": 100}
    fields.update(kw)
    return WindowStat(metric=metric, value=value, end_ms=t, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rule", "values", "expected"),
    [
        # value:   0.05  0.25   0.15  0.12  0.09   0.3
        # state:   ok    FIRE   (stays firing)     CLEAR  FIRE
        (PSI_RULE, [0.05, 0.25, 0.15, 0.12, 0.09, 0.3], ["", "fired", "", "", "cleared", "fired"]),
        # exactly at the thresholds nothing changes: fire needs > 0.2, clear needs < 0.1
        (PSI_RULE, [0.2, 0.21, 0.1, 0.0999], ["", "fired", "", "cleared"]),
        # between the thresholds, starting healthy: never fires
        (PSI_RULE, [0.15, 0.19, 0.11], ["", "", ""]),
        (AUC_RULE, [0.9, 0.79, 0.82, 0.85, 0.86, 0.7], ["", "fired", "", "", "cleared", "fired"]),
    ],
    ids=["psi-above", "psi-boundaries", "psi-in-band", "auc-below"],
)
def test_hysteresis(rule: AlertRule, values: list[float], expected: list[str]) -> None:
    evaluator = AlertEvaluator([rule])
    got = []
    for t, value in enumerate(values):
        events = evaluator.evaluate([stat(value, rule.metric, t)])
        assert len(events) <= 1
        got.append(str(events[0].kind) if events else "")
        if events:
            e = events[0]
            assert (e.value, e.ts_ms, e.rule) == (value, t, rule.name)
            assert e.threshold == (rule.fire_at if e.kind is AlertKind.FIRED else rule.clear_at)
    assert got == expected


def test_ignored_statistics() -> None:
    evaluator = AlertEvaluator([PSI_RULE])
    ignored = [
        stat(0.9, n=9),  # below min_samples
        stat(None),
        stat(math.nan),
        stat(0.9, Metric.KS_STATISTIC),  # another metric
    ]
    assert evaluator.evaluate(ignored) == []
    assert evaluator.firing() == []


def test_state_is_kept_per_model_version_and_column() -> None:
    evaluator = AlertEvaluator([PSI_RULE])
    fired = evaluator.evaluate([stat(0.5), stat(0.5, column="count"), stat(0.5, version=2)])
    assert [(e.column, e.version) for e in fired] == [("amount", 1), ("count", 1), ("amount", 2)]
    assert evaluator.evaluate([stat(0.5)]) == []  # already firing
    cleared = evaluator.evaluate([stat(0.0, column="count")])
    assert [(e.kind, e.column) for e in cleared] == [(AlertKind.CLEARED, "count")]
    assert evaluator.firing() == [("psi", "m", 1, "amount"), ("psi", "m", 2, "amount")]


def test_rule_filters() -> None:
    rule = AlertRule(
        name="only", metric=Metric.PSI, fire_at=0.2, clear_at=0.1, column="amount", model="fraud"
    )
    evaluator = AlertEvaluator([rule])
    assert evaluator.evaluate([stat(0.5, model="other"), stat(0.5, column="x")]) == []
    assert len(evaluator.evaluate([stat(0.5, model="fraud")])) == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fire_at": 0.1, "clear_at": 0.2}, "beyond"),
        ({"fire_at": 0.8, "clear_at": 0.7, "direction": Direction.BELOW}, "beyond"),
        ({"fire_at": math.nan, "clear_at": 0.1}, "thresholds"),
        ({"fire_at": 0.2, "clear_at": 0.1, "name": ""}, "name"),
    ],
    ids=["above-inverted", "below-inverted", "nan", "no-name"],
)
def test_bad_rules_are_refused(kwargs: dict[str, object], match: str) -> None:
    fields: dict[str, object] = {"name": "r", "metric": Metric.PSI, **kwargs}
    with pytest.raises(AuditError, match=match):
        AlertRule(**fields)  # type: ignore[arg-type]


def test_rule_names_must_be_unique() -> None:
    with pytest.raises(AuditError, match="repeat"):
        AlertEvaluator([PSI_RULE, PSI_RULE])


def test_event_as_dict_is_json_ready() -> None:
    (event,) = AlertEvaluator([PSI_RULE]).evaluate([stat(0.5, t=42)])
    assert event.as_dict() == {
        "rule": "psi",
        "kind": "fired",
        "metric": "psi",
        "model": "m",
        "version": 1,
        "column": "amount",
        "value": 0.5,
        "threshold": 0.2,
        "ts_ms": 42,
    }
