"""What a model file's bytes look like, read without running anything from the file."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from pathlib import Path

from upwell.models.errors import ModelError

HEAD_BYTES = 4096
"""How many leading bytes are enough to recognise every supported file kind."""

_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTOCOL_2_PLUS = b"\x80"
# joblib compresses its pickles with one of these codecs; each starts with its magic.
_JOBLIB_COMPRESSED_MAGICS = (
    b"\x1f\x8b\x08",  # gzip, deflate
    b"BZh",  # bz2
    b"\xfd7zXZ\x00",  # xz
    b"\x5d\x00\x00",  # lzma
    b"\x04\x22\x4d\x18",  # lz4
)


def _is_zlib(head: bytes) -> bool:
    """A zlib stream header: deflate with a 32 KiB window and a valid check value."""
    return len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0


_ONNX_IR_VERSION_TAG = b"\x08"  # protobuf field 1 (ir_version), varint; written first
_UBJSON_OBJECT = b"{"


class Content(Enum):
    """A kind of model file, recognised from its leading bytes."""

    SKOPS = "a skops archive (scikit-learn)"
    PICKLE = "a pickle/joblib file"
    LIGHTGBM_TEXT = "a LightGBM text model"
    XGBOOST_JSON = "an XGBoost JSON model"
    XGBOOST_UBJ = "an XGBoost UBJSON model"
    ONNX = "an ONNX model"
    PMML = "a PMML document"


def sniff(head: bytes) -> Content | None:
    r"""Recognise a model file from its leading bytes.

    Args:
        head: The file's first bytes (``HEAD_BYTES`` are enough).

    Returns:
        The kind of file, or None when the bytes match no supported kind.

    >>> sniff(b"tree\nversion=v4\n")
    <Content.LIGHTGBM_TEXT: 'a LightGBM text model'>
    >>> sniff(b"GIF89a") is None
    True
    """
    return next((kind for kind, looks_like in _SIGNATURES if looks_like(head)), None)


# Checked in order: the first match names the kind.
_SIGNATURES: tuple[tuple[Content, Callable[[bytes], bool]], ...] = (
    (Content.SKOPS, lambda head: head.startswith(_ZIP_MAGIC)),
    (Content.LIGHTGBM_TEXT, lambda head: head.startswith((b"tree\n", b"version="))),
    (
        Content.XGBOOST_JSON,
        lambda head: head.lstrip().startswith(b"{") and b'"learner"' in head,
    ),
    (
        Content.XGBOOST_UBJ,
        lambda head: head.startswith(_UBJSON_OBJECT) and b"learner" in head[:64],
    ),
    (Content.PMML, lambda head: b"<PMML" in head),
    (Content.ONNX, lambda head: head.startswith(_ONNX_IR_VERSION_TAG)),
    (
        Content.PICKLE,
        lambda head: (
            head.startswith((_PICKLE_PROTOCOL_2_PLUS, *_JOBLIB_COMPRESSED_MAGICS)) or _is_zlib(head)
        ),
    ),
)


def require_file(path: Path) -> None:
    """Raise unless ``path`` is a readable regular file.

    Args:
        path: The model file.

    Raises:
        ModelError: The path does not exist or is not a file.
    """
    if not path.is_file():
        what = "is a directory, not a model file" if path.is_dir() else "no such model file"
        raise ModelError(what, where=str(path), fix="Pass the path of an existing model file.")


def read_head(path: Path) -> bytes:
    """The first ``HEAD_BYTES`` bytes of a model file.

    Args:
        path: The model file.

    Returns:
        Up to ``HEAD_BYTES`` bytes.

    Raises:
        ModelError: The file is missing or unreadable.
    """
    require_file(path)
    try:
        with path.open("rb") as handle:
            return handle.read(HEAD_BYTES)
    except OSError as exc:
        msg = f"cannot read the model file: {exc}"
        raise ModelError(msg, where=str(path)) from exc


def read_bytes(path: Path) -> bytes:
    """The whole content of a model file.

    Args:
        path: The model file.

    Returns:
        The file's bytes.

    Raises:
        ModelError: The file is missing or unreadable.
    """
    require_file(path)
    try:
        return path.read_bytes()
    except OSError as exc:
        msg = f"cannot read the model file: {exc}"
        raise ModelError(msg, where=str(path)) from exc
