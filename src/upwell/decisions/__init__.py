"""Decisions: policies over scores and rules, with consistent per-entity state and consent.

The embedded pieces are importable from here; the Redis stores live in
:mod:`upwell.decisions.redis_state` and :mod:`upwell.decisions.consent_redis` (they need
the ``redis`` extra).
"""

from upwell.decisions.consent import (
    ConsentChange,
    ConsentRecord,
    ConsentStatus,
    ConsentStore,
    Erasure,
    grant,
    require,
    withdraw,
)
from upwell.decisions.consent_memory import MemoryConsentStore
from upwell.decisions.decision import (
    Consideration,
    Decision,
    DecisionInputs,
    Outcome,
    Reason,
    Rule,
    Triage,
)
from upwell.decisions.engine import DecisionEngine, EngineCounters, ErasureReport
from upwell.decisions.errors import (
    ConsentError,
    DecisionConflictError,
    DecisionError,
    DecisionInputError,
    DecisionStateError,
)
from upwell.decisions.evaluate import Request, evaluate
from upwell.decisions.memory_state import MemoryDecisionState
from upwell.decisions.policy import Action, Policy
from upwell.decisions.policy_check import check_policy
from upwell.decisions.purpose import LegalBasis, Purpose
from upwell.decisions.rules import Budget, Cap, Group, Thresholds
from upwell.decisions.state import EntityState, Taken
from upwell.decisions.state_protocol import DecisionStateStore

__all__ = [
    "Action",
    "Budget",
    "Cap",
    "ConsentChange",
    "ConsentError",
    "ConsentRecord",
    "ConsentStatus",
    "ConsentStore",
    "Consideration",
    "Decision",
    "DecisionConflictError",
    "DecisionEngine",
    "DecisionError",
    "DecisionInputError",
    "DecisionInputs",
    "DecisionStateError",
    "DecisionStateStore",
    "EngineCounters",
    "EntityState",
    "Erasure",
    "ErasureReport",
    "Group",
    "LegalBasis",
    "MemoryConsentStore",
    "MemoryDecisionState",
    "Outcome",
    "Policy",
    "Purpose",
    "Reason",
    "Request",
    "Rule",
    "Taken",
    "Thresholds",
    "Triage",
    "check_policy",
    "evaluate",
    "grant",
    "require",
    "withdraw",
]
