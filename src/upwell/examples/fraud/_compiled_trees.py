"""Decision-tree ensembles as flat NumPy arrays, walked by all trees at once.

Every node of every tree gets two consecutive "slots" (``2 * node`` and ``2 * node + 1``):
the next slot of a walk is ``child[slot + went_right]``, so one level of all trees costs a few
``np.take`` calls whatever the number of trees. Leaves point to themselves, so walking
``depth`` levels (or stopping early once every tree sits on a leaf) lands on the leaves.

The comparison rules are the libraries' own:

* scikit-learn casts inputs to float32 and goes left when ``x <= threshold`` (a float64);
  a missing value (NaN) follows ``missing_go_to_left``;
* XGBoost casts inputs to float32 and goes left when ``x < split_condition`` (a float32);
  a missing value follows ``default_left``. Leaf values are float32 and add up in float32,
  tree after tree, from the base margin; the sigmoid is XGBoost's float32 one.
"""

from __future__ import annotations

import ctypes
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "CompiledTrees",
    "boosted_margin",
    "compile_sklearn_trees",
    "compile_xgboost",
    "xgboost_sigmoid",
]

_CHUNK_ROWS = 4096
_EXIT_CHECK_EVERY = 4


@dataclass(frozen=True, kw_only=True)
class _Tree:
    """One tree's nodes; ``left[i] == -1`` marks a leaf."""

    left: NDArray[np.intp]
    right: NDArray[np.intp]
    feature: NDArray[np.intp]
    threshold: NDArray[Any]
    missing_left: NDArray[np.bool_]
    value: NDArray[Any]


def _gather_rows(rows: NDArray[Any], columns: NDArray[np.intp]) -> NDArray[Any]:
    return np.take_along_axis(rows, columns, axis=1)


def _depth(tree: _Tree) -> int:
    depth, level = 0, [0]
    while True:
        level = [c for n in level if tree.left[n] >= 0 for c in (tree.left[n], tree.right[n])]
        if not level:
            return depth
        depth += 1


@dataclass(frozen=True, kw_only=True, eq=False)
class CompiledTrees:
    """Trees packed into slot arrays (see the module docstring).

    Attributes:
        feature, threshold, child, missing, is_leaf, value: Per-slot arrays.
        roots: The root slot of each tree.
        depth: The deepest leaf's depth over all trees.
        right_on_equal: True for XGBoost (``x == threshold`` goes right).
        trees: The unpacked trees (for the single-tree walker).
    """

    feature: NDArray[np.intp]
    threshold: NDArray[Any]
    child: NDArray[np.intp]
    missing: NDArray[np.intp]
    is_leaf: NDArray[np.bool_]
    value: NDArray[Any]
    roots: NDArray[np.intp]
    depth: int
    right_on_equal: bool
    trees: tuple[_Tree, ...]

    @property
    def n_trees(self) -> int:
        """Number of trees."""
        return len(self.roots)

    def _walk(
        self, gather: Callable[[NDArray[np.intp]], NDArray[Any]], slots: Any, has_nan: bool
    ) -> Any:
        # Locals and one ufunc: each level is a handful of NumPy calls, whose fixed cost
        # dominates for a single row.
        went_right = np.greater_equal if self.right_on_equal else np.greater
        feature, threshold, child, is_leaf = self.feature, self.threshold, self.child, self.is_leaf
        for level in range(self.depth):
            x = gather(feature.take(slots))
            after = child.take(slots + went_right(x, threshold.take(slots)))
            if has_nan:
                after = np.where(np.isnan(x), self.missing.take(slots), after)
            slots = after
            if level % _EXIT_CHECK_EVERY == _EXIT_CHECK_EVERY - 1 and is_leaf.take(slots).all():
                break
        return self.value.take(slots)

    def leaf_values_one(self, x: NDArray[np.float32]) -> NDArray[Any]:
        """Each tree's leaf value for one float32 input vector, in tree order."""
        return self._walk(x.take, self.roots, bool(np.isnan(x).any()))  # type: ignore[no-any-return]

    def leaf_values(self, x: NDArray[np.float32]) -> NDArray[Any]:
        """Leaf values, one row per input row and one column per tree."""
        out = np.empty((len(x), self.n_trees), dtype=self.value.dtype)
        for start in range(0, len(x), _CHUNK_ROWS):
            rows = x[start : start + _CHUNK_ROWS]
            slots = np.repeat(self.roots[np.newaxis, :], len(rows), axis=0)
            gather = partial(_gather_rows, rows)
            out[start : start + len(rows)] = self._walk(gather, slots, bool(np.isnan(rows).any()))
        return out

    def python_walker(self) -> Callable[[list[float]], float]:
        """A plain-Python walk of the first tree (scikit-learn rules), for single rows."""
        tree = self.trees[0]
        left, right, feature = tree.left.tolist(), tree.right.tolist(), tree.feature.tolist()
        threshold, value = tree.threshold.tolist(), tree.value.tolist()
        missing = np.where(tree.missing_left, tree.left, tree.right).tolist()

        def walk(x: list[float]) -> float:
            node = 0
            while left[node] >= 0:
                v = x[feature[node]]
                if v <= threshold[node]:
                    node = left[node]
                elif v > threshold[node]:
                    node = right[node]
                else:  # NaN: neither comparison holds
                    node = missing[node]
            return float(value[node])

        return walk


def _pack(trees: Sequence[_Tree], right_on_equal: bool) -> CompiledTrees:
    sizes = [len(t.left) for t in trees]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
    node_ids = [np.arange(n, dtype=np.intp) + o for n, o in zip(sizes, offsets, strict=True)]
    leaf = np.concatenate([t.left < 0 for t in trees])
    own = np.concatenate(node_ids)
    left = np.where(
        leaf, own, np.concatenate([t.left + o for t, o in zip(trees, offsets, strict=True)])
    )
    right = np.where(
        leaf, own, np.concatenate([t.right + o for t, o in zip(trees, offsets, strict=True)])
    )
    missing_left = np.concatenate([t.missing_left for t in trees])
    children = np.stack([2 * left, 2 * right], axis=1).reshape(-1)
    return CompiledTrees(
        feature=np.repeat(np.where(leaf, 0, np.concatenate([t.feature for t in trees])), 2),
        threshold=np.repeat(np.concatenate([t.threshold for t in trees]), 2),
        child=children.astype(np.intp),
        missing=np.repeat(2 * np.where(missing_left, left, right), 2).astype(np.intp),
        is_leaf=np.repeat(leaf, 2),
        value=np.repeat(np.concatenate([t.value for t in trees]), 2),
        roots=(2 * offsets).astype(np.intp),
        depth=max(_depth(t) for t in trees),
        right_on_equal=right_on_equal,
        trees=tuple(trees),
    )


def _float32_floor(threshold: NDArray[np.float64]) -> NDArray[np.float32]:
    """The largest float32 <= each threshold: for a float32 x, ``x <= t`` iff ``x <= floor``.

    Comparing float32 with float32 is exact and cheaper than with a float64 threshold.
    """
    rounded = threshold.astype(np.float32)
    above = rounded.astype(np.float64) > threshold
    rounded[above] = np.nextafter(rounded[above], np.float32(-np.inf))
    return rounded


def compile_sklearn_trees(estimators: Sequence[Any]) -> CompiledTrees:
    """Pack fitted binary ``DecisionTreeClassifier`` objects (a forest's ``estimators_``).

    A leaf's value is its class-1 probability, normalised as ``predict_proba`` does.
    """
    trees = []
    for estimator in estimators:
        t = estimator.tree_
        counts = t.value[:, 0, :2]
        total = counts[:, 0] + counts[:, 1]
        total[total == 0.0] = 1.0
        trees.append(
            _Tree(
                left=t.children_left.astype(np.intp),
                right=t.children_right.astype(np.intp),
                feature=t.feature.astype(np.intp),
                threshold=_float32_floor(t.threshold.astype(np.float64)),
                missing_left=np.asarray(t.missing_go_to_left, dtype=np.bool_),
                value=counts[:, 1] / total,
            )
        )
    return _pack(trees, right_on_equal=False)


def _xgboost_tree(tree: dict[str, Any]) -> _Tree:
    left = np.asarray(tree["left_children"], dtype=np.intp)
    return _Tree(
        left=left,
        right=np.asarray(tree["right_children"], dtype=np.intp),
        feature=np.asarray(tree["split_indices"], dtype=np.intp),
        # Internal nodes hold the split condition, leaves their value (float32 both).
        threshold=np.asarray(tree["split_conditions"], dtype=np.float32),
        missing_left=np.asarray(tree["default_left"], dtype=np.bool_),
        value=np.asarray(tree["split_conditions"], dtype=np.float32),
    )


def compile_xgboost(booster: Any) -> tuple[CompiledTrees, np.float32]:
    """Pack a binary:logistic gbtree ``xgboost.Booster`` with numerical splits.

    Returns:
        The trees and the base margin (the logit of ``base_score``), float32.

    Raises:
        ValueError: If the model is of another kind.
    """
    learner = json.loads(booster.save_raw("json"))["learner"]
    model = learner["gradient_booster"]["model"]
    trees = model["trees"]
    supported = (
        learner["objective"]["name"] == "binary:logistic"
        and learner["gradient_booster"]["name"] == "gbtree"
        and set(model["tree_info"]) <= {0}
        and all(set(t["split_type"]) <= {0} for t in trees)
    )
    if not supported or not trees:
        msg = "only binary:logistic gbtree models with numerical splits can be compiled"
        raise ValueError(msg)
    base_score = np.float32(str(learner["learner_model_param"]["base_score"]).strip("[]"))
    one = np.float32(1.0)
    base_margin = np.float32(-np.log(one / base_score - one))
    return _pack([_xgboost_tree(t) for t in trees], right_on_equal=True), base_margin


def boosted_margin(base: np.float32, values: NDArray[np.float32]) -> np.float32:
    """``base`` plus the leaf values, added one at a time in float32 (as XGBoost does)."""
    return np.float32(np.add.accumulate(np.concatenate([[base], values]).astype(np.float32))[-1])


def _libm_expf() -> Callable[[float], float]:
    """The C library's ``expf`` (the one XGBoost calls), or a float64 exp rounded to float32."""
    try:
        expf = ctypes.CDLL(None).expf
    except (OSError, AttributeError, TypeError):
        return lambda v: float(np.float32(math.exp(v)))
    expf.restype = ctypes.c_float
    expf.argtypes = [ctypes.c_float]
    return expf


_EXPF = _libm_expf()
_ONE = np.float32(1.0)
_EPS = np.float32(1e-16)
_EXP_CLAMP = np.float32(88.7)


def xgboost_sigmoid(margin: np.float32) -> float:
    """XGBoost's float32 sigmoid: ``1 / (expf(min(-m, 88.7)) + 1 + 1e-16)``."""
    e = np.float32(_EXPF(float(min(-margin, _EXP_CLAMP))))
    return float(_ONE / ((e + _ONE) + _EPS))
