"""An entity's decision state under one policy: the actions taken recently.

The state is a plain value: a version number (bumped by every change, for
compare-and-set) and the history of actions taken within the policy's horizon (its
longest cooldown or period). Cooldowns, caps and budgets are all answered from the
history, so they are exact over sliding periods.

A period ``p`` read at ``now`` counts actions taken at ``at > now - p``; an action taken
"in the future" of a decision (out-of-order decision times) counts as well.

>>> state = EntityState(version=3, history=(Taken("alert", 1_000), Taken("offer", 5_000, 2.0)))
>>> state.count_since(("alert", "offer"), 999)
2
>>> state.count_since(("alert", "offer"), 1_000)
1
>>> state.last_at(("alert",))
1000
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple


class Taken(NamedTuple):
    """An action taken for the entity.

    Args:
        action: The action's name.
        at_ms: When (decision time, epoch ms).
        cost: What it cost (drawn from its budget).
    """

    action: str
    at_ms: int
    cost: float = 0.0


@dataclass(frozen=True)
class EntityState:
    """One entity's decision state under one policy.

    Args:
        version: Bumped by every committed change; 0 for an entity never decided for.
        history: The actions taken within the policy's horizon, oldest first.
    """

    version: int = 0
    history: tuple[Taken, ...] = ()

    def last_at(self, actions: Collection[str]) -> int | None:
        """The latest time any of the actions was taken.

        Args:
            actions: Action names.

        Returns:
            Epoch ms, or None if none was taken.
        """
        times = [t.at_ms for t in self.history if t.action in actions]
        return max(times) if times else None

    def count_since(self, actions: Collection[str], since_ms: int) -> int:
        """How many of the actions were taken after a time.

        Args:
            actions: Action names.
            since_ms: The exclusive lower bound.

        Returns:
            The count.
        """
        return sum(1 for t in self.history if t.action in actions and t.at_ms > since_ms)

    def spent_since(self, actions: Collection[str], since_ms: int) -> float:
        """What the actions cost together after a time.

        Args:
            actions: Action names.
            since_ms: The exclusive lower bound.

        Returns:
            The total cost.
        """
        return sum(t.cost for t in self.history if t.action in actions and t.at_ms > since_ms)

    def to_json(self) -> list[Any]:
        """The JSON form of the history: ``[[action, at_ms, cost], ...]``.

        Returns:
            A list (the version is kept beside it by the stores).
        """
        return [[t.action, t.at_ms, t.cost] for t in self.history]

    @classmethod
    def from_json(cls, version: int, history: Sequence[Sequence[Any]]) -> EntityState:
        """Read a state back.

        Args:
            version: The version.
            history: What :meth:`to_json` returned.

        Returns:
            The state.
        """
        return cls(int(version), tuple(Taken(str(a), int(t), float(c)) for a, t, c in history))


def advance(
    state: EntityState,
    taken: Sequence[Taken],
    *,
    now_ms: int,
    horizon_ms: int,
    known: Collection[str],
) -> EntityState:
    """The state after taking actions: history pruned to the horizon, version bumped.

    Args:
        state: The state the decision read.
        taken: The actions just taken.
        now_ms: The decision time.
        horizon_ms: How far back history matters (records at ``<= now - horizon`` go).
        known: The policy's action names (records of removed actions go).

    Returns:
        The new state.
    """
    since = now_ms - horizon_ms
    kept = [t for t in (*state.history, *taken) if t.at_ms > since and t.action in known]
    kept.sort(key=lambda t: t.at_ms)
    return EntityState(state.version + 1, tuple(kept))
