"""The memory bank of good patch features: greedy k-center coreset and nearest-neighbour distances."""

from __future__ import annotations

import numpy as np

from edgesight.apps.inspection.features import random_projection

__all__ = ["MemoryBank", "greedy_coreset"]

_CHUNK = 2048
"""Queries per block of the brute-force search: bounds the distance matrix to CHUNK x bank floats."""


def greedy_coreset(features: np.ndarray, size: int, seed: int = 0, sketch_dim: int = 64) -> np.ndarray:
    """Indices of ``size`` features chosen greedily so every feature is near a chosen one (k-center).

    Each step adds the feature farthest from the chosen set; distances are measured on a random
    sketch of the features, as PatchCore does, because the choice only needs their ranking.

    Example:
        >>> pts = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [10.0, 0.0]], np.float32)
        >>> sorted(greedy_coreset(pts, 3, sketch_dim=2).tolist())
        [0, 2, 3]
    """
    n = len(features)
    if size >= n:
        return np.arange(n)
    sketch = features @ random_projection(features.shape[1], sketch_dim, seed) if sketch_dim < features.shape[1] else features
    sketch = sketch.astype(np.float32)
    chosen = np.empty(size, dtype=np.int64)
    chosen[0] = int(np.random.default_rng(seed).integers(n))
    nearest = np.sum((sketch - sketch[chosen[0]]) ** 2, axis=1)
    for i in range(1, size):
        chosen[i] = int(np.argmax(nearest))
        np.minimum(nearest, np.sum((sketch - sketch[chosen[i]]) ** 2, axis=1), out=nearest)
    return chosen


class MemoryBank:
    """Good patch features with an exact nearest-neighbour distance by chunked brute force.

    Brute force with one matrix product per chunk beats a k-d tree at these dimensions (>= 64).

    Example:
        >>> bank = MemoryBank(np.array([[0.0, 0.0], [3.0, 4.0]], np.float32))
        >>> bank.nearest_distances(np.array([[0.0, 1.0], [3.0, 4.0]], np.float32)).round(3).tolist()
        [1.0, 0.0]
    """

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._norms = np.sum(self.vectors**2, axis=1)
        self._minus_twice_t = np.ascontiguousarray(-2.0 * self.vectors.T)  # one matrix product gives -2 q.v

    def __len__(self) -> int:
        return len(self.vectors)

    def nearest_distances(self, queries: np.ndarray) -> np.ndarray:
        """Euclidean distance of each query to its nearest bank vector."""
        out = np.empty(len(queries), dtype=np.float32)
        for start in range(0, len(queries), _CHUNK):
            block = queries[start : start + _CHUNK].astype(np.float32, copy=False)
            # |q - v|^2 = |q|^2 + |v|^2 - 2 q.v; |q|^2 is the same along a row, so add it after the min.
            # In place on the one product matrix: it is the only large array of the search.
            partial = block @ self._minus_twice_t
            partial += self._norms
            squared = partial.min(axis=1) + np.einsum("ij,ij->i", block, block)
            out[start : start + len(block)] = np.sqrt(np.maximum(squared, 0.0))
        return out
