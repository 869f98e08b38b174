"""A sum tree: priorities at the leaves, sums at the inner nodes (Schaul et al. 2016, Appendix B.2.1)."""

from __future__ import annotations

import numpy as np


class SumTree:
    """Binary tree over ``capacity`` non-negative priorities, stored as one flat array.

    Node 1 is the root; node ``i`` has children ``2i`` and ``2i + 1``; leaf ``j`` is node
    ``leaf_offset + j``. Updates and prefix-sum searches take O(log capacity) and are
    vectorized over a batch of indices.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity={capacity} must be >= 1")
        self.capacity = capacity
        self.leaf_offset = 1 << max(0, int(capacity - 1).bit_length())
        self.nodes = np.zeros(2 * self.leaf_offset, dtype=np.float64)

    @property
    def total(self) -> float:
        """Sum of all priorities."""
        return float(self.nodes[1])

    def get(self, indices: np.ndarray) -> np.ndarray:
        """Priorities of leaves ``indices``, (B,) float64."""
        return self.nodes[self.leaf_offset + np.asarray(indices)]

    def update(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """Set leaves ``indices`` (B,) to ``priorities`` (B,) and recompute their ancestors."""
        priorities = np.asarray(priorities, dtype=np.float64)
        if priorities.size and (priorities.min() < 0 or not np.isfinite(priorities).all()):
            raise ValueError("priorities must be finite and >= 0")
        nodes = self.leaf_offset + np.asarray(indices, dtype=np.int64)
        self.nodes[nodes] = priorities
        for _ in range(self.leaf_offset.bit_length() - 1):  # one level up per pass, to the root
            nodes //= 2
            # A parent listed twice is written twice with the same sum of its children.
            self.nodes[nodes] = self.nodes[2 * nodes] + self.nodes[2 * nodes + 1]

    def find(self, prefix_sums: np.ndarray) -> np.ndarray:
        """Leaf index whose cumulative range holds each prefix sum in ``[0, total)``, (B,) int64."""
        values = np.array(prefix_sums, dtype=np.float64)
        nodes = np.ones(values.shape, dtype=np.int64)
        for _ in range(self.leaf_offset.bit_length() - 1):  # one level down per pass, to the leaves
            left = 2 * nodes
            go_right = values >= self.nodes[left]
            values -= np.where(go_right, self.nodes[left], 0.0)
            nodes = left + go_right
        return np.minimum(nodes - self.leaf_offset, self.capacity - 1)
