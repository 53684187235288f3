"""Pure evaluation of policies, rule by rule; expected outcomes are worked out by hand.

Periods are sliding and right-closed, like feature windows. For a 24h cooldown after an
alert at ``t``:

    t - 1ms        t                 t + 24h - 1ms   t + 24h
    ----|----------|=====blocked=====|---------------|-- allowed from here
"""

from __future__ import annotations

import pytest
from decision_cases import DAY, HOUR, T0, consent_of, decide, policy_of

from upwell.decisions.consent import GRANTED, WITHDRAWN
from upwell.decisions.decision import Outcome, Rule, Triage
from upwell.decisions.errors import DecisionInputError
from upwell.decisions.policy import Action
from upwell.decisions.purpose import Purpose
from upwell.decisions.rules import Budget, Cap, Group, Thresholds
from upwell.definitions.expressions import col

ALERT = Action(name="alert", eligible=col("tax_events_1d") > 0, cooldown="24h")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(1, "alert", id="eligible"),
        pytest.param(0, None, id="not_eligible"),
        pytest.param(None, None, id="no_value"),
    ],
)
def test_eligibility_expression_decides(value: int | None, expected: str | None) -> None:
    decision = decide(policy_of(ALERT), values={"tax_events_1d": value})

    assert decision.action == expected
    if expected is None:
        assert decision.rejections() == {"alert": Rule.ELIGIBILITY}


def test_no_value_is_explained() -> None:
    decision = decide(policy_of(ALERT), values={"tax_events_1d": None})

    assert decision.considered[0].detail == "no value for tax_events_1d"


@pytest.mark.parametrize(
    ("last_alert_at", "allowed"),
    [
        pytest.param(T0 - DAY - 1, True, id="cooldown_ended_1ms_ago"),
        pytest.param(T0 - DAY, True, id="cooldown_ends_now"),
        pytest.param(T0 - DAY + 1, False, id="cooldown_ends_in_1ms"),
        pytest.param(T0 - HOUR, False, id="an_hour_ago"),
        pytest.param(T0 + HOUR, False, id="decided_later_out_of_order"),
    ],
)
def test_cooldown_edges(last_alert_at: int, allowed: bool) -> None:
    decision = decide(
        policy_of(ALERT), values={"tax_events_1d": 1}, history=(("alert", last_alert_at),)
    )

    assert decision.action == ("alert" if allowed else None)
    assert decision.rejections() == ({} if allowed else {"alert": Rule.COOLDOWN})


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        pytest.param(0.0, Triage.APPROVE, id="zero"),
        pytest.param(0.4999, Triage.APPROVE, id="just_below_review"),
        pytest.param(0.5, Triage.REVIEW, id="at_review"),
        pytest.param(0.8999, Triage.REVIEW, id="just_below_decline"),
        pytest.param(0.9, Triage.DECLINE, id="at_decline"),
        pytest.param(1.0, Triage.DECLINE, id="one"),
    ],
)
def test_thresholds_triage(score: float, expected: Triage) -> None:
    policy = policy_of(thresholds=Thresholds(review_at=0.5, decline_at=0.9), models=("fraud",))

    decision = decide(policy, scores={"fraud": score})

    assert decision.triage is expected
    assert decision.actions == ()
    assert decision.scores == {"fraud": score}


def test_equal_thresholds_skip_review() -> None:
    policy = policy_of(thresholds=Thresholds(review_at=0.7, decline_at=0.7, model="fraud"))

    assert decide(policy, scores={"fraud": 0.7}).triage is Triage.DECLINE
    assert decide(policy, scores={"fraud": 0.69}).triage is Triage.APPROVE


def _offer(name: str, priority: int, score: str | None = None, **kw: object) -> Action:
    return Action(name=name, priority=priority, score=score, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("actions", "scores", "expected"),
    [
        pytest.param((_offer("a", 1), _offer("b", 2)), {}, "b", id="higher_priority"),
        pytest.param(
            (_offer("a", 1, "ma"), _offer("b", 1, "mb")),
            {"ma": 0.3, "mb": 0.8},
            "b",
            id="equal_priority_higher_score",
        ),
        pytest.param((_offer("a", 1), _offer("b", 1)), {}, "a", id="tie_goes_to_policy_order"),
        pytest.param(
            (_offer("a", 1), _offer("b", 1, "mb")), {"mb": 0.0}, "b", id="scored_beats_unscored"
        ),
        pytest.param(
            (_offer("a", 5, "ma", min_score=0.5), _offer("b", 1)),
            {"ma": 0.49},
            "b",
            id="below_min_score",
        ),
        pytest.param(
            (_offer("a", 5, "ma", min_score=0.5), _offer("b", 1)),
            {"ma": 0.5},
            "a",
            id="at_min_score",
        ),
    ],
)
def test_ranking(actions: tuple[Action, ...], scores: dict[str, float], expected: str) -> None:
    decision = decide(policy_of(*actions), scores=scores)

    assert decision.action == expected
    others = {a.name for a in actions} - {expected}
    assert set(decision.rejections()) == others


def test_exclusive_group_takes_one_per_decision() -> None:
    credit = Group(name="credit")
    actions = (
        _offer("transfer", 3, group=credit),
        _offer("limit", 2, group=credit),
        _offer("invest", 1),
    )

    decision = decide(policy_of(*actions, max_actions=3))

    assert decision.actions == ("transfer", "invest")
    assert decision.rejections() == {"limit": Rule.EXCLUSIVITY}


@pytest.mark.parametrize(
    ("taken_at", "expected"),
    [
        pytest.param(T0 - 30 * DAY, "transfer", id="group_cooldown_over"),
        pytest.param(T0 - 30 * DAY + 1, None, id="group_cooldown_1ms_left"),
    ],
)
def test_group_cooldown_closes_every_member(taken_at: int, expected: str | None) -> None:
    credit = Group(name="credit", cooldown="30d")
    actions = (_offer("transfer", 3, group=credit), _offer("limit", 2, group=credit))

    decision = decide(policy_of(*actions), history=(("transfer", taken_at),))
    assert decision.action == expected
    if expected is None:
        assert decision.rejections() == {
            "transfer": Rule.GROUP_COOLDOWN,
            "limit": Rule.GROUP_COOLDOWN,
        }


@pytest.mark.parametrize(
    ("history", "allowed"),
    [
        pytest.param((("a", T0 - 7 * DAY + 1), ("a", T0 - 1)), False, id="two_in_period"),
        pytest.param((("a", T0 - 7 * DAY), ("a", T0 - 1)), True, id="oldest_just_left"),
        pytest.param((("a", T0 - 1),), True, id="one_in_period"),
        pytest.param((("b", T0 - 1), ("b", T0 - 2)), True, id="other_actions_do_not_count"),
    ],
)
def test_action_cap_per_sliding_period(history: tuple[tuple[str, int], ...], allowed: bool) -> None:
    policy = policy_of(_offer("a", 2, cap=Cap(max_count=2, period="7d")), _offer("b", 1))

    decision = decide(policy, history=history)

    assert decision.action == ("a" if allowed else "b")


def test_group_cap_counts_every_member() -> None:
    credit = Group(name="credit", cap=Cap(max_count=2, period="90d"))
    actions = (_offer("transfer", 2, group=credit), _offer("limit", 1, group=credit))

    decision = decide(
        policy_of(*actions), history=(("transfer", T0 - 60 * DAY), ("limit", T0 - DAY))
    )

    assert decision.action is None
    assert decision.rejections() == {"transfer": Rule.GROUP_CAP, "limit": Rule.GROUP_CAP}


def test_policy_cap_counts_every_action_and_this_decision() -> None:
    actions = (_offer("a", 3), _offer("b", 2), _offer("c", 1))
    policy = policy_of(*actions, max_actions=3, cap=Cap(max_count=2, period="7d"))

    assert decide(policy).actions == ("a", "b")
    assert decide(policy).rejections() == {"c": Rule.POLICY_CAP}
    assert decide(policy, history=(("c", T0 - DAY),)).actions == ("a",)
    full = decide(policy, history=(("c", T0 - DAY), ("c", T0 - 2 * DAY)))
    assert full.actions == ()
    assert set(full.rejections().values()) == {Rule.POLICY_CAP}


@pytest.mark.parametrize(
    ("history", "allowed"),
    [
        pytest.param((), True, id="nothing_spent"),
        pytest.param((("cheap", T0 - DAY, 10.0),), True, id="exactly_the_total"),
        pytest.param((("cheap", T0 - DAY, 10.01),), False, id="a_cent_over"),
        pytest.param((("cheap", T0 - 30 * DAY, 25.0),), True, id="spend_left_the_period"),
        pytest.param((("cheap", T0 - 30 * DAY + 1, 25.0),), False, id="spend_1ms_inside"),
    ],
)
def test_budget_per_sliding_period(
    history: tuple[tuple[str, int, float], ...], allowed: bool
) -> None:
    incentives = Budget(name="incentives", total=60.0, period="30d")
    dear = _offer("dear", 2, cost=50.0, budget=incentives)
    cheap = _offer("cheap", 1, cost=25.0, budget=incentives)

    decision = decide(policy_of(dear, cheap, max_actions=1), history=history)

    assert (decision.action == "dear") is allowed
    if not allowed:
        assert decision.rejections()["dear"] is Rule.BUDGET


def test_budget_is_shared_within_one_decision() -> None:
    incentives = Budget(name="incentives", total=60.0, period="30d")
    actions = (
        _offer("a", 2, cost=40.0, budget=incentives),
        _offer("b", 1, cost=40.0, budget=incentives),
    )

    decision = decide(policy_of(*actions, max_actions=2))

    assert decision.actions == ("a",)
    assert decision.rejections() == {"b": Rule.BUDGET}


def test_max_actions_keeps_the_best() -> None:
    decision = decide(policy_of(_offer("a", 1), _offer("b", 3), _offer("c", 2), max_actions=2))

    assert decision.actions == ("b", "c")
    assert decision.rejections() == {"a": Rule.MAX_ACTIONS}


MARKETING_OFFER = Action(name="offer", purpose=Purpose.MARKETING)
FRAUD_CHECK = Action(name="step_up", purpose=Purpose.FRAUD_PREVENTION)


@pytest.mark.parametrize(
    ("consent", "expected"),
    [
        pytest.param(consent_of(), None, id="never_asked"),
        pytest.param(consent_of(marketing=WITHDRAWN), None, id="withdrawn"),
        pytest.param(consent_of(personalisation=GRANTED), None, id="other_purpose_granted"),
        pytest.param(consent_of(marketing=GRANTED), "offer", id="granted"),
    ],
)
def test_action_needs_consent_for_its_purpose(consent: object, expected: str | None) -> None:
    decision = decide(policy_of(MARKETING_OFFER), consent=consent)  # type: ignore[arg-type]

    assert decision.action == expected
    assert decision.refused is False
    if expected is None:
        assert decision.rejections() == {"offer": Rule.CONSENT}


def test_legitimate_interest_needs_no_consent() -> None:
    assert decide(policy_of(FRAUD_CHECK)).action == "step_up"


def test_policy_purpose_without_consent_refuses_before_reading_inputs() -> None:
    policy = policy_of(ALERT, purposes=(Purpose.PERSONALISATION,))

    refused = decide(policy, values={}, consent=consent_of(personalisation=WITHDRAWN))
    allowed = decide(
        policy, values={"tax_events_1d": 1}, consent=consent_of(personalisation=GRANTED)
    )

    assert refused.refused is True
    assert refused.actions == ()
    assert [(r.rule, r.outcome) for r in refused.reasons] == [(Rule.CONSENT, Outcome.REJECTED)]
    assert "personalisation withdrawn" in refused.reasons[0].detail
    assert allowed.action == "alert"


@pytest.mark.parametrize(
    ("policy", "values", "scores", "message"),
    [
        pytest.param(policy_of(ALERT), {}, {}, "lack ['tax_events_1d']", id="missing_value"),
        pytest.param(
            policy_of(_offer("a", 1, "churn")), {}, {}, "'churn' has no score", id="missing_score"
        ),
        pytest.param(
            policy_of(_offer("a", 1, "churn")),
            {},
            {"churn": float("nan")},
            "'churn' has no score",
            id="nan_score",
        ),
        pytest.param(
            policy_of(ALERT), {"tax_events_1d": "many"}, {}, "cannot evaluate", id="wrong_type"
        ),
    ],
)
def test_bad_inputs_raise_with_the_fix(
    policy: object, values: dict[str, object], scores: dict[str, float], message: str
) -> None:
    with pytest.raises(DecisionInputError, match="Fix:") as raised:
        decide(policy, values=values, scores=scores)  # type: ignore[arg-type]

    assert message in str(raised.value)


def test_division_by_zero_makes_an_action_ineligible() -> None:
    ratio = Action(name="ratio", eligible=(col("balance") / col("limit")) > 0.9)

    decision = decide(policy_of(ratio), values={"balance": 10.0, "limit": 0.0})

    assert decision.action is None
    assert "division by zero" in decision.considered[0].detail


def test_reasons_follow_the_documented_order() -> None:
    credit = Group(name="credit", cooldown="30d")
    offer = Action(
        name="offer",
        group=credit,
        eligible=col("u") > 0.5,
        score="m",
        min_score=0.1,
        cooldown="1d",
        cap=Cap(max_count=3, period="7d"),
        cost=1.0,
        budget=Budget(name="b", total=10.0, period="7d"),
        purpose=Purpose.MARKETING,
    )
    policy = policy_of(offer, thresholds=Thresholds(review_at=0.5, decline_at=0.9))

    decision = decide(
        policy, values={"u": 0.6}, scores={"m": 0.2}, consent=consent_of(marketing=GRANTED)
    )

    assert [r.rule for r in decision.reasons] == [
        Rule.TRIAGE,
        Rule.CONSENT,
        Rule.ELIGIBILITY,
        Rule.MIN_SCORE,
        Rule.COOLDOWN,
        Rule.GROUP_COOLDOWN,
        Rule.CAP,
        Rule.BUDGET,
        Rule.RANK,
    ]
    assert decision.reasons[-1].outcome is Outcome.CHOSEN
    assert decision.state_version == 1


def test_same_arguments_give_the_same_decision() -> None:
    policy = policy_of(ALERT, _offer("b", 0, "m"))
    arguments = {"values": {"tax_events_1d": 2}, "scores": {"m": 0.4}, "history": (("b", T0 - 1),)}

    first, second = decide(policy, **arguments), decide(policy, **arguments)  # type: ignore[arg-type]

    assert first.to_dict() == second.to_dict()
    assert first.state_version == 2
