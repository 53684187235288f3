"""Which stores and functions a list of requested features needs, split by kind."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from upwell.definitions.batch import BatchFeatures
from upwell.definitions.feature_view import FeatureView
from upwell.definitions.registry import Registry
from upwell.definitions.request import RequestSource
from upwell.engine.request_features import inputs_of, needed_request_features


@dataclass(frozen=True)
class FeatureRequestPlan:
    """The requested names, grouped by what produces them."""

    refs: tuple[str, ...]
    views: dict[str, list[str]]
    batches: dict[str, list[str]]
    request_fields: dict[str, list[str]]
    request_order: tuple[str, ...]

    @property
    def entity_keys(self) -> tuple[str, ...]:
        """Every entity key column the stored features need (no duplicates, in order)."""
        return tuple(dict.fromkeys(k for keys in self.key_sets.values() for k in keys))

    @cached_property
    def view_outputs(self) -> dict[str, tuple[tuple[str, str], ...]]:
        """Per view, its requested features as (name, qualified name) pairs."""
        return {
            view: tuple((name, f"{view}.{name}") for name in names)
            for view, names in self.views.items()
        }

    @cached_property
    def key_sets(self) -> dict[str, tuple[str, ...]]:
        """Group name to its entity's key columns."""
        return dict(self._keys)

    _keys: tuple[tuple[str, tuple[str, ...]], ...] = ()


def plan_request(registry: Registry, refs: tuple[str, ...]) -> FeatureRequestPlan:
    """Split requested features by the group kind that produces them.

    Request features' inputs are added to what is read, so they can be computed.

    Args:
        registry: The definitions.
        refs: Qualified names, each checked to exist.

    Returns:
        The plan.
    """
    order = needed_request_features(registry, refs)
    wanted = list(dict.fromkeys([*refs, *sorted(inputs_of(registry, order))]))
    views: dict[str, list[str]] = {}
    batches: dict[str, list[str]] = {}
    fields: dict[str, list[str]] = {}
    keys: dict[str, tuple[str, ...]] = {}
    for ref in wanted:
        group = registry.group_of(ref)
        name = ref.partition(".")[2]
        if isinstance(group, FeatureView):
            views.setdefault(group.name, []).append(name)
            keys[group.name] = group.entity.keys
        elif isinstance(group, BatchFeatures):
            batches.setdefault(group.name, []).append(name)
            keys[group.name] = group.entity.keys
        elif isinstance(group, RequestSource):
            fields.setdefault(group.name, []).append(name)
    return FeatureRequestPlan(
        refs=refs,
        views=views,
        batches=batches,
        request_fields=fields,
        request_order=order,
        _keys=tuple(keys.items()),
    )
