"""A trained product's decision: memory bank + threshold -> score, pass/fail, heatmap, defect region.

The threshold is data held by the model and may be changed while parts flow
(:meth:`InspectionModel.set_threshold`); the next part is judged with the new value.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from edgesight.apps.inspection.errors import InspectionInputError
from edgesight.apps.inspection.memory_bank import MemoryBank
from edgesight.apps.inspection.scoring import (
    SMOOTHING_CELLS,
    anomaly_grid,
    defect_region,
    pixel_map,
    upsample,
)

__all__ = ["InspectionModel", "Verdict"]


@dataclass(frozen=True)
class Verdict:
    """The judgement of one part.

    Attributes:
        score: the anomaly map's maximum (distance to good features; higher is worse): of the
            pixel map for products scored on pixels, else of the grid map.
        threshold: the threshold the part was judged with.
        passed: ``score <= threshold``.
        region: pixel box ``(x, y, w, h)`` of the defect, None for a passed part.
        grid_map: the anomaly map at feature resolution (upsample for a pixel heatmap).
        pixel_map: the pixel heatmap, when scoring on pixels computed it anyway.
    """

    score: float
    threshold: float
    passed: bool
    region: tuple[int, int, int, int] | None
    grid_map: np.ndarray
    pixel_map: np.ndarray | None = None


class InspectionModel:
    """Judges parts from their patch features.

    Args:
        bank: good patch features (already projected, if ``projection`` is given).
        threshold: score above which a part is rejected.
        stride: pixels per grid cell, to place defect regions.
        projection: optional ``(features, bank dim)`` matrix applied to patch features first.
        border_cells: grid cells along each edge that are not judged. Features there see the
            network's zero padding and are rarer in the bank, so good parts score highest at their
            edges; a defect closer to the edge than ``border_cells * stride`` pixels is not seen.
            They take the lowest judged distance, so the pixel blur fades peaks at the border.
        pixel_sigma: score on the grid map upsampled to pixels and blurred with this sigma
            (PatchCore, :func:`~edgesight.apps.inspection.scoring.pixel_map`); None scores on the
            grid map smoothed by ``sigma`` cells (products trained before pixel scoring).

    Example:
        >>> model = InspectionModel(MemoryBank(np.zeros((1, 2), np.float32)), threshold=1.0, stride=8)
        >>> feats = np.zeros((4, 2), np.float32); feats[3] = [3.0, 4.0]
        >>> v = model.judge(feats, (2, 2), sigma=0)
        >>> v.score, v.passed, v.region
        (5.0, False, (8, 8, 8, 8))
        >>> model.set_threshold(6.0); model.judge(feats, (2, 2), sigma=0).passed
        True
    """

    def __init__(
        self,
        bank: MemoryBank,
        threshold: float,
        stride: int,
        projection: np.ndarray | None = None,
        border_cells: int = 0,
        pixel_sigma: float | None = None,
    ) -> None:
        self.bank = bank
        self.pixel_sigma = pixel_sigma
        self.border_cells = border_cells
        self.stride = stride
        self.projection = projection
        self._lock = threading.Lock()
        self._threshold = self._checked(threshold)

    @staticmethod
    def _checked(threshold: float) -> float:
        if not isinstance(threshold, int | float) or not math.isfinite(threshold) or threshold < 0:
            raise InspectionInputError(f"threshold must be a finite number >= 0, got {threshold!r}")
        return float(threshold)

    @property
    def threshold(self) -> float:
        """The threshold the next part is judged with."""
        with self._lock:
            return self._threshold

    def set_threshold(self, threshold: float) -> None:
        """Change the threshold at run time; parts judged afterwards use it."""
        value = self._checked(threshold)
        with self._lock:
            self._threshold = value

    def project(self, features: np.ndarray) -> np.ndarray:
        """Patch features in the bank's space."""
        return features if self.projection is None else features @ self.projection

    def grid_map(self, features: np.ndarray, grid: tuple[int, int], sigma: float = SMOOTHING_CELLS) -> np.ndarray:
        """The anomaly map of one part's ``(cells, dim)`` patch features on the feature grid.

        Smoothed by ``sigma`` cells unless the product scores on pixels (the pixel blur does it).
        Only the judged cells are searched (the border is a quarter of a 32x32 grid's cells) and
        smoothed among themselves, so the high distances of edge cells do not bleed inward.
        """
        sigma = 0.0 if self.pixel_sigma is not None else sigma
        b = self.border_cells
        if not b:
            return anomaly_grid(self.bank.nearest_distances(self.project(features)), grid, sigma)
        height, width = grid
        if min(grid) <= 2 * b:
            raise InspectionInputError(f"a part of {grid} feature cells is too small for a border of {b} cells")
        interior = features.reshape(height, width, -1)[b:-b, b:-b].reshape((height - 2 * b) * (width - 2 * b), -1)
        judged = anomaly_grid(self.bank.nearest_distances(self.project(interior)), (height - 2 * b, width - 2 * b), sigma)
        grid_map = np.full(grid, judged.min(), np.float32)
        grid_map[b:-b, b:-b] = judged
        return grid_map

    def heatmap(self, grid_map: np.ndarray) -> np.ndarray:
        """The pixel anomaly map of a grid map (the score is its maximum when scoring on pixels)."""
        size = (grid_map.shape[1] * self.stride, grid_map.shape[0] * self.stride)
        return pixel_map(grid_map, size, self.pixel_sigma) if self.pixel_sigma is not None else upsample(grid_map, size)

    def judge(self, features: np.ndarray, grid: tuple[int, int], sigma: float = SMOOTHING_CELLS) -> Verdict:
        """Score one part and decide pass/fail with the current threshold."""
        grid_map = self.grid_map(features, grid, sigma)
        threshold = self.threshold
        pixels = None if self.pixel_sigma is None else self.heatmap(grid_map)
        score = float((grid_map if pixels is None else pixels).max())
        passed = score <= threshold
        region = None if passed else defect_region(grid_map, threshold, self.stride)
        return Verdict(score, threshold, passed, region, grid_map, pixels)
