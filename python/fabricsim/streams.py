"""Random streams of the project's own generator (rust/core/src/rng.rs: xoshiro256** seeded
through SplitMix64), for the traffic Python generates: synthetic loads and memory traffic draw
from here, not from numpy's generators, so their bits cannot change with a numpy upgrade.

A stream is the engine's stream of component ``(kind, index)`` within ``seed``; every method
consumes draws in order, one per value (``permutation`` one per element), so the same calls
give the same values on any machine.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from fabricsim import _core


def kind_code(kind: str) -> int:
    """A stream kind's code: its first 8 bytes, little-endian (``"synth"``, ``"memory"``)."""
    return int.from_bytes(kind.encode()[:8].ljust(8, b"\0"), "little")


class Stream:
    """One random stream: ``Stream(seed, "synth")``."""

    def __init__(self, seed: int, kind: str, index: int = 0) -> None:
        self._core = _core.RandomStream(int(seed), kind_code(kind), int(index))

    def random(self, count: int) -> npt.NDArray[np.float64]:
        """``count`` uniform floats in [0, 1) (53 random bits each)."""
        out: npt.NDArray[np.float64] = np.frombuffer(self._core.floats(int(count)), dtype="<f8").copy()
        return out

    def integers(self, low: int, high: int, count: int) -> npt.NDArray[np.int64]:
        """``count`` uniform integers in ``[low, high)``."""
        raw = self._core.integers_below(int(high) - int(low), int(count))
        return np.frombuffer(raw, dtype="<u8").astype(np.int64) + int(low)

    def permutation(self, n: int) -> npt.NDArray[np.int64]:
        """A uniformly random permutation of ``0..n`` (a stable sort of ``n`` floats)."""
        return np.argsort(self.random(n), kind="stable").astype(np.int64)

    def choice(self, weights: Sequence[float], count: int) -> npt.NDArray[np.int64]:
        """``count`` indices drawn with probabilities ``weights`` (normalized)."""
        cdf = np.cumsum(np.asarray(weights, dtype=np.float64))
        picks = np.searchsorted(cdf / cdf[-1], self.random(count), side="right")
        return np.minimum(picks, len(cdf) - 1).astype(np.int64)

    def bernoulli_indices(self, count: int, p: float) -> npt.NDArray[np.int64]:
        """The indices in ``0..count`` whose trial succeeds with probability ``p`` (one draw
        each, in order); memory follows the successes."""
        return np.frombuffer(self._core.bernoulli_indices(int(count), float(p)), dtype="<u8").astype(np.int64)


__all__ = ["Stream", "kind_code"]
