"""The handbook's ranking of scores, ties included, reproduced on every platform.

The handbook ranks cards with pandas' ``sort_values(ascending=False)``, whose default sort is
NumPy's introsort: an unstable sort, so equal scores (frequent with decision trees) come out
in an order that decides which cards enter the top k. Recent NumPy builds replace that
introsort with SIMD sorts on some CPUs, which order ties differently. This module replays the
scalar introsort (median-of-three quicksort, insertion sort below 16 elements, heapsort when
the recursion gets too deep) step by step, so the top-k sets, and the card precision of the
book, come out the same on any machine.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["descending_order", "introsort_argsort"]

_SMALL = 15
"""Partitions of at most this many elements plus one are left to the insertion sort."""


def _sift_down(v: list[float], a: list[int], base: int, start: int, n: int) -> None:
    """Heap sift of ``a[base + start - 1]`` (1-based heap positions ``start`` .. ``n``)."""
    tmp = a[base + start - 1]
    i, j = start, start << 1
    while j <= n:
        if j < n and v[a[base + j - 1]] < v[a[base + j]]:
            j += 1
        if v[tmp] < v[a[base + j - 1]]:
            a[base + i - 1] = a[base + j - 1]
            i, j = j, j + j
        else:
            break
    a[base + i - 1] = tmp


def _heapsort(v: list[float], a: list[int], base: int, n: int) -> None:
    """Heapsort of the ``n`` indices ``a[base:base + n]`` by their values."""
    for start in range(n >> 1, 0, -1):
        _sift_down(v, a, base, start, n)
    while n > 1:
        a[base], a[base + n - 1] = a[base + n - 1], a[base]
        n -= 1
        _sift_down(v, a, base, 1, n)


def _insertion_sort(v: list[float], a: list[int], pl: int, pr: int) -> None:
    for pi in range(pl + 1, pr + 1):
        vi = a[pi]
        vp = v[vi]
        pj = pi
        while pj > pl and vp < v[a[pj - 1]]:
            a[pj] = a[pj - 1]
            pj -= 1
        a[pj] = vi


def _partition(v: list[float], a: list[int], pl: int, pr: int) -> int:
    """Median-of-three partition of ``a[pl:pr + 1]``; returns the pivot's final position."""
    pm = pl + ((pr - pl) >> 1)
    if v[a[pm]] < v[a[pl]]:
        a[pm], a[pl] = a[pl], a[pm]
    if v[a[pr]] < v[a[pm]]:
        a[pr], a[pm] = a[pm], a[pr]
    if v[a[pm]] < v[a[pl]]:
        a[pm], a[pl] = a[pl], a[pm]
    vp = v[a[pm]]
    pi, pj = pl, pr - 1
    a[pm], a[pj] = a[pj], a[pm]
    while True:
        pi += 1
        while v[a[pi]] < vp:
            pi += 1
        pj -= 1
        while vp < v[a[pj]]:
            pj -= 1
        if pi >= pj:
            break
        a[pi], a[pj] = a[pj], a[pi]
    a[pi], a[pr - 1] = a[pr - 1], a[pi]
    return pi


def introsort_argsort(values: list[float]) -> list[int]:
    """Indices that sort ``values`` ascending, in NumPy's scalar introsort order.

    Args:
        values: Numbers without NaN.

    Returns:
        The permutation ``np.argsort(values, kind="quicksort")`` gives without SIMD sorts.
    """
    a = list(range(len(values)))
    stack: list[tuple[int, int, int]] = []
    pl, pr, depth = 0, len(values) - 1, max(len(values), 1).bit_length() * 2 - 2
    while True:
        if depth < 0:
            _heapsort(values, a, pl, pr - pl + 1)
        else:
            while pr - pl > _SMALL:
                pi = _partition(values, a, pl, pr)
                depth -= 1
                # The larger side waits on the stack; the smaller one is sorted first.
                if pi - pl < pr - pi:
                    stack.append((pi + 1, pr, depth))
                    pr = pi - 1
                else:
                    stack.append((pl, pi - 1, depth))
                    pl = pi + 1
            _insertion_sort(values, a, pl, pr)
        if not stack:
            return a
        pl, pr, depth = stack.pop()


def descending_order(scores: NDArray[np.float64]) -> NDArray[np.intp]:
    """Positions of ``scores`` from highest to lowest, ties as pandas 1.x ordered them.

    pandas sorts descending by reversing the values, sorting ascending and reversing the
    result; this replays that with ``introsort_argsort``.

    Args:
        scores: One score per item, without NaN.

    Returns:
        The positions, best first.
    """
    n = len(scores)
    ascending = np.asarray(introsort_argsort(scores[::-1].tolist()), dtype=np.intp)
    return (n - 1 - ascending)[::-1]
