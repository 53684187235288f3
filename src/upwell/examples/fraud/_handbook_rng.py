"""Bulk, bit-exact replays of the random draws made by the fraud handbook's simulator.

The handbook draws from three generators, one value per call:

* numpy's legacy ``RandomState`` (``poisson``, ``normal``, ``uniform``),
* Python's ``random`` module (``choice``, ``sample``),
* pandas ``Series.sample(n, random_state=seed)``, i.e. ``RandomState(seed).choice``.

Calling them one value at a time costs microseconds per call. The helpers here draw the raw
generator outputs in bulk through public APIs (``RandomState.random_sample``,
``random.Random.getrandbits``) and replay the published algorithms on them, so the values are the
same as the per-call ones. The tests compare them with the real calls and with the published data.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from itertools import chain

import numpy as np
from numpy.typing import NDArray

_CHUNK = 1024
_WORD_BITS = 32
_POISSON_MULT_LIMIT = 10.0


class LegacyStream:
    """numpy legacy ``RandomState`` draws replayed from its stream of uniform doubles.

    ``RandomState.poisson`` (for ``lam < 10``), ``normal`` and ``uniform`` all consume the same
    stream of doubles in [0, 1) that ``random_sample`` returns; this class reads that stream in
    chunks and applies the same algorithms, including the cached second normal deviate of the
    polar method.

    Args:
        state: A freshly seeded ``RandomState``; the stream starts at its current position.
    """

    __slots__ = ("_next", "_spare")

    def __init__(self, state: np.random.RandomState) -> None:
        def chunk() -> list[float]:
            values: list[float] = state.random_sample(_CHUNK).tolist()
            return values

        self._next: Callable[[], float] = chain.from_iterable(iter(chunk, None)).__next__
        self._spare: float | None = None

    def double(self) -> float:
        """Return the next double in [0, 1), as ``RandomState.random_sample()`` would."""
        return self._next()

    def gauss(self) -> float:
        """Return a standard normal deviate, as ``RandomState.standard_normal()`` would.

        Returns:
            The cached second deviate of the previous polar-method pair if there is one; else
            a new pair is drawn, its first deviate cached and its second returned.
        """
        spare = self._spare
        if spare is not None:
            self._spare = None
            return spare
        draw = self._next
        while True:
            x1 = 2.0 * draw() - 1.0
            x2 = 2.0 * draw() - 1.0
            r2 = x1 * x1 + x2 * x2
            if r2 < 1.0 and r2 != 0.0:
                break
        factor = math.sqrt(-2.0 * math.log(r2) / r2)
        self._spare = factor * x1
        return factor * x2

    def poisson(self, lam: float) -> int:
        """Return a Poisson deviate, as ``RandomState.poisson(lam)`` would for ``lam < 10``.

        Args:
            lam: The mean, in [0, 10). Zero draws nothing and returns 0.

        Returns:
            The number of successive doubles whose running product stays above ``exp(-lam)``.

        Raises:
            ValueError: If ``lam`` is outside [0, 10), where numpy uses another algorithm.
        """
        if not 0.0 <= lam < _POISSON_MULT_LIMIT:
            msg = f"poisson replay supports 0 <= lam < 10, got {lam!r}"
            raise ValueError(msg)
        if lam == 0.0:
            return 0
        limit = math.exp(-lam)
        draw = self._next
        count = 0
        product = draw()
        while product > limit:
            count += 1
            product *= draw()
        return count


def python_random_words(rng: random.Random, count: int) -> NDArray[np.uint32]:
    """Return the next ``count`` 32-bit Mersenne Twister outputs of ``rng``, in order.

    ``rng.getrandbits(32 * count)`` consumes exactly ``count`` outputs and puts the first one in
    the least significant 32 bits, so its little-endian bytes are the outputs in draw order.

    Args:
        rng: The Python generator to draw from.
        count: How many outputs to draw (>= 0).

    Returns:
        The outputs, each equal to what ``rng.getrandbits(32)`` would have returned.
    """
    if count == 0:
        return np.empty(0, dtype=np.uint32)
    blob = rng.getrandbits(_WORD_BITS * count).to_bytes(4 * count, "little")
    return np.frombuffer(blob, dtype="<u4").astype(np.uint32)


def choice_indices(rng: random.Random, n: int, count: int) -> NDArray[np.int64]:
    """Return the indices that ``count`` successive ``rng.choice(seq)`` calls pick, n = len(seq).

    ``random.choice`` draws ``getrandbits(k)`` with ``k = n.bit_length()`` (the top ``k`` bits
    of one 32-bit output) until the value is below ``n``. ``rng`` is left at an unspecified
    position after the call (it may have drawn more outputs than needed).

    Args:
        rng: The Python generator to draw from.
        n: The length of the sequence, 1 <= n < 2**32.
        count: How many choices to make (>= 0).

    Returns:
        The chosen indices, in call order.
    """
    bits = n.bit_length()
    shift = np.uint32(_WORD_BITS - bits)
    picked: list[NDArray[np.uint32]] = []
    found = 0
    while found < count:
        expected_words = (count - found) * (1 << bits) / n
        values = python_random_words(rng, int(expected_words * 1.1) + 16) >> shift
        accepted = values[values < n]
        picked.append(accepted)
        found += len(accepted)
    if not picked:
        return np.empty(0, dtype=np.int64)
    return np.concatenate(picked)[:count].astype(np.int64)


def randbelow(rng: random.Random, n: int) -> int:
    """Return a value in [0, n) drawn the way ``random.Random._randbelow`` draws it.

    Args:
        rng: The Python generator to draw from.
        n: The exclusive upper bound, >= 1.

    Returns:
        The first ``rng.getrandbits(n.bit_length())`` value below ``n``.
    """
    bits = n.bit_length()
    value = rng.getrandbits(bits)
    while value >= n:
        value = rng.getrandbits(bits)
    return value


def sample_indices(rng: random.Random, n: int, k: int) -> list[int]:
    """Return the indices that ``rng.sample(seq, k)`` picks from a sequence of length ``n``.

    Follows ``random.sample``: a partial shuffle of a pool for small populations, rejection of
    repeats with a set for large ones.

    Args:
        rng: The Python generator to draw from.
        n: The population size.
        k: The sample size, 0 <= k <= n.

    Returns:
        The ``k`` distinct indices, in selection order.
    """
    set_size = 21
    if k > 5:
        set_size += 4 ** math.ceil(math.log(k * 3, 4))
    if n <= set_size:
        pool = list(range(n))
        chosen = []
        for i in range(k):
            j = randbelow(rng, n - i)
            chosen.append(pool[j])
            pool[j] = pool[n - i - 1]
        return chosen
    selected: set[int] = set()
    order: list[int] = []
    for _ in range(k):
        j = randbelow(rng, n)
        while j in selected:
            j = randbelow(rng, n)
        selected.add(j)
        order.append(j)
    return order


def pandas_sample_positions(population: int, size: int, seed: int) -> NDArray[np.int64]:
    """Return the positions ``Series.sample(n=size, random_state=seed)`` picks, without replacement.

    Args:
        population: The length of the sampled Series.
        size: How many positions to pick, <= ``population``.
        seed: The ``random_state`` integer.

    Returns:
        The picked positions, in pick order.
    """
    state = np.random.RandomState(seed)
    return state.choice(population, size=size, replace=False).astype(np.int64)
