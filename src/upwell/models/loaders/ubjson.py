"""A structural check of UBJSON documents (XGBoost's ``.ubj`` model format).

XGBoost's UBJSON reader trusts the lengths in the document: a truncated file makes it
read past the end of its buffer and crash the process (XGBoost 3.x). Walking the
document once here (typed arrays are skipped by their declared size, so this costs
little next to XGBoost's own parse) turns such a file into an error instead.
"""

from __future__ import annotations

import struct

from upwell.models.errors import ModelError

_MAX_DEPTH = 64
# Scalar markers and their payload sizes in bytes (Draft 12).
_SCALAR_SIZES = {
    ord("Z"): 0,
    ord("T"): 0,
    ord("F"): 0,
    ord("i"): 1,
    ord("U"): 1,
    ord("C"): 1,
    ord("I"): 2,
    ord("l"): 4,
    ord("d"): 4,
    ord("L"): 8,
    ord("D"): 8,
}
_INTEGER_FORMATS = {
    ord("i"): ">b",
    ord("U"): ">B",
    ord("I"): ">h",
    ord("l"): ">i",
    ord("L"): ">q",
}
_SIZED = (ord("S"), ord("H"))  # a length, then that many bytes
_ARRAY, _ARRAY_END, _OBJECT, _OBJECT_END = ord("["), ord("]"), ord("{"), ord("}")
_TYPE, _COUNT, _NO_OP = ord("$"), ord("#"), ord("N")


class _Malformed(Exception):
    """The document ends early or holds an invalid marker or length."""


def check_document(data: bytes, where: str) -> None:
    r"""Raise unless ``data`` is exactly one complete, well-formed UBJSON value.

    Args:
        data: The whole file.
        where: The file, named in errors.

    Raises:
        ModelError: The document is truncated or malformed.

    >>> check_document(b"{i\x01a[$U#i\x02\x01\x02}", "model.ubj")
    >>> check_document(b"{i\x01a[$U#i\x09\x01", "model.ubj")
    Traceback (most recent call last):
    ...
    upwell.models.errors.ModelError: model.ubj: the UBJSON document is truncated or ...
    """
    reader = _Reader(data)
    try:
        reader.value(reader.byte(), depth=0)
        if reader.position != len(data):
            msg = f"{len(data) - reader.position} bytes follow the document"
            raise _Malformed(msg)
    except _Malformed as exc:
        msg = f"the UBJSON document is truncated or malformed ({exc})"
        raise ModelError(
            msg,
            where=where,
            fix="The file is truncated or not an XGBoost model; save the model again "
            "with Booster.save_model.",
        ) from exc


class _Reader:
    """Walks a UBJSON document without building it."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def byte(self) -> int:
        if self.position >= len(self.data):
            msg = f"ends at byte {self.position}"
            raise _Malformed(msg)
        self.position += 1
        return self.data[self.position - 1]

    def skip(self, size: int) -> None:
        if self.position + size > len(self.data):
            msg = f"a value at byte {self.position} runs past the end"
            raise _Malformed(msg)
        self.position += size

    def length(self, marker: int) -> int:
        if marker not in _INTEGER_FORMATS:
            msg = f"expected a length at byte {self.position - 1}"
            raise _Malformed(msg)
        start = self.position
        self.skip(_SCALAR_SIZES[marker])
        (value,) = struct.unpack_from(_INTEGER_FORMATS[marker], self.data, start)
        if value < 0:
            msg = f"negative length at byte {start}"
            raise _Malformed(msg)
        return int(value)

    def value(self, marker: int, depth: int) -> None:
        if marker in _SCALAR_SIZES:
            self.skip(_SCALAR_SIZES[marker])
        elif marker in _SIZED:
            self.skip(self.length(self.byte()))
        elif marker in (_ARRAY, _OBJECT):
            if depth >= _MAX_DEPTH:
                msg = f"nested deeper than {_MAX_DEPTH} levels"
                raise _Malformed(msg)
            self.container(marker == _OBJECT, depth + 1)
        else:
            msg = f"invalid marker {chr(marker)!r} at byte {self.position - 1}"
            raise _Malformed(msg)

    def container(self, is_object: bool, depth: int) -> None:
        element_type = count = None
        if self._peek() == _TYPE:
            self.position += 1
            element_type = self.byte()
            if self._peek() != _COUNT:
                msg = f"a typed container lacks its count at byte {self.position}"
                raise _Malformed(msg)
        if self._peek() == _COUNT:
            self.position += 1
            count = self.length(self.byte())
        if count is None:
            self._until_end(is_object, depth)
        elif not is_object and element_type in _SCALAR_SIZES:
            self.skip(count * _SCALAR_SIZES[element_type])
        else:
            for _ in range(count):
                if is_object:
                    self.skip(self.length(self.byte()))
                self.value(self.byte() if element_type is None else element_type, depth)

    def _until_end(self, is_object: bool, depth: int) -> None:
        end = _OBJECT_END if is_object else _ARRAY_END
        while True:
            marker = self.byte()
            while marker == _NO_OP:
                marker = self.byte()
            if marker == end:
                return
            if is_object:
                self.skip(self.length(marker))
                marker = self.byte()
            self.value(marker, depth)

    def _peek(self) -> int | None:
        return self.data[self.position] if self.position < len(self.data) else None
