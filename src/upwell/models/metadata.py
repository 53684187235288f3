"""What the registry records about each model version, and its JSON form."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from upwell.models.errors import ModelError
from upwell.models.protocol import ModelFormat, Trust


@dataclass(frozen=True, kw_only=True)
class ModelVersion:
    """One registered version of a model.

    Args:
        name: The model's name.
        version: Its number, from 1, in registration order.
        format: The file's format.
        file: The model file's name inside the version's directory.
        sha256: The file's digest, checked again on every load.
        features: The feature service the model consumes.
        inputs: The service's output columns, in the model's input order.
        definitions_fingerprint: The definitions' fingerprint when it was registered.
        training_fingerprint: A digest of the training set, when one was given.
        metrics: Training metrics, e.g. ``{"auc": 0.87}``.
        created_ms: When it was registered, epoch milliseconds.
        trust: What its load may trust beyond data-only formats.
        description: Free text.
    """

    name: str
    version: int
    format: ModelFormat
    file: str
    sha256: str
    features: str
    inputs: tuple[str, ...]
    definitions_fingerprint: str
    training_fingerprint: str | None
    metrics: dict[str, float] = field(default_factory=dict)
    created_ms: int
    trust: Trust = field(default_factory=Trust)
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        """The version as plain JSON values."""
        data = asdict(self)
        data["format"] = self.format.value
        data["inputs"] = list(self.inputs)
        data["trust"] = {
            "types": list(self.trust.types),
            "pickle_sha256": list(self.trust.pickle_sha256),
        }
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str) -> ModelVersion:
        """Read a version back from :meth:`to_json`'s form.

        Args:
            data: The JSON object.
            where: The file it came from, for errors.

        Returns:
            The version.

        Raises:
            ModelError: A field is missing or of the wrong type.
        """
        try:
            trust = data.get("trust") or {}
            return cls(
                name=str(data["name"]),
                version=int(data["version"]),
                format=ModelFormat(data["format"]),
                file=str(data["file"]),
                sha256=str(data["sha256"]),
                features=str(data["features"]),
                inputs=tuple(str(i) for i in data["inputs"]),
                definitions_fingerprint=str(data["definitions_fingerprint"]),
                training_fingerprint=data.get("training_fingerprint"),
                metrics={str(k): float(v) for k, v in (data.get("metrics") or {}).items()},
                created_ms=int(data["created_ms"]),
                trust=Trust(
                    types=tuple(trust.get("types", ())),
                    pickle_sha256=tuple(trust.get("pickle_sha256", ())),
                ),
                description=str(data.get("description", "")),
            )
        except (KeyError, TypeError, ValueError) as error:
            msg = f"model metadata is damaged: {type(error).__name__}: {error}"
            raise ModelError(
                msg, where=where, fix="restore the file, or register the model again"
            ) from None
