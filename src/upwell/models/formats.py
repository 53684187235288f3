"""Model file formats: recognise a file, load it with its format's loader, save a model.

A format's library is imported only when a file of that format is loaded or saved.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from upwell.models.errors import ModelError
from upwell.models.loaders.content import Content, read_head, require_file, sniff
from upwell.models.protocol import LoadedModel, ModelFormat, ModelLoader, Trust

EXTENSIONS: dict[str, ModelFormat] = {
    ".skops": ModelFormat.SKLEARN,
    ".pkl": ModelFormat.SKLEARN,
    ".pickle": ModelFormat.SKLEARN,
    ".joblib": ModelFormat.SKLEARN,
    ".txt": ModelFormat.LIGHTGBM,
    ".json": ModelFormat.XGBOOST,
    ".ubj": ModelFormat.XGBOOST,
    ".onnx": ModelFormat.ONNX,
    ".pmml": ModelFormat.PMML,
    ".xml": ModelFormat.PMML,
}
"""File extensions upwell recognises (lower case), and the format each names."""

NO_TRUST = Trust()
"""Trust nothing beyond data-only content (the default of ``load_model``)."""

# What each extension's content must look like.
_CONTENTS: dict[str, frozenset[Content]] = {
    ".skops": frozenset({Content.SKOPS}),
    ".pkl": frozenset({Content.PICKLE}),
    ".pickle": frozenset({Content.PICKLE}),
    ".joblib": frozenset({Content.PICKLE}),
    ".txt": frozenset({Content.LIGHTGBM_TEXT}),
    ".json": frozenset({Content.XGBOOST_JSON}),
    ".ubj": frozenset({Content.XGBOOST_UBJ}),
    ".onnx": frozenset({Content.ONNX}),
    ".pmml": frozenset({Content.PMML}),
    ".xml": frozenset({Content.PMML}),
}
_EXTENSION_OF: dict[Content, str] = {
    Content.SKOPS: ".skops",
    Content.PICKLE: ".joblib",
    Content.LIGHTGBM_TEXT: ".txt",
    Content.XGBOOST_JSON: ".json",
    Content.XGBOOST_UBJ: ".ubj",
    Content.ONNX: ".onnx",
    Content.PMML: ".pmml",
}
_SUPPORTED = (
    "scikit-learn (.skops; .pkl/.joblib only with a pinned SHA-256), "
    "LightGBM (.txt), XGBoost (.json, .ubj), ONNX (.onnx), PMML (.pmml, .xml)"
)
_SAVABLE = (
    "scikit-learn estimators and pipelines (saved as .skops), lightgbm.Booster or "
    "LGBMModel (.txt), xgboost.Booster or XGBModel (.ubj), onnx.ModelProto (.onnx); "
    "PMML models are registered from a .pmml file"
)


def detect_format(path: Path) -> ModelFormat:
    """A model file's format, from its extension, checked against its content.

    Args:
        path: The model file.

    Returns:
        The format.

    Raises:
        ModelError: The file is missing, its extension is not a model format's, or
            its content is not what the extension says (naming what it looks like).
    """
    extension = path.suffix.lower()
    if extension not in EXTENSIONS:
        msg = f"unknown model file extension {extension or '(none)'!r}"
        raise ModelError(
            msg,
            where=str(path),
            fix=f"Save the model in a supported format: {_SUPPORTED}.",
        )
    content = sniff(read_head(path))
    if content in _CONTENTS[extension]:
        return EXTENSIONS[extension]
    expected = " or ".join(sorted(kind.value for kind in _CONTENTS[extension]))
    if content is None:
        msg = (
            f"the file is not {expected}: it matches no supported model format "
            "(truncated, corrupt or not a model)"
        )
        raise ModelError(
            msg,
            where=str(path),
            fix=f"Save the model again in a supported format: {_SUPPORTED}.",
        )
    msg = f"the extension {extension!r} says {expected}, but the file is {content.value}"
    raise ModelError(
        msg,
        where=str(path),
        fix=f"Rename the file to end in {_EXTENSION_OF[content]!r}.",
    )


def loader_for(fmt: ModelFormat) -> ModelLoader:
    """The loader of a format (its module is imported now, its library when loading).

    Args:
        fmt: The format.

    Returns:
        The format's loader.
    """
    match fmt:
        case ModelFormat.SKLEARN:
            from upwell.models.loaders import sklearn  # noqa: PLC0415 - loaded on use

            return sklearn.LOADER
        case ModelFormat.LIGHTGBM:
            from upwell.models.loaders import lightgbm  # noqa: PLC0415 - loaded on use

            return lightgbm.LOADER
        case ModelFormat.XGBOOST:
            from upwell.models.loaders import xgboost  # noqa: PLC0415 - loaded on use

            return xgboost.LOADER
        case ModelFormat.ONNX:
            from upwell.models.loaders import onnx  # noqa: PLC0415 - loaded on use

            return onnx.LOADER
        case ModelFormat.PMML:
            from upwell.models.loaders import pmml  # noqa: PLC0415 - loaded on use

            return pmml.LOADER


def load_model(path: Path, fmt: ModelFormat | None = None, trust: Trust = NO_TRUST) -> LoadedModel:
    """Load a model file.

    Args:
        path: The model file.
        fmt: Its format; detected from the file (``detect_format``) when None.
        trust: What the load may trust beyond data-only content.

    Returns:
        The loaded model.

    Raises:
        ModelError: The file is missing, of an unknown format, corrupt, untrusted, or
            its format's library is not installed.
    """
    path = Path(path)
    return loader_for(fmt or detect_format(path)).load_model(path, trust)


def save_model(model: object, directory: Path, stem: str = "model") -> tuple[ModelFormat, Path]:
    """Save an in-memory model in the safest format its library offers.

    scikit-learn estimators and pipelines become skops archives (``.skops``, no
    pickle), LightGBM models text models (``.txt``), XGBoost models UBJSON (``.ubj``)
    and ONNX models ``.onnx``. The file is written under a temporary name and renamed,
    so ``directory`` never holds a partial ``<stem>.<ext>``.

    Args:
        model: The fitted model.
        directory: Where to write it (created if missing).
        stem: The file name without extension.

    Returns:
        The format and the path of the written file.

    Raises:
        ModelError: The model is of an unsupported type, or not fitted.
    """
    fmt = _format_of(model)
    if fmt is None:
        msg = f"cannot save a {type(model).__module__}.{type(model).__qualname__}"
        raise ModelError(
            msg,
            where=str(directory),
            fix=f"Pass one of: {_SAVABLE}.",
        )
    extension = {
        ModelFormat.SKLEARN: ".skops",
        ModelFormat.LIGHTGBM: ".txt",
        ModelFormat.XGBOOST: ".ubj",
        ModelFormat.ONNX: ".onnx",
    }[fmt]
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{stem}{extension}"
    partial = directory / f".{stem}.partial{extension}"
    try:
        _save(fmt, model, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return fmt, target


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, as 64 lower-case hex digits.

    Args:
        path: The file.

    Returns:
        The hex digest.

    Raises:
        ModelError: The file is missing or unreadable.
    """
    require_file(path)
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        msg = f"cannot read the file: {exc}"
        raise ModelError(msg, where=str(path)) from exc
    return digest.hexdigest()


def _format_of(model: object) -> ModelFormat | None:
    """The format a model's library saves to, from its classes' modules (no import)."""
    roots = [cls.__module__.split(".")[0] for cls in type(model).__mro__]
    # LightGBM's and XGBoost's scikit-learn wrappers also derive from sklearn classes.
    if "lightgbm" in roots:
        return ModelFormat.LIGHTGBM
    if "xgboost" in roots:
        return ModelFormat.XGBOOST
    if roots[0] == "onnx" and type(model).__name__ == "ModelProto":
        return ModelFormat.ONNX
    if "sklearn" in roots:
        return ModelFormat.SKLEARN
    return None


def _save(fmt: ModelFormat, model: object, path: Path) -> None:
    match fmt:
        case ModelFormat.SKLEARN:
            from upwell.models.loaders import sklearn  # noqa: PLC0415 - loaded on use

            sklearn.save(model, path)
        case ModelFormat.LIGHTGBM:
            from upwell.models.loaders import lightgbm  # noqa: PLC0415 - loaded on use

            lightgbm.save(model, path)
        case ModelFormat.XGBOOST:
            from upwell.models.loaders import xgboost  # noqa: PLC0415 - loaded on use

            xgboost.save(model, path)
        case ModelFormat.ONNX:
            from upwell.models.loaders import onnx  # noqa: PLC0415 - loaded on use

            onnx.save(model, path)
        case ModelFormat.PMML:
            msg = "PMML models are registered from a .pmml file, not saved from memory"
            raise ModelError(msg, where=str(path), fix=f"Pass one of: {_SAVABLE}.")
