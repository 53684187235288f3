"""Policy definitions are validated when constructed; errors name the field and the fix."""

from __future__ import annotations

from typing import Any

import pytest
from decision_cases import CUSTOMER

from upwell.decisions.policy import Action, Policy
from upwell.decisions.policy_check import check_policy
from upwell.decisions.purpose import LegalBasis, Purpose
from upwell.decisions.rules import Budget, Cap, Group, Thresholds
from upwell.definitions.aggregations import Count
from upwell.definitions.entity import Entity
from upwell.definitions.errors import DefinitionError
from upwell.definitions.expressions import col
from upwell.definitions.feature_view import Feature, FeatureView
from upwell.definitions.registry import Registry, validate
from upwell.definitions.service import FeatureService
from upwell.definitions.source import EventSource
from upwell.definitions.types import FieldType


def _policy(**kw: Any) -> Policy:
    options: dict[str, Any] = {"name": "p", "entity": CUSTOMER, "actions": (Action(name="a"),)}
    return Policy(**(options | kw))


@pytest.mark.parametrize(
    ("build", "where"),
    [
        pytest.param(lambda: Action(name="no spaces"), "Action 'no spaces'.name", id="name"),
        pytest.param(lambda: Action(name="a", priority=1.5), "priority", id="priority"),
        pytest.param(lambda: Action(name="a", eligible="x > 1"), "eligible", id="eligible_str"),
        pytest.param(lambda: Action(name="a", min_score=0.5), "min_score", id="min_score_alone"),
        pytest.param(lambda: Action(name="a", cooldown="0s"), "cooldown", id="zero_cooldown"),
        pytest.param(lambda: Action(name="a", cooldown="soon"), "cooldown", id="bad_cooldown"),
        pytest.param(lambda: Action(name="a", cost=-1.0), "cost", id="negative_cost"),
        pytest.param(
            lambda: Action(name="a", budget=Budget(name="b", total=1.0, period="1d")),
            "cost",
            id="budget_without_cost",
        ),
        pytest.param(lambda: Action(name="a", purpose="marketing"), "purpose", id="purpose_str"),
        pytest.param(lambda: Cap(max_count=0, period="1d"), "Cap.max_count", id="cap_zero"),
        pytest.param(lambda: Cap(max_count=2, period="-1d"), "Cap.period", id="cap_period"),
        pytest.param(lambda: Budget(name="b", total=0.0, period="1d"), "total", id="budget_0"),
        pytest.param(lambda: Group(name="g", cooldown=0), "cooldown", id="group_cooldown"),
        pytest.param(
            lambda: Thresholds(review_at=0.9, decline_at=0.5), "review_at", id="thresholds_order"
        ),
        pytest.param(
            lambda: Thresholds(review_at=0.5, decline_at=1.5), "decline_at", id="threshold_range"
        ),
        pytest.param(lambda: Purpose(name="x", basis="consent"), "basis", id="basis_str"),
        pytest.param(
            lambda: _policy(actions=(Action(name="a"), Action(name="a"))),
            "actions",
            id="repeated_action",
        ),
        pytest.param(lambda: _policy(actions=()), "actions", id="nothing_to_decide"),
        pytest.param(lambda: _policy(max_actions=0), "max_actions", id="max_actions"),
        pytest.param(lambda: _policy(entity="customer"), "entity", id="entity_str"),
        pytest.param(
            lambda: _policy(
                actions=(
                    Action(name="a", group=Group(name="g")),
                    Action(name="b", group=Group(name="g", cooldown="1d")),
                )
            ),
            "group",
            id="two_groups_one_name",
        ),
        pytest.param(
            lambda: _policy(thresholds=Thresholds(review_at=0.5, decline_at=0.9)),
            "thresholds",
            id="thresholds_without_model",
        ),
        pytest.param(
            lambda: _policy(
                models=("a", "b"), thresholds=Thresholds(review_at=0.5, decline_at=0.9)
            ),
            "thresholds",
            id="thresholds_with_two_models",
        ),
    ],
)
def test_invalid_definitions_name_the_field_and_the_fix(build: Any, where: str) -> None:
    with pytest.raises(DefinitionError) as raised:
        build()

    assert where in raised.value.where
    assert raised.value.fix


def test_derived_views_of_a_policy() -> None:
    credit = Group(name="credit", cooldown="30d")
    budget = Budget(name="b", total=9.0, period="60d")
    policy = Policy(
        name="nba",
        entity=CUSTOMER,
        actions=(
            Action(
                name="x", group=credit, eligible=col("u") > 1, score="m1", cost=1.0, budget=budget
            ),
            Action(name="y", group=credit, eligible=(col("v") > 1) & (col("u") < 3), cooldown="2d"),
            Action(name="z", score="m2", cap=Cap(max_count=1, period="90d")),
        ),
        features=FeatureService(name="svc", features=("view.u",)),
        models=("m0",),
        thresholds=Thresholds(review_at=0.1, decline_at=0.2, model="m0"),
    )

    assert policy.inputs == frozenset({"u", "v"})
    assert policy.required_models == ("m0", "m1", "m2")
    assert policy.triage_model == "m0"
    assert policy.horizon_ms == 90 * 86_400_000
    assert policy.group_members == {"credit": ("x", "y")}
    assert policy.budget_members == {"b": ("x",)}
    assert policy.features_name == "svc"


def test_thresholds_default_to_the_only_model() -> None:
    policy = _policy(models=("fraud",), thresholds=Thresholds(review_at=0.5, decline_at=0.9))

    assert policy.triage_model == "fraud"


def test_custom_purposes_and_legal_bases() -> None:
    scoring = Purpose(name="credit_scoring", basis=LegalBasis.CONTRACT)

    assert Purpose.MARKETING.needs_consent
    assert Purpose.PERSONALISATION.needs_consent
    assert not Purpose.FRAUD_PREVENTION.needs_consent
    assert not scoring.needs_consent
    assert Purpose(name="research").needs_consent


def _registry() -> Registry:
    source = EventSource(
        name="card",
        schema={"customer_id": FieldType.INT, "ts": FieldType.TIMESTAMP},
        timestamp="ts",
        entities=(CUSTOMER,),
    )
    view = FeatureView(
        name="card_view",
        entity=CUSTOMER,
        source=source,
        features=(Feature(name="n_1d", aggregation=Count(), window="1d"),),
    )
    service = FeatureService(name="svc", features=("card_view.n_1d",), output_names=("n_1d",))
    return validate([view, service])


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        pytest.param(
            _policy(actions=(Action(name="a", eligible=col("n_1d") > 0),), features="nope"),
            "features",
            id="unknown_service",
        ),
        pytest.param(
            _policy(actions=(Action(name="a", eligible=col("n_7d") > 0),), features="svc"),
            "actions",
            id="unknown_column",
        ),
        pytest.param(
            Policy(
                name="p", entity=Entity(name="shop", keys=("shop_id",)), actions=(Action(name="a"),)
            ),
            "entity",
            id="unknown_entity",
        ),
    ],
)
def test_policies_are_checked_against_the_definitions(policy: Policy, field: str) -> None:
    with pytest.raises(DefinitionError) as raised:
        check_policy(policy, _registry())

    assert raised.value.field == field


def test_a_fitting_policy_reads_the_service_columns_and_request_fields() -> None:
    policy = _policy(
        actions=(Action(name="a", eligible=(col("n_1d") > 0) & (col("amount") > 10)),),
        features="svc",
        request_fields=("amount",),
    )

    assert check_policy(policy, _registry()) == ("n_1d",)  # type: ignore[arg-type]
