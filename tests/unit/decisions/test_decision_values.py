"""Decisions and states are plain values: they survive their JSON form unchanged."""

from __future__ import annotations

import json

import orjson
from decision_cases import DAY, T0, consent_of, decide, policy_of

from upwell.decisions.consent import GRANTED
from upwell.decisions.decision import Decision
from upwell.decisions.policy import Action
from upwell.decisions.purpose import Purpose
from upwell.decisions.rules import Cap, Thresholds
from upwell.decisions.state import EntityState, Taken, advance
from upwell.definitions.expressions import col


def test_decision_round_trips_through_json() -> None:
    policy = policy_of(
        Action(name="a", eligible=col("u") > 0.5, score="m", purpose=Purpose.MARKETING),
        Action(name="b", cooldown="1d"),
        thresholds=Thresholds(review_at=0.5, decline_at=0.9, model="fraud"),
    )
    decision = decide(
        policy,
        values={"u": 0.7},
        scores={"m": 0.3, "fraud": 0.95},
        history=(("b", T0 - 1),),
        consent=consent_of(marketing=GRANTED),
    )

    text = json.dumps(decision.to_dict())
    back = Decision.from_dict(orjson.loads(text))

    assert back == decision
    assert back.to_dict()["action"] == "a"
    assert back.to_dict()["triage"] == "decline"


def test_without_trail_keeps_outcomes_and_drops_explanations() -> None:
    decision = decide(policy_of(Action(name="a"), Action(name="b")))

    compact = decision.without_trail()

    assert compact.reasons == ()
    assert [(c.action, c.chosen, c.rule) for c in compact.considered] == [
        (c.action, c.chosen, c.rule) for c in decision.considered
    ]
    assert {c.detail for c in compact.considered} == {""}
    assert decision.reasons  # the original is untouched


def test_advance_prunes_history_beyond_the_horizon_and_bumps_the_version() -> None:
    state = EntityState(
        version=4,
        history=(Taken("a", T0 - 10 * DAY), Taken("a", T0 - 7 * DAY), Taken("gone", T0 - 1)),
    )

    new = advance(
        state,
        [Taken("a", T0, 2.5)],
        now_ms=T0,
        horizon_ms=7 * DAY,
        known=frozenset({"a"}),
    )

    assert new.version == 5
    assert new.history == (Taken("a", T0, 2.5),)
    assert EntityState.from_json(new.version, new.to_json()) == new


def test_history_answers_cooldowns_caps_and_budgets() -> None:
    state = EntityState(1, (Taken("a", 100, 1.0), Taken("b", 200, 2.0), Taken("a", 300, 4.0)))

    assert state.last_at(("a",)) == 300
    assert state.last_at(("c",)) is None
    assert state.count_since(("a", "b"), 100) == 2
    assert state.spent_since(("a",), 99) == 5.0


def test_a_policy_cap_decision_example() -> None:
    policy = policy_of(Action(name="a"), cap=Cap(max_count=1, period="1d"))

    assert decide(policy, history=(("a", T0 - DAY),)).action == "a"
    assert decide(policy, history=(("a", T0 - DAY + 1),)).action is None
