"""Validation of a set of definitions, and lookups over the validated set."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import Any

from upwell.definitions.batch import BatchFeatures
from upwell.definitions.entity import Entity
from upwell.definitions.errors import DefinitionError
from upwell.definitions.feature_view import Feature, FeatureView
from upwell.definitions.request import RequestFeature, RequestFeatureView, RequestSource
from upwell.definitions.service import FeatureService
from upwell.definitions.source import EventSource

Definition = (
    Entity
    | EventSource
    | FeatureView
    | BatchFeatures
    | RequestSource
    | RequestFeatureView
    | FeatureService
)
Group = FeatureView | BatchFeatures | RequestSource | RequestFeatureView


@dataclass(frozen=True)
class Registry:
    """A validated set of definitions; build it with :func:`validate`."""

    entities: dict[str, Entity] = field(default_factory=dict)
    sources: dict[str, EventSource] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    services: dict[str, FeatureService] = field(default_factory=dict)
    request_order: tuple[str, ...] = ()
    index: dict[str, Group] = field(default_factory=dict)
    request_features: dict[str, RequestFeature] = field(default_factory=dict)

    @property
    def views(self) -> dict[str, FeatureView]:
        """Feature views by name."""
        return {n: g for n, g in self.groups.items() if isinstance(g, FeatureView)}

    @property
    def batches(self) -> dict[str, BatchFeatures]:
        """Batch feature groups by name."""
        return {n: g for n, g in self.groups.items() if isinstance(g, BatchFeatures)}

    def views_of(self, source: str) -> list[FeatureView]:
        """The feature views that aggregate a source.

        Args:
            source: The source name.

        Returns:
            The views, in definition order.
        """
        return [v for v in self.views.values() if v.source.name == source]

    def group_of(self, ref: str) -> Group:
        """The group (view, batch, request source or request view) of a qualified name.

        Args:
            ref: ``"group.feature"``.

        Returns:
            The group.

        Raises:
            DefinitionError: The name is unknown.
        """
        group = self.index.get(ref)
        if group is None:
            known = sorted(r for g in self.groups.values() for r in g.feature_refs)
            raise DefinitionError(
                "features",  # noqa: EM101 (the definition, not the message)
                ref,
                f"{ref!r} is not a known feature (known: {known[:20]}"
                f"{'...' if len(known) > 20 else ''})",
                "use 'view.feature' with a view passed to apply()",
            )
        return group

    def expand(self, features: FeatureService | str | Sequence[str]) -> tuple[str, ...]:
        """Resolve a service, a service name or a list of names into qualified names.

        Args:
            features: A FeatureService, a service's name, or feature names.

        Returns:
            The qualified names in order, each checked to exist.
        """
        if isinstance(features, FeatureService):
            refs = features.refs
        elif isinstance(features, str) and features in self.services:
            refs = self.services[features].refs
        elif isinstance(features, str):
            refs = (features,)
        else:
            refs = tuple(features)
        for ref in refs:
            self.group_of(ref)
        return refs

    @property
    def fingerprint(self) -> str:
        """A stable hash of every definition, for lineage and model metadata."""
        digest = hashlib.sha256()
        for kind in (self.entities, self.sources, self.groups, self.services):
            for name in sorted(kind):
                digest.update(_describe(kind[name]).encode())
        return digest.hexdigest()[:16]


def _describe(obj: object) -> str:
    if isinstance(obj, RequestFeatureView):
        parts = [f"{f.name}:{f.inputs}:{f.dtype}:{_function_identity(f)}" for f in obj.features]
        return f"RequestFeatureView({obj.name}, {parts})"
    return repr(obj)


def _function_identity(feature: RequestFeature) -> str:
    func = feature.function
    code = getattr(func, "__code__", None)
    body = hashlib.sha256(code.co_code).hexdigest()[:12] if code is not None else ""
    return f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', repr(func))}@{body}"


def validate(definitions: Iterable[Definition]) -> Registry:
    """Validate definitions as a set and index them.

    Entities and sources referenced by views need not be listed separately.

    Args:
        definitions: Entities, sources, views, batch features, request sources and
            views, and feature services.

    Returns:
        The registry.

    Raises:
        DefinitionError: An object is not a definition, a name repeats, a feature reads an
            unknown or unsuitable column, a request feature reads an unknown feature or
            features depend on each other in a cycle, or a service lists an unknown feature.
    """
    registry = Registry()
    for item in definitions:
        _add(registry, item)
    for view in registry.views.values():
        for feature in view.features:
            _check_columns(view, feature)
    for group in registry.groups.values():
        for ref in group.feature_refs:
            registry.index[ref] = group
        if isinstance(group, RequestFeatureView):
            for request_feature in group.features:
                registry.request_features[f"{group.name}.{request_feature.name}"] = request_feature
    order = _request_order(registry)
    object.__setattr__(registry, "request_order", order)
    for service in registry.services.values():
        for ref in service.refs:
            _known(registry, ref, f"FeatureService {service.name!r}", "features")
    return registry


def _add(registry: Registry, item: object) -> None:
    if isinstance(item, Entity):
        _put(registry.entities, item.name, item, "Entity")
    elif isinstance(item, EventSource):
        _put(registry.sources, item.name, item, "EventSource")
        for entity in item.entities:
            _put(registry.entities, entity.name, entity, "Entity")
    elif isinstance(item, FeatureView):
        _add(registry, item.source)
        _put(registry.groups, item.name, item, "feature group")
    elif isinstance(item, BatchFeatures):
        _put(registry.entities, item.entity.name, item.entity, "Entity")
        _put(registry.groups, item.name, item, "feature group")
    elif isinstance(item, RequestSource | RequestFeatureView):
        _put(registry.groups, item.name, item, "feature group")
    elif isinstance(item, FeatureService):
        _put(registry.services, item.name, item, "FeatureService")
    else:
        raise DefinitionError(
            "definitions",  # noqa: EM101 (the definition, not the message)
            "",
            f"{item!r} is not a definition",
            "pass Entity, EventSource, FeatureView, BatchFeatures, RequestSource, "
            "RequestFeatureView or FeatureService objects",
        )


def _put(table: dict[str, Any], name: str, item: object, kind: str) -> None:
    existing = table.get(name)
    if existing is not None and existing is not item and existing != item:
        raise DefinitionError(
            f"{kind} {name!r}",  # noqa: EM102 (the definition, not the message)
            "name",
            f"two different definitions are named {name!r}",
            "give each definition its own name",
        )
    table[name] = item


def _check_columns(view: FeatureView, feature: Feature) -> None:
    where = f"FeatureView {view.name!r}, feature {feature.name!r}"
    schema = view.source.schema
    exprs = [("aggregation", e) for e in feature.aggregation.inputs]
    if feature.where is not None:
        exprs.append(("where", feature.where))
    for field_name, expr in exprs:
        for column in sorted(expr.columns()):
            if column not in schema:
                raise DefinitionError(
                    where,
                    field_name,
                    f"reads column {column!r}, which source {view.source.name!r} does not have",
                    f"use one of {sorted(schema)} or add {column!r} to the source schema",
                )
            kind = schema[column]
            numeric = getattr(kind, "is_numeric", False)
            if field_name == "aggregation" and feature.aggregation.needs_numeric and not numeric:
                raise DefinitionError(
                    where,
                    field_name,
                    f"{feature.aggregation.label} needs a numeric column; {column!r} is {kind}",
                    "aggregate a numeric column, or use Count/DistinctCount/Last for other types",
                )


def _known(registry: Registry, ref: str, where: str, field_name: str) -> None:
    if ref not in registry.index:
        known = sorted(r for g in registry.groups.values() for r in g.feature_refs)
        raise DefinitionError(
            where,
            field_name,
            f"depends on unknown feature {ref!r}",
            f"use one of {known[:12]}{'...' if len(known) > 12 else ''}, or define it",
        )


def _request_order(registry: Registry) -> tuple[str, ...]:
    graph: dict[str, set[str]] = {}
    for group in registry.groups.values():
        if isinstance(group, RequestFeatureView):
            for feature in group.features:
                ref = f"{group.name}.{feature.name}"
                for dep in feature.inputs:
                    _known(registry, dep, f"RequestFeature {ref!r}", "inputs")
                graph[ref] = {d for d in feature.inputs if _is_request_feature(registry, d)}
    try:
        return tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        cycle = " -> ".join(error.args[1])
        raise DefinitionError(
            "RequestFeatureView",  # noqa: EM101 (the definition, not the message)
            "inputs",
            f"request features depend on each other in a cycle: {cycle}",
            "break the cycle so each feature depends only on earlier ones",
        ) from error


def _is_request_feature(registry: Registry, ref: str) -> bool:
    return isinstance(registry.groups.get(ref.partition(".")[0]), RequestFeatureView)
