"""Feature services: the named, ordered list of features a model consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

from upwell.definitions.errors import DefinitionError
from upwell.definitions.names import check_name
from upwell.definitions.purpose import Purpose


@dataclass(frozen=True, kw_only=True)
class FeatureService:
    """The features one model reads, in its input order.

    Args:
        name: The service's name.
        features: Qualified feature names (``"view.feature"``) or whole views; a view
            stands for all its features in definition order.
        output_names: Optional column names for the features (e.g. a model's own names),
            in the same order; defaults to the qualified names.
        purposes: The purposes the features are served for (e.g. ``Purpose.MARKETING``).
            Where a purpose needs consent, the features (and scores of models on them) are
            served only for entities that gave it. Purposes do not change feature values,
            so they are not part of the definitions' fingerprint.

    Raises:
        DefinitionError: A feature is listed twice, names do not match, or a purpose is
            not a :class:`~upwell.definitions.purpose.Purpose`.
    """

    name: str
    features: tuple[object, ...]
    output_names: tuple[str, ...] | None = None
    purposes: tuple[Purpose, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        where = f"FeatureService {self.name!r}"
        check_name(self.name, definition=where)
        refs: list[str] = []
        for item in self.features:
            if isinstance(item, str):
                refs.append(item)
            elif hasattr(item, "feature_refs"):
                refs.extend(item.feature_refs)
            else:
                raise DefinitionError(
                    where,
                    "features",
                    f"{item!r} is neither a name nor a view",
                    "pass 'view.feature'",
                )
        if len(set(refs)) != len(refs) or not refs:
            raise DefinitionError(
                where, "features", "is empty or lists a feature twice", "list each feature once"
            )
        object.__setattr__(self, "features", tuple(refs))
        if self.output_names is not None:
            names = tuple(self.output_names)
            if len(names) != len(refs) or len(set(names)) != len(names):
                raise DefinitionError(
                    where,
                    "output_names",
                    f"has {len(names)} distinct-or-not names for {len(refs)} features",
                    "give one distinct name per feature, or leave output_names out",
                )
            object.__setattr__(self, "output_names", names)
        self._check_purposes(where)

    def _check_purposes(self, where: str) -> None:
        raw: object = self.purposes
        items = (raw,) if isinstance(raw, Purpose) else raw
        if not isinstance(items, tuple | list) or not all(isinstance(p, Purpose) for p in items):
            raise DefinitionError(
                where,
                "purposes",
                f"{raw!r} is not a tuple of Purpose objects",
                "use e.g. purposes=(Purpose.MARKETING,)",
            )
        object.__setattr__(self, "purposes", tuple(dict.fromkeys(items)))

    @property
    def refs(self) -> tuple[str, ...]:
        """The qualified feature names, in order."""
        return tuple(str(f) for f in self.features)

    @property
    def columns(self) -> tuple[str, ...]:
        """The output column names, in order."""
        return self.output_names if self.output_names is not None else self.refs
