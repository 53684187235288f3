"""Declarative, validated definitions: entities, sources, features, services."""
