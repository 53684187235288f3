"""The structure of a LightGBM text model, checked before LightGBM parses it.

LightGBM's own parser trusts the ``tree_sizes`` header and the section markers: a
truncated file makes it read past the end of the text and crash the whole process
(LightGBM 4.x). Checking that every tree and section the header announces is present
turns such a file into an error instead.
"""

from __future__ import annotations

from upwell.models.errors import ModelError

_REQUIRED_KEYS = ("version", "num_class", "max_feature_idx")
_END_OF_TREES = "end of trees"
_PARAMETERS = "\nparameters:\n"
_END_OF_PARAMETERS = "\nend of parameters"


def check_model_text(text: str, where: str) -> None:
    r"""Raise unless ``text`` is a complete LightGBM text model.

    Args:
        text: The whole model file.
        where: The file, named in errors.

    Raises:
        ModelError: A header key, a tree or a section end is missing.

    >>> check_model_text("tree\nversion=v4\n", "model.txt")
    Traceback (most recent call last):
    ...
    upwell.models.errors.ModelError: model.txt: the LightGBM model has no trees ...
    """
    trees_start = text.find("\nTree=") + 1
    if trees_start == 0:
        msg = "the LightGBM model has no trees"
        raise _incomplete(msg, where)
    header = dict(line.split("=", 1) for line in text[:trees_start].splitlines() if "=" in line)
    missing = [key for key in _REQUIRED_KEYS if key not in header]
    if missing:
        msg = f"the LightGBM header lacks {', '.join(missing)}"
        raise _incomplete(msg, where)
    rest = text[_trees_end(text, trees_start, header.get("tree_sizes"), where) :]
    if not rest.lstrip("\n").startswith(_END_OF_TREES):
        msg = f"the LightGBM model does not end its trees ({_END_OF_TREES!r})"
        raise _incomplete(msg, where)
    parameters = rest.find(_PARAMETERS)
    if parameters >= 0 and rest.find(_END_OF_PARAMETERS, parameters) < 0:
        msg = "the LightGBM model's parameters section is cut short"
        raise _incomplete(msg, where)


def _trees_end(text: str, start: int, tree_sizes: str | None, where: str) -> int:
    """Where the trees end: after the sizes the header announces, each a ``Tree=i``."""
    if tree_sizes is None:  # written before LightGBM recorded sizes: parsed in order
        end = text.find(_END_OF_TREES, start)
        if end < 0:
            msg = f"the LightGBM model lacks {_END_OF_TREES!r}"
            raise _incomplete(msg, where)
        return end
    try:
        sizes = [int(size) for size in tree_sizes.split()]
    except ValueError as exc:
        msg = "the LightGBM header's tree_sizes are not numbers"
        raise _incomplete(msg, where) from exc
    position = start
    for index, size in enumerate(sizes):
        if size <= 0 or not text.startswith(f"Tree={index}\n", position):
            msg = f"the LightGBM model's tree {index} is missing or cut"
            raise _incomplete(msg, where)
        position += size
    if position > len(text):
        msg = "the LightGBM model's last tree is cut short"
        raise _incomplete(msg, where)
    return position


def _incomplete(what: str, where: str) -> ModelError:
    return ModelError(
        what,
        where=where,
        fix="The file is truncated or not a LightGBM text model; save the model again "
        "with Booster.save_model.",
    )
