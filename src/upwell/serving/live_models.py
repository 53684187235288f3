"""The models a process serves right now, swapped whole when the registry changes.

A :class:`LiveModel` is immutable: a request takes one reference at its start and
scores with it to the end, so a promotion that lands mid-request cannot mix versions.
:class:`LiveModels` loads every model a new routing needs *before* it swaps the
reference, so no request ever waits for, or fails on, a load.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from enum import Enum

from upwell.models.errors import ModelError
from upwell.models.metadata import ModelVersion
from upwell.models.protocol import LoadedModel
from upwell.models.registry import ModelRegistry
from upwell.models.routing import CHALLENGER, CHAMPION, Rollout, Routing


class Route(Enum):
    """Which version gave a request its answer."""

    CHAMPION = "champion"
    CANARY = "canary"


@dataclass(frozen=True)
class Deployed:
    """A loaded version."""

    meta: ModelVersion
    model: LoadedModel


@dataclass(frozen=True)
class LiveModel:
    """What one model name serves: its champion and, optionally, a challenger."""

    name: str
    champion: Deployed
    challenger: Deployed | None
    rollout: Rollout
    canary_share: float

    def route(self, entity_key: tuple[object, ...]) -> Route:
        """Champion or canary for an entity: the same entity gets the same route.

        Args:
            entity_key: The request's entity key values.

        Returns:
            The route.
        """
        if self.rollout is not Rollout.CANARY or self.challenger is None:
            return Route.CHAMPION
        return (
            Route.CANARY
            if sticky_bucket(self.name, entity_key) < self.canary_share
            else (Route.CHAMPION)
        )


def sticky_bucket(salt: str, entity_key: tuple[object, ...]) -> float:
    """A number in [0, 1) fixed for an entity, uniform over entities.

    >>> sticky_bucket("fraud", (42,)) == sticky_bucket("fraud", (42,))
    True
    >>> 0 <= sticky_bucket("fraud", ("c-1", 7)) < 1
    True
    """
    text = "\x1f".join([salt, *(repr(v) for v in entity_key)])
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


class LiveModels:
    """Every served model, refreshed from the registry.

    Args:
        registry: The model registry.
    """

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry
        self._live: dict[str, LiveModel] = {}
        self._generation = -1
        self._lock = threading.Lock()
        self.errors: dict[str, str] = {}

    def get(self, name: str) -> LiveModel:
        """The live state of a model, loading it on first use.

        Raises:
            ModelError: The model does not exist, has no champion, or fails to load.
        """
        live = self._live.get(name)
        if live is None:
            with self._lock:
                live = self._live.get(name) or self._build(name, None)
                self._live = {**self._live, name: live}
        return live

    def load_all(self) -> None:
        """Load every registered model now (a server does this before it takes traffic).

        A model that fails to load, or has no champion yet, is noted in :attr:`errors`
        (and loaded on first use once it can be).
        """
        for name in self.registry.names():
            try:
                self.get(name)
                self.errors.pop(name, None)
            except ModelError as error:
                if CHAMPION in self.registry.routing(name).aliases:
                    self.errors[name] = str(error)

    def refresh(self) -> bool:
        """Reload what changed in the registry since the last call.

        A model whose new routing fails to load keeps serving what it served, and the
        failure is kept in :attr:`errors` until a later refresh succeeds.

        Returns:
            Whether anything was swapped.
        """
        generation = self.registry.generation()
        if generation == self._generation:
            return False
        with self._lock:
            self._generation = generation
            fresh = dict(self._live)
            for name in self.registry.names():
                if name not in self._live and name not in self.errors:
                    continue
                try:
                    fresh[name] = self._build(name, self._live.get(name))
                    self.errors.pop(name, None)
                except ModelError as error:
                    self.errors[name] = str(error)
            changed = fresh != self._live
            self._live = fresh
        return changed

    def served(self) -> dict[str, LiveModel]:
        """Every model loaded so far."""
        return dict(self._live)

    def _build(self, name: str, current: LiveModel | None) -> LiveModel:
        routing = self.registry.routing(name)
        champion = self._deployed(name, routing, CHAMPION, current)
        if champion is None:
            msg = f"model {name!r} has no {CHAMPION!r} alias"
            raise ModelError(
                msg, where=f"model {name}", fix=f"promote a version: upwell models promote {name} N"
            )
        challenger = None
        if routing.rollout is not Rollout.OFF:
            challenger = self._deployed(name, routing, CHALLENGER, current)
        return LiveModel(
            name=name,
            champion=champion,
            challenger=challenger,
            rollout=routing.rollout,
            canary_share=routing.canary_share,
        )

    def _deployed(
        self, name: str, routing: Routing, alias: str, current: LiveModel | None
    ) -> Deployed | None:
        version = routing.aliases.get(alias)
        if version is None:
            return None
        if current is not None:
            for held in (current.champion, current.challenger):
                if held is not None and held.meta.version == version:
                    return held
        meta = self.registry.get(name, version)
        return Deployed(meta=meta, model=self.registry.load(meta))
