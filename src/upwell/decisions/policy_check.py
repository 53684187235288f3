"""Checking a policy against validated feature definitions, before it decides anything."""

from __future__ import annotations

from upwell.decisions.policy import Policy
from upwell.definitions.errors import DefinitionError
from upwell.definitions.registry import Registry
from upwell.definitions.service import FeatureService


def check_policy(policy: Policy, registry: Registry) -> tuple[str, ...]:
    """Check that a policy's entity, features and expressions fit the definitions.

    Args:
        policy: The policy.
        registry: The validated definitions (``FeatureStore.registry``).

    Returns:
        The feature columns the policy reads (the service's output names), in order.

    Raises:
        DefinitionError: The entity or feature service is unknown, or an expression reads
            a name that is neither a column of the service nor a declared request field.
    """
    where = f"Policy {policy.name!r}"
    if policy.entity.name not in registry.entities:
        raise DefinitionError(
            where,
            "entity",
            f"entity {policy.entity.name!r} is not among the definitions",
            f"use one of {sorted(registry.entities)}",
        )
    columns: tuple[str, ...] = ()
    name = policy.features_name
    if name is not None:
        service = registry.services.get(name)
        if service is None:
            raise DefinitionError(
                where,
                "features",
                f"feature service {name!r} is not among the definitions",
                f"use one of {sorted(registry.services)}, or add it to the definitions",
            )
        if isinstance(policy.features, FeatureService) and policy.features != service:
            raise DefinitionError(
                where, "features", f"differs from the defined service {name!r}", "pass that one"
            )
        columns = service.columns
    unknown = sorted(policy.inputs.difference(columns, policy.request_fields))
    if unknown:
        raise DefinitionError(
            where,
            "actions",
            f"expressions read {unknown}, which are neither columns of "
            f"{name or 'a feature service'} nor request fields",
            f"use the service's columns {list(columns)} or list them in request_fields",
        )
    return columns
