"""Models bound to a feature store's definitions: register, promote, roll back, score."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from upwell.definitions.registry import Registry
from upwell.definitions.service import FeatureService
from upwell.models.errors import ModelError
from upwell.models.metadata import ModelVersion
from upwell.models.registry import ModelRegistry
from upwell.models.routing import CHAMPION, Rollout, Routing
from upwell.serving.audit_reference import save_reference
from upwell.serving.live_models import LiveModels
from upwell.serving.scoring import FeatureReader, Prediction, PredictionSink, Scorer


class ModelService:
    """A model registry checked against the definitions, and a scorer over it.

    Args:
        root: The registry's directory.
        definitions: The validated definitions.
        reader: Where feature vectors come from.
        now_ms: The clock registrations and alias moves are stamped with.
    """

    def __init__(
        self,
        root: str | Path,
        definitions: Registry,
        reader: FeatureReader,
        now_ms: Callable[[], int],
    ) -> None:
        self.registry = ModelRegistry(root)
        self.definitions = definitions
        self.live = LiveModels(self.registry)
        self.scorer = Scorer(reader, self.live)
        self._now_ms = now_ms

    def add_sink(self, sink: PredictionSink) -> None:
        """Call ``sink`` with every batch of predictions from now on."""
        self.scorer.sinks.append(sink)

    def register(
        self,
        name: str,
        model: object,
        *,
        features: FeatureService | str,
        training_set: Any = None,
        metrics: Mapping[str, float] | None = None,
        trust_types: Sequence[str] = (),
        allow_pickle: bool = False,
        description: str = "",
        aliases: Sequence[str] = (),
    ) -> ModelVersion:
        """Check and store a new version; see :meth:`ModelRegistry.register`.

        Args:
            name: The model's name.
            model: A model file's path or a model object.
            features: The feature service (or its name) whose columns are its inputs.
            training_set: The training DataFrame, fingerprinted for lineage; its model
                inputs and the version's scores on them are kept as the drift reference.
            metrics: Training metrics.
            trust_types: Types a scikit-learn file may hold beyond the defaults.
            allow_pickle: Accept a pickle, pinning its digest.
            description: Free text.
            aliases: Aliases for the new version, e.g. ``("champion",)``.

        Returns:
            The new version.

        Raises:
            ModelError: The model is refused; nothing changed.
        """
        service = self._service(features)
        version = self.registry.register(
            name,
            model,
            features=service.name,
            inputs=service.columns,
            definitions_fingerprint=self.definitions.fingerprint,
            now_ms=self._now_ms(),
            training_set=training_set,
            metrics=metrics,
            trust_types=tuple(trust_types),
            allow_pickle=allow_pickle,
            description=description,
            aliases=tuple(aliases),
        )
        if training_set is not None:  # the audit's drift reference (audit_reference.py)
            save_reference(self.registry, version, training_set)
        self.live.refresh()
        return version

    def promote(self, name: str, version: int | str, *, alias: str = CHAMPION) -> ModelVersion:
        """Point an alias (default ``champion``) at a version; served at once."""
        promoted = self.registry.promote(name, version, alias=alias, now_ms=self._now_ms())
        self.live.refresh()
        return promoted

    def rollback(self, name: str, *, alias: str = CHAMPION) -> ModelVersion:
        """Point an alias back at its previous version; served at once."""
        restored = self.registry.rollback(name, alias=alias, now_ms=self._now_ms())
        self.live.refresh()
        return restored

    def set_rollout(self, name: str, rollout: Rollout | str, *, share: float = 0.0) -> Routing:
        """Shadow or canary the ``challenger`` alias, or turn that off."""
        try:
            mode = Rollout(rollout)
        except ValueError:
            msg = f"{rollout!r} is not a rollout"
            raise ModelError(
                msg, where=f"model {name}", fix=f"use one of {[r.value for r in Rollout]}"
            ) from None
        routing = self.registry.set_rollout(name, mode, canary_share=share)
        self.live.refresh()
        return routing

    def score(
        self,
        model: str,
        rows: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        as_of_ms: int | None = None,
        request_id: str | Sequence[str] | None = None,
        explain: bool = False,
    ) -> Prediction | list[Prediction]:
        """Score one row (returns one prediction) or many (returns a list).

        Args:
            model: The model's name.
            rows: An entity row or rows (keys plus request fields).
            as_of_ms: Read features as of this time; default now.
            request_id: The request id(s); generated where not given.
            explain: Also return per-input contributions where supported.

        Returns:
            A prediction, or a list of them.
        """
        single = isinstance(rows, Mapping)
        batch = [rows] if isinstance(rows, Mapping) else list(rows)
        ids = [request_id] if isinstance(request_id, str) else request_id
        predictions = self.scorer.score(
            model, batch, as_of_ms=as_of_ms, request_ids=ids, explain=explain
        )
        return predictions[0] if single else predictions

    def _service(self, features: FeatureService | str) -> FeatureService:
        name = features.name if isinstance(features, FeatureService) else features
        service = self.definitions.services.get(name)
        if service is None:
            msg = f"no feature service named {name!r}"
            raise ModelError(
                msg,
                where="register",
                fix=f"use one of {sorted(self.definitions.services)}",
            )
        return service
