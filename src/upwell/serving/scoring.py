"""Scoring: features for entity rows, then the served model's score, with timings."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from upwell.models.errors import ModelError
from upwell.models.routing import Rollout
from upwell.serving.live_models import Deployed, LiveModel, LiveModels, Route


class FeatureReader(Protocol):
    """Reads feature vectors for entity rows (the feature store implements it)."""

    def read_vectors(
        self, features: str, rows: Sequence[Mapping[str, Any]], as_of_ms: int | None
    ) -> tuple[tuple[str, ...], list[list[Any]]]:
        """The service's columns and one list of values per row."""
        ...

    def entity_keys(self, features: str) -> tuple[str, ...]:
        """The entity key fields a service's rows carry."""
        ...


@dataclass(frozen=True, kw_only=True)
class ShadowScore:
    """What the challenger said, recorded but not answered."""

    version: int
    score: float


@dataclass(frozen=True, kw_only=True)
class Prediction:
    """One scored row.

    Args:
        request_id: The request's id (given, or generated).
        model: The model's name.
        version: The version whose score is the answer.
        score: The answer.
        route: Champion or canary.
        features: The feature values the model saw, by column.
        entity: The row's entity key fields.
        timings_us: ``features``, ``model`` and ``total`` microseconds (per batch).
        shadow: The challenger's score in shadow mode.
        contributions: Per-input contributions, when asked for and supported.
        as_of_ms: The time the features were read as of (epoch ms); None: the store's
            "now" (the audit log records the prediction at this time).
    """

    request_id: str
    model: str
    version: int
    score: float
    route: Route
    features: dict[str, Any]
    entity: dict[str, Any]
    timings_us: dict[str, float]
    shadow: ShadowScore | None = None
    contributions: dict[str, float] | None = field(default=None)
    as_of_ms: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The prediction as plain JSON values."""
        return {
            "request_id": self.request_id,
            "model": self.model,
            "version": self.version,
            "score": self.score,
            "route": self.route.value,
            "features": self.features,
            "entity": self.entity,
            "timings_us": self.timings_us,
            "shadow": None
            if self.shadow is None
            else {"version": self.shadow.version, "score": self.shadow.score},
            "contributions": self.contributions,
        }


PredictionSink = Callable[[Sequence[Prediction]], None]


class Scorer:
    """Scores entity rows with the models a registry serves.

    Args:
        reader: Where feature vectors come from.
        live: The served models.
        sinks: Called with every batch of predictions (the audit log, metrics).
    """

    def __init__(
        self, reader: FeatureReader, live: LiveModels, sinks: Sequence[PredictionSink] = ()
    ) -> None:
        self.reader = reader
        self.live = live
        self.sinks = list(sinks)

    def score(
        self,
        model: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        as_of_ms: int | None = None,
        request_ids: Sequence[str] | None = None,
        explain: bool = False,
    ) -> list[Prediction]:
        """Score rows with a model's served version(s).

        Args:
            model: The model's name.
            rows: Entity rows: the entities' keys plus request fields.
            as_of_ms: Read features as of this time; default now.
            request_ids: One id per row; generated where not given.
            explain: Also compute per-input contributions, where the format can.

        Returns:
            One prediction per row, in order.

        Raises:
            ModelError: No such model, or it serves no champion.
            RequestError: A row lacks a key or request field.
        """
        started = time.perf_counter()
        live = self.live.get(model)  # one reference for the whole request
        service = live.champion.meta.features
        columns, vectors = self.reader.read_vectors(service, rows, as_of_ms)
        _check_columns(live, columns)
        read_done = time.perf_counter()
        x = _matrix(vectors)
        keys = self.reader.entity_keys(service)
        entities = [{k: row.get(k) for k in keys} for row in rows]
        routes = [live.route(tuple(e.values())) for e in entities]
        scores = _scores_by_route(live, x, routes)
        shadow = _shadow_scores(live, x)
        contributions = _contributions(live, x, routes, columns) if explain else None
        done = time.perf_counter()
        timings = {
            "features": (read_done - started) * 1e6,
            "model": (done - read_done) * 1e6,
            "total": (done - started) * 1e6,
        }
        ids = list(request_ids) if request_ids is not None else [uuid.uuid4().hex for _ in rows]
        predictions = [
            Prediction(
                request_id=ids[i],
                model=model,
                version=_deployed(live, routes[i]).meta.version,
                score=float(scores[i]),
                route=routes[i],
                features=dict(zip(columns, vectors[i], strict=True)),
                entity=entities[i],
                timings_us=timings,
                shadow=None
                if shadow is None
                else ShadowScore(version=shadow[0], score=float(shadow[1][i])),
                contributions=None if contributions is None else contributions[i],
                as_of_ms=as_of_ms,
            )
            for i in range(len(rows))
        ]
        for sink in self.sinks:
            sink(predictions)
        return predictions


def _check_columns(live: LiveModel, columns: tuple[str, ...]) -> None:
    for deployed in (live.champion, live.challenger):
        if deployed is not None and deployed.meta.inputs != columns:
            msg = (
                f"version {deployed.meta.version} was registered for columns "
                f"{list(deployed.meta.inputs)} but feature service "
                f"{deployed.meta.features!r} now gives {list(columns)}"
            )
            raise ModelError(
                msg,
                where=f"model {live.name}",
                fix="register a version trained on the current definitions, or restore them",
            )


def _matrix(vectors: list[list[Any]]) -> np.ndarray:
    """Feature rows as float64, missing values as NaN."""
    return np.array(
        [[np.nan if v is None else v for v in row] for row in vectors], dtype=np.float64
    ).reshape(len(vectors), -1)


def _deployed(live: LiveModel, route: Route) -> Deployed:
    if route is Route.CANARY and live.challenger is not None:
        return live.challenger
    return live.champion


def _scores_by_route(live: LiveModel, x: np.ndarray, routes: list[Route]) -> np.ndarray:
    scores = np.empty(len(routes), dtype=np.float64)
    canary = np.array([r is Route.CANARY for r in routes], dtype=bool)
    if (~canary).any():
        scores[~canary] = _predict(live.champion, x[~canary])
    if canary.any() and live.challenger is not None:
        scores[canary] = _predict(live.challenger, x[canary])
    return scores


def _shadow_scores(live: LiveModel, x: np.ndarray) -> tuple[int, np.ndarray] | None:
    if live.rollout is not Rollout.SHADOW or live.challenger is None or not len(x):
        return None
    return live.challenger.meta.version, _predict(live.challenger, x)


def _predict(deployed: Deployed, x: np.ndarray) -> np.ndarray:
    """The model's scores, or an error that names the missing features if it failed."""
    try:
        return np.asarray(deployed.model.predict(x), dtype=np.float64)
    except ModelError:
        raise
    except Exception as error:
        meta = deployed.meta
        missing = [c for c, gap in zip(meta.inputs, np.isnan(x).any(axis=0), strict=True) if gap]
        detail = f"; features without a value: {missing}" if missing else ""
        failure = f"version {meta.version} failed to score: {type(error).__name__}: {error}"
        msg = f"{failure.splitlines()[0]}{detail}"
        raise ModelError(
            msg,
            where=f"model {meta.name}",
            fix="send rows whose features all have values (e.g. read as of a time with "
            "events), or register a model that accepts missing values",
        ) from None


def _contributions(
    live: LiveModel, x: np.ndarray, routes: list[Route], columns: tuple[str, ...]
) -> list[dict[str, float] | None]:
    out: list[dict[str, float] | None] = []
    names = [*columns, "bias"]
    for i, route in enumerate(routes):
        values = _deployed(live, route).model.contributions(x[i : i + 1])
        out.append(None if values is None else dict(zip(names, map(float, values[0]), strict=True)))
    return out
