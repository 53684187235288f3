"""A model's aliases, their history and its rollout (shadow or canary): one JSON file."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from upwell.models.errors import ModelError

CHAMPION = "champion"
CHALLENGER = "challenger"


class Rollout(Enum):
    """How a challenger takes part in scoring.

    ``OFF``: only the champion scores. ``SHADOW``: the challenger scores every request
    too and its score is recorded, but the answer is the champion's. ``CANARY``: a share
    of entities (the same entities every time) get the challenger's answer.
    """

    OFF = "off"
    SHADOW = "shadow"
    CANARY = "canary"


@dataclass(frozen=True, kw_only=True)
class AliasChange:
    """One move of an alias, kept so that a rollback knows where to go back to."""

    alias: str
    previous: int | None
    version: int | None
    at_ms: int


@dataclass(frozen=True, kw_only=True)
class Routing:
    """Aliases, their history and the rollout of one model.

    Args:
        aliases: Alias to version.
        history: Every alias change, oldest first.
        rollout: How the challenger takes part.
        canary_share: The share of entities the canary serves, in [0, 1].
    """

    aliases: dict[str, int] = field(default_factory=dict)
    history: tuple[AliasChange, ...] = ()
    rollout: Rollout = Rollout.OFF
    canary_share: float = 0.0

    def moved(self, alias: str, version: int | None, at_ms: int) -> Routing:
        """The routing with ``alias`` pointing at ``version`` (None removes it)."""
        aliases = dict(self.aliases)
        previous = aliases.get(alias)
        if version is None:
            aliases.pop(alias, None)
        else:
            aliases[alias] = version
        change = AliasChange(alias=alias, previous=previous, version=version, at_ms=at_ms)
        return replace(self, aliases=aliases, history=(*self.history, change))

    def rolled_back(self, alias: str, at_ms: int, where: str) -> Routing:
        """The routing with ``alias`` back on the version it pointed at before.

        Raises:
            ModelError: The alias never pointed anywhere else.
        """
        for change in reversed(self.history):
            if change.alias == alias:
                if change.previous is None:
                    break
                return self.moved(alias, change.previous, at_ms)
        msg = f"alias {alias!r} has no earlier version to roll back to"
        raise ModelError(msg, where=where, fix="promote a version explicitly instead")

    def to_json(self) -> dict[str, Any]:
        """The routing as plain JSON values."""
        return {
            "aliases": self.aliases,
            "history": [
                {"alias": c.alias, "previous": c.previous, "version": c.version, "at_ms": c.at_ms}
                for c in self.history
            ],
            "rollout": self.rollout.value,
            "canary_share": self.canary_share,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str) -> Routing:
        """Read a routing back from :meth:`to_json`'s form.

        Raises:
            ModelError: The file is damaged.
        """
        try:
            return cls(
                aliases={str(k): int(v) for k, v in data.get("aliases", {}).items()},
                history=tuple(
                    AliasChange(
                        alias=str(c["alias"]),
                        previous=c["previous"],
                        version=c["version"],
                        at_ms=int(c["at_ms"]),
                    )
                    for c in data.get("history", [])
                ),
                rollout=Rollout(data.get("rollout", Rollout.OFF.value)),
                canary_share=float(data.get("canary_share", 0.0)),
            )
        except (KeyError, TypeError, ValueError) as error:
            msg = f"routing file is damaged: {type(error).__name__}: {error}"
            raise ModelError(msg, where=where, fix="restore the file from a backup") from None


def check_share(share: float, where: str) -> float:
    """A canary share, checked to lie in [0, 1].

    Raises:
        ModelError: It does not.
    """
    if not 0.0 <= share <= 1.0:
        msg = f"canary share {share!r} is outside [0, 1]"
        raise ModelError(msg, where=where, fix="give a share such as 0.1 for 10% of entities")
    return float(share)
