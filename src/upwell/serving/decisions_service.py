"""Decisions over the feature store: policies by name, consent per subject, the decision log.

:class:`DecisionService` joins the decision engine (:mod:`upwell.decisions`) to feature
serving. It keeps the project's policies, decides for an entity row (reading the
policy's feature service and its models' scores once per request), logs every decision,
and answers consent: per subject (``customer:42``, see :mod:`upwell.serving.subjects`)
and purpose, read on every request, so a change applies from the next one. Feature
services with consent-based purposes are served only for subjects that gave consent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from upwell.decisions.consent import ConsentRecord, grant, withdraw
from upwell.decisions.decision import Decision, DecisionInputs
from upwell.decisions.engine import DecisionEngine, ErasureReport
from upwell.decisions.errors import DecisionError
from upwell.decisions.policy import Policy
from upwell.decisions.policy_check import check_policy
from upwell.decisions.purpose import Purpose
from upwell.definitions.entity import Entity
from upwell.definitions.registry import Registry
from upwell.definitions.service import FeatureService
from upwell.serving.decision_log import DecisionLog
from upwell.serving.subjects import KeyInput, find_entity, subject_key

ReadFeatures = Callable[[str, Mapping[str, Any], int], Mapping[str, Any]]
"""Reads a service's values for one row as of a time (ms), by output column."""
Score = Callable[[str, Mapping[str, Any], int, str], tuple[float, int]]
"""Scores one row with a model as of a time (ms) under a request id: (score, version)."""


class UnknownPolicyError(DecisionError):
    """No policy of that name is registered."""

    not_found = True


@dataclass(frozen=True)
class _Consent:
    """A service's consent-based purposes and the entities whose consent they need."""

    purposes: tuple[Purpose, ...]
    subjects: tuple[Entity, ...]


class DecisionService:
    """Policies, consent and decisions for one feature store.

    Args:
        engine: The decision engine (its state and consent stores).
        registry: The feature definitions.
        log: Where decisions are logged.
    """

    def __init__(self, engine: DecisionEngine, registry: Registry, log: DecisionLog) -> None:
        self.engine = engine
        self.registry = registry
        self.log = log
        self.policies: dict[str, Policy] = {}
        self._consent: dict[FeatureService | str, _Consent] = {}

    def add(self, *policies: Policy) -> None:
        """Register policies, each checked against the definitions first.

        Args:
            *policies: The policies.

        Raises:
            DefinitionError: A policy's entity, service or columns do not fit.
        """
        for policy in policies:
            check_policy(policy, self.registry)
        self.policies.update({p.name: p for p in policies})

    def policy(self, policy: Policy | str) -> Policy:
        """A policy, or a registered one by name.

        Args:
            policy: The policy or its name.

        Returns:
            The policy.

        Raises:
            UnknownPolicyError: No policy of that name is registered.
        """
        if isinstance(policy, Policy):
            return policy
        found = self.policies.get(policy)
        if found is None:
            msg = f"no policy named {policy!r}"
            raise UnknownPolicyError(
                msg,
                where="policy",
                fix=f"use one of {sorted(self.policies)}, or define it in the definitions file",
            )
        return found

    def subject(self, entity: Entity | str, key: KeyInput) -> str:
        """The subject key of an entity's key (e.g. ``customer:42``).

        Args:
            entity: The entity or its name.
            key: Its key: a row with the key columns, the values, or one value.

        Returns:
            The subject key.
        """
        spec = find_entity(self.registry, entity) if isinstance(entity, str) else entity
        return subject_key(spec, key)

    def consent(self, entity: Entity | str, key: KeyInput) -> ConsentRecord:
        """A subject's consent as stored now.

        Args:
            entity: The entity or its name.
            key: Its key.

        Returns:
            The consent record.
        """
        return self.engine.consent_of(self.subject(entity, key))

    def set_consent(
        self,
        entity: Entity | str,
        key: KeyInput,
        purpose: Purpose | str,
        *,
        granted: bool,
        at_ms: int,
        source: str = "",
    ) -> ConsentRecord:
        """Grant or withdraw a subject's consent to a purpose.

        Args:
            entity: The entity or its name.
            key: Its key.
            purpose: The purpose or its name.
            granted: True to grant, False to withdraw.
            at_ms: When the subject gave or withdrew it (a later change wins).
            source: Where it was collected.

        Returns:
            The consent record after the change.
        """
        change = grant if granted else withdraw
        subject = self.subject(entity, key)
        return change(self.engine.consent, subject, purpose, at_ms=at_ms, source=source)

    def check_service(
        self, service: FeatureService | str, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Refuse to serve a service for rows whose subjects lack its purposes' consent.

        Args:
            service: The feature service or its name (other feature lists need nothing).
            rows: The entity rows requested.

        Raises:
            ConsentError: A subject has not consented; ``missing`` names the purposes.
        """
        consent = self._consent_of(service)
        if consent is None:
            return
        where = f"FeatureService {consent_name(service)!r}"
        for row in rows:
            for entity in consent.subjects:
                self.engine.require_consent(subject_key(entity, row), consent.purposes, where=where)

    def _consent_of(self, service: FeatureService | str) -> _Consent | None:
        found = self._consent.get(service)
        if found is None:
            spec = self.registry.services.get(service) if isinstance(service, str) else service
            needs = () if spec is None else tuple(p for p in spec.purposes if p.needs_consent)
            subjects: dict[str, Entity] = {}
            for ref in spec.refs if spec is not None and needs else ():
                entity = getattr(self.registry.group_of(ref), "entity", None)
                if isinstance(entity, Entity):
                    subjects.setdefault(entity.name, entity)
            found = self._consent[service] = _Consent(needs, tuple(subjects.values()))
        return found if found.purposes else None

    def decide(
        self,
        policy: Policy | str,
        row: Mapping[str, Any],
        request_id: str,
        *,
        now_ms: int,
        read: ReadFeatures,
        score: Score,
    ) -> Decision:
        """Decide for the entity of a row, once per request id.

        Args:
            policy: The policy or a registered policy's name.
            row: The entity's key columns and the request fields.
            request_id: The idempotency key.
            now_ms: The decision time; features are read as of it.
            read: Reads the policy's feature service.
            score: Scores the row with a model.

        Returns:
            The decision (a replay for a repeated request id).
        """
        spec = self.policy(policy)
        inputs: list[DecisionInputs] = []

        def compute() -> DecisionInputs:
            values = {f: row[f] for f in spec.request_fields if f in row}
            if spec.features_name is not None:
                values.update(read(spec.features_name, row, now_ms))
            scores, versions = {}, {}
            for model in spec.required_models:
                scores[model], version = score(model, row, now_ms, request_id)
                versions[model] = str(version)
            inputs.append(DecisionInputs(values, scores, versions))
            return inputs[-1]

        subject = self.subject(spec.entity, row)
        decision = self.engine.decide(spec, subject, request_id, compute, now_ms=now_ms)
        if not decision.replayed:
            self.log.append(decision, inputs[-1].values if inputs else {})
        return decision

    def erase(self, subject: str, *, at_ms: int) -> tuple[ErasureReport, int]:
        """Erase a subject's decision state, idempotency records, consent and logged decisions.

        Args:
            subject: The subject key.
            at_ms: The erasure time (on the consent tombstone).

        Returns:
            The engine's report and how many logged decisions were removed.
        """
        report = self.engine.erase(subject, at_ms=at_ms)
        return report, self.log.erase(subject)

    def close(self) -> None:
        """Close the engine's stores."""
        self.engine.close()


def consent_name(service: FeatureService | str) -> str:
    """A service's name.

    Args:
        service: The service or its name.

    Returns:
        The name.
    """
    return service.name if isinstance(service, FeatureService) else service
