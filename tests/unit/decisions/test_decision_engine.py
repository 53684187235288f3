"""The engine on the embedded stores: idempotency, consent per request, erasure, retries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from decision_cases import CUSTOMER, DAY, T0

from upwell.decisions.consent import grant, withdraw
from upwell.decisions.consent_memory import MemoryConsentStore
from upwell.decisions.decision import DecisionInputs, Rule
from upwell.decisions.engine import DecisionEngine
from upwell.decisions.errors import DecisionConflictError, DecisionError
from upwell.decisions.memory_state import MemoryDecisionState
from upwell.decisions.policy import Action, Policy
from upwell.decisions.purpose import Purpose
from upwell.decisions.state import EntityState
from upwell.decisions.state_protocol import CommitResult, CommitStatus
from upwell.definitions.expressions import col
from upwell.testing import ManualClock

OFFER = Action(name="offer", eligible=col("u") > 0.5, purpose=Purpose.MARKETING, cooldown="7d")
ALERT = Action(name="alert", priority=1, cooldown="1d")
POLICY = Policy(name="nba", entity=CUSTOMER, actions=(ALERT, OFFER), max_actions=2)


class _Inputs:
    """Counts how often the engine computes inputs."""

    def __init__(self, u: float = 0.9) -> None:
        self.calls = 0
        self.u = u

    def __call__(self) -> DecisionInputs:
        self.calls += 1
        return DecisionInputs(values={"u": self.u}, scores={}, model_versions={})


def _engine() -> DecisionEngine:
    clock = ManualClock(datetime(2024, 1, 1, tzinfo=UTC))
    return DecisionEngine(MemoryDecisionState(clock=clock), MemoryConsentStore(), clock=clock)


def test_a_repeated_request_id_returns_the_stored_decision_without_computing() -> None:
    engine = _engine()
    grant(engine.consent, "c1", Purpose.MARKETING, at_ms=0)
    inputs = _Inputs()

    first = engine.decide(POLICY, "c1", "req-1", inputs, now_ms=T0)
    again = engine.decide(POLICY, "c1", "req-1", inputs, now_ms=T0 + DAY)
    other = engine.decide(POLICY, "c1", "req-2", inputs, now_ms=T0 + 1)

    assert first.actions == ("alert", "offer")
    assert first.replayed is False
    assert (again.actions, again.decided_at_ms, again.replayed) == (first.actions, T0, True)
    assert again.reasons == ()
    assert other.actions == ()
    assert other.rejections() == {"alert": Rule.COOLDOWN, "offer": Rule.COOLDOWN}
    assert inputs.calls == 2
    assert engine.counters.replays == 1
    assert engine.counters.decisions == 2


def test_consent_changes_apply_from_the_next_request() -> None:
    engine = _engine()
    offer_only = Policy(name="offers", entity=CUSTOMER, actions=(OFFER,))

    before = engine.decide(offer_only, 7, "r1", _Inputs(), now_ms=T0)
    grant(engine.consent, "7", Purpose.MARKETING, at_ms=T0 + 1)
    granted = engine.decide(offer_only, 7, "r2", _Inputs(), now_ms=T0 + 2)
    withdraw(engine.consent, "7", Purpose.MARKETING, at_ms=T0 + 3)
    after = engine.decide(offer_only, 7, "r3", _Inputs(), now_ms=T0 + 8 * DAY)

    assert before.rejections() == {"offer": Rule.CONSENT}
    assert granted.action == "offer"
    assert after.rejections() == {"offer": Rule.CONSENT}


def test_a_refused_policy_does_not_read_features() -> None:
    engine = _engine()
    personal = Policy(
        name="personal", entity=CUSTOMER, actions=(ALERT,), purposes=(Purpose.PERSONALISATION,)
    )
    inputs = _Inputs()

    refused = engine.decide(personal, "c1", "r1", inputs, now_ms=T0)

    assert refused.refused is True
    assert inputs.calls == 0
    assert engine.counters.refusals == 1
    engine.require_consent("c1", (Purpose.FRAUD_PREVENTION,), where="fraud")


def test_erase_forgets_history_and_records() -> None:
    engine = _engine()
    grant(engine.consent, "c1", Purpose.MARKETING, at_ms=0)
    engine.decide(POLICY, "c1", "r1", _Inputs(), now_ms=T0)

    report = engine.erase("c1", at_ms=T0 + 5)

    assert (report.states, report.idempotency_records, report.consent.consent_records) == (1, 1, 1)
    assert engine.consent.erasures("c1") == (report.consent,)
    again = engine.decide(POLICY, "c1", "r1", _Inputs(), now_ms=T0 + 1)
    assert again.replayed is False
    assert again.actions == ("alert",)  # no consent any more, and no cooldown remembered


class _AlwaysStale(MemoryDecisionState):
    """A store on which every compare-and-set loses the race."""

    def commit(self, *args: object, **kwargs: object) -> CommitResult:  # type: ignore[override]
        return CommitResult(CommitStatus.CONFLICT, EntityState(version=99))


def test_gives_up_after_max_attempts() -> None:
    clock = ManualClock(datetime(2024, 1, 1, tzinfo=UTC))
    engine = DecisionEngine(
        _AlwaysStale(clock=clock), MemoryConsentStore(), clock=clock, max_attempts=3
    )
    inputs = _Inputs()

    with pytest.raises(DecisionConflictError, match="3 compare-and-set conflicts"):
        engine.decide(POLICY, "c1", "r1", inputs, now_ms=T0)
    assert inputs.calls == 1
    assert engine.counters.conflicts == 3


@pytest.mark.parametrize(
    ("entity", "request_id"),
    [
        pytest.param("", "r1", id="empty_entity"),
        pytest.param("c1", "", id="empty_request"),
        pytest.param(None, "r1", id="no_entity"),
        pytest.param("c1", "x" * 1025, id="long_request"),
    ],
)
def test_bad_keys_are_refused(entity: object, request_id: str) -> None:
    with pytest.raises(DecisionError, match="Fix:"):
        _engine().decide(POLICY, entity, request_id, _Inputs(), now_ms=T0)  # type: ignore[arg-type]


def test_the_clock_gives_the_default_time() -> None:
    engine = _engine()

    decision = engine.decide(POLICY, "c1", "r1", _Inputs())

    assert decision.decided_at_ms == engine.clock.now_ms()
