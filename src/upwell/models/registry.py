"""The model registry: versioned models with metadata and aliases, in a directory.

Layout under the registry's root::

    generation                 a counter bumped by every change (servers poll it)
    <model>/routing.json       aliases, their history, the rollout
    <model>/<version>/meta.json
    <model>/<version>/model.<ext>

A version is written to a staging directory, loaded, checked against its feature
service and smoke-scored there, and only then renamed into place: a model that fails
any check leaves the registry exactly as it was. Changes take an exclusive lock on the
root, so several processes (CLI, server replicas) may share one registry.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from upwell.models import formats
from upwell.models.checks import check_inputs, smoke_score
from upwell.models.errors import ModelError, ModelNotFoundError
from upwell.models.files import LockedDirectory, write_json_atomic
from upwell.models.metadata import ModelVersion
from upwell.models.protocol import LoadedModel, ModelFormat, Trust
from upwell.models.routing import Rollout, Routing, check_share


@dataclass(frozen=True)
class _Staged:
    """A checked model file waiting in the staging directory."""

    format: ModelFormat
    file: str
    sha256: str
    trust: Trust


_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")


class ModelRegistry:
    """Versioned models in a directory.

    Args:
        root: The registry's directory (created if missing).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = LockedDirectory(self.root)

    # ---- reading ------------------------------------------------------------------

    def names(self) -> list[str]:
        """Every registered model's name, sorted."""
        return sorted(p.parent.name for p in self.root.glob("*/routing.json"))

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of a model, oldest first.

        Raises:
            ModelError: No model has that name.
        """
        directory = self._model_dir(name)
        found = [int(p.name) for p in directory.iterdir() if p.name.isdigit()]
        return [self._read_version(name, v) for v in sorted(found)]

    def routing(self, name: str) -> Routing:
        """A model's aliases and rollout.

        Raises:
            ModelError: No model has that name.
        """
        path = self._model_dir(name) / "routing.json"
        return Routing.from_json(_read_json(path), str(path))

    def get(self, name: str, ref: int | str) -> ModelVersion:
        """A version by number or alias.

        Args:
            name: The model's name.
            ref: A version number, or an alias such as ``"champion"``.

        Raises:
            ModelError: No such model, version or alias.
        """
        return self._read_version(name, self.resolve(name, ref))

    def resolve(self, name: str, ref: int | str) -> int:
        """The version number a reference points at.

        Raises:
            ModelError: No such model, version or alias.
        """
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            version = int(ref)
            if not (self._model_dir(name) / str(version)).is_dir():
                msg = f"model {name!r} has no version {version}"
                raise ModelNotFoundError(msg, where=f"model {name}", fix=self._fix_versions(name))
            return version
        aliases = self.routing(name).aliases
        if ref not in aliases:
            msg = f"model {name!r} has no alias {ref!r}"
            raise ModelNotFoundError(
                msg,
                where=f"model {name}",
                fix=f"use one of {sorted(aliases)} or a version number, or promote a version",
            )
        return aliases[ref]

    def load(self, version: ModelVersion) -> LoadedModel:
        """Load a version's model, checking the file is the one registered.

        Raises:
            ModelError: The file changed since registration, or fails to load.
        """
        path = self._version_dir(version.name, version.version) / version.file
        if formats.file_sha256(path) != version.sha256:
            msg = "the model file changed since it was registered (SHA-256 differs)"
            raise ModelError(msg, where=str(path), fix="register the new file as a new version")
        return formats.load_model(path, version.format, version.trust)

    def generation(self) -> int:
        """A counter that changes whenever anything in the registry changes."""
        try:
            return int((self.root / "generation").read_text() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    # ---- changing -----------------------------------------------------------------

    def register(
        self,
        name: str,
        model: object,
        *,
        features: str,
        inputs: tuple[str, ...],
        definitions_fingerprint: str,
        now_ms: int,
        training_set: Any = None,
        metrics: Mapping[str, float] | None = None,
        trust_types: tuple[str, ...] = (),
        allow_pickle: bool = False,
        description: str = "",
        aliases: tuple[str, ...] = (),
    ) -> ModelVersion:
        """Check and store a new version of a model.

        Args:
            name: The model's name.
            model: A model file's path, or a model object (scikit-learn, LightGBM,
                XGBoost, ONNX) to store in its safest format.
            features: The feature service it consumes.
            inputs: The service's output columns, in the model's input order.
            definitions_fingerprint: The definitions' fingerprint.
            now_ms: The registration time.
            training_set: The training DataFrame, fingerprinted for lineage.
            metrics: Training metrics.
            trust_types: Python types a scikit-learn file may contain beyond the defaults.
            allow_pickle: Accept a pickle/joblib file, pinning its SHA-256: pickles run code
                when loaded, so only trusted files should be registered this way.
            description: Free text.
            aliases: Aliases to point at the new version, e.g. ``("challenger",)``.

        Returns:
            The new version.

        Raises:
            ModelError: The name, file, format, inputs or trust are wrong; nothing changed.
        """
        _check_name(name)
        with tempfile.TemporaryDirectory(dir=self.root, prefix=".staging-") as staging:
            staged = self._stage(Path(staging), name, model, trust_types, allow_pickle, inputs)
            with self._lock.held():
                meta = ModelVersion(
                    name=name,
                    version=self._next_version(name),
                    format=staged.format,
                    file=staged.file,
                    sha256=staged.sha256,
                    features=features,
                    inputs=inputs,
                    definitions_fingerprint=definitions_fingerprint,
                    training_fingerprint=_fingerprint(training_set),
                    metrics=_metrics(metrics),
                    created_ms=now_ms,
                    trust=staged.trust,
                    description=description,
                )
                write_json_atomic(Path(staging) / "meta.json", meta.to_json())
                (self.root / name).mkdir(exist_ok=True)
                Path(staging).rename(self.root / name / str(meta.version))
                Path(staging).mkdir()  # TemporaryDirectory removes it on exit
                routing = self._routing_or_empty(name)
                for alias in aliases:
                    routing = routing.moved(_check_alias(alias), meta.version, now_ms)
                self._write_routing(name, routing)
        return meta

    def promote(self, name: str, ref: int | str, *, alias: str, now_ms: int) -> ModelVersion:
        """Point an alias at a version (the version a server then serves under it).

        Raises:
            ModelError: No such model, version or alias.
        """
        with self._lock.held():
            number = self.resolve(name, ref)
            self._write_routing(name, self.routing(name).moved(_check_alias(alias), number, now_ms))
        return self._read_version(name, number)

    def rollback(self, name: str, *, alias: str, now_ms: int) -> ModelVersion:
        """Point an alias back at the version it pointed at before its last move.

        Raises:
            ModelError: No such model, or the alias has no earlier version.
        """
        with self._lock.held():
            routing = self.routing(name).rolled_back(alias, now_ms, f"model {name}")
            self._write_routing(name, routing)
        return self._read_version(name, routing.aliases[alias])

    def set_rollout(self, name: str, rollout: Rollout, *, canary_share: float = 0.0) -> Routing:
        """Set how the challenger takes part: off, shadow, or canary with a share.

        Raises:
            ModelError: No such model, or the share is outside [0, 1].
        """
        share = check_share(canary_share, f"model {name}")
        with self._lock.held():
            routing = self.routing(name)
            routing = Routing(
                aliases=routing.aliases,
                history=routing.history,
                rollout=rollout,
                canary_share=share,
            )
            self._write_routing(name, routing)
        return routing

    # ---- internals ----------------------------------------------------------------

    def _stage(
        self,
        staging: Path,
        name: str,
        model: object,
        trust_types: tuple[str, ...],
        allow_pickle: bool,
        inputs: tuple[str, ...],
    ) -> _Staged:
        """Copy or save the model into ``staging``, load and check it there."""
        if isinstance(model, str | Path):
            source = Path(model)
            if not source.is_file():
                msg = "model file does not exist"
                raise ModelError(msg, where=str(source), fix="give the path of a model file")
            fmt = formats.detect_format(source)
            target = staging / f"model{''.join(source.suffixes[-1:])}"
            shutil.copyfile(source, target)
        else:
            fmt, target = formats.save_model(model, staging)
        digest = formats.file_sha256(target)
        trust = Trust(types=trust_types, pickle_sha256=(digest,) if allow_pickle else ())
        loaded = formats.load_model(target, fmt, trust)
        where = f"model {name} ({target.name})"
        check_inputs(loaded, inputs, name, where)
        smoke_score(loaded, len(inputs), where)
        return _Staged(format=fmt, file=target.name, sha256=digest, trust=trust)

    def _next_version(self, name: str) -> int:
        directory = self.root / name
        if not directory.is_dir():
            return 1
        return max((int(p.name) for p in directory.iterdir() if p.name.isdigit()), default=0) + 1

    def _routing_or_empty(self, name: str) -> Routing:
        path = self.root / name / "routing.json"
        return Routing.from_json(_read_json(path), str(path)) if path.exists() else Routing()

    def _write_routing(self, name: str, routing: Routing) -> None:
        write_json_atomic(self.root / name / "routing.json", routing.to_json())
        write_json_atomic(self.root / "generation", self.generation() + 1)

    def _model_dir(self, name: str) -> Path:
        directory = self.root / name
        if not (directory / "routing.json").is_file():
            msg = f"no model named {name!r}"
            raise ModelNotFoundError(
                msg, where="model registry", fix=f"register it first; known: {self.names()}"
            )
        return directory

    def _version_dir(self, name: str, version: int) -> Path:
        return self._model_dir(name) / str(version)

    def _read_version(self, name: str, version: int) -> ModelVersion:
        path = self._version_dir(name, version) / "meta.json"
        return ModelVersion.from_json(_read_json(path), str(path))

    def _fix_versions(self, name: str) -> str:
        numbers = [v.version for v in self.versions(name)]
        return f"use one of the versions {numbers} or an alias"

    @contextmanager
    def changing(self) -> Iterator[None]:
        """Hold the registry's lock (for callers that change several things at once)."""
        with self._lock.held():
            yield


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        msg = "file is missing"
        raise ModelError(msg, where=str(path), fix="restore it or register again") from None
    except orjson.JSONDecodeError as error:
        msg = f"is not valid JSON: {error}"
        raise ModelError(msg, where=str(path), fix="restore it from a backup") from None
    if not isinstance(data, dict):
        msg = "does not hold a JSON object"
        raise ModelError(msg, where=str(path), fix="restore it from a backup")
    return data


def _metrics(metrics: Mapping[str, float] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in (metrics or {}).items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            msg = f"metric {key!r} is {value!r}, not a number"
            raise ModelError(msg, where="register metrics", fix="pass numbers, e.g. {'auc': 0.87}")
        out[str(key)] = float(value)
    return out


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        msg = f"model name {name!r} is not allowed"
        raise ModelError(
            msg,
            where="register",
            fix="start with a letter; use letters, digits, '_', '-', '.'; at most 100 characters",
        )


def _check_alias(alias: str) -> str:
    if not isinstance(alias, str) or not _NAME.match(alias) or alias.isdigit():
        msg = f"alias {alias!r} is not allowed"
        raise ModelError(
            msg, where="alias", fix="use a name that starts with a letter, e.g. 'champion'"
        )
    return alias


def _fingerprint(training_set: Any) -> str | None:
    """A digest of a training set's columns and values (pandas-hashed)."""
    if training_set is None:
        return None
    import pandas as pd  # noqa: PLC0415 - only needed when a training set is given

    frame = training_set if isinstance(training_set, pd.DataFrame) else pd.DataFrame(training_set)
    digest = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    digest.update(np.ascontiguousarray(hashed).tobytes())
    return digest.hexdigest()
