"""From patch distances to a part's anomaly map, score and defect region."""

from __future__ import annotations

import numpy as np
from scipy import ndimage  # type: ignore[import-untyped,unused-ignore]

__all__ = ["PIXEL_SIGMA", "SMOOTHING_CELLS", "anomaly_grid", "defect_region", "pixel_map", "upsample"]

SMOOTHING_CELLS = 0.5
"""Gaussian sigma of the grid map in cells, for products scored on the grid (before pixel scoring)."""
PIXEL_SIGMA = 4.0
"""Gaussian sigma in pixels of the upsampled anomaly map, PatchCore's."""


def anomaly_grid(distances: np.ndarray, grid: tuple[int, int], sigma: float = SMOOTHING_CELLS) -> np.ndarray:
    """Patch distances as a smoothed ``grid``-shaped map.

    Example:
        >>> anomaly_grid(np.arange(4, dtype=np.float32), (2, 2), sigma=0).tolist()
        [[0.0, 1.0], [2.0, 3.0]]
    """
    grid_map = distances.reshape(grid).astype(np.float32)
    return ndimage.gaussian_filter(grid_map, sigma=sigma, mode="nearest") if sigma > 0 else grid_map


def upsample(grid_map: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of a grid map to a ``(width, height)`` pixel heatmap.

    Example:
        >>> upsample(np.zeros((2, 2), np.float32), (8, 4)).shape
        (4, 8)
    """
    width, height = size
    zoom = (height / grid_map.shape[0], width / grid_map.shape[1])
    return np.asarray(ndimage.zoom(grid_map, zoom, order=1, mode="nearest", grid_mode=True), np.float32)


def pixel_map(grid_map: np.ndarray, size: tuple[int, int], sigma: float = PIXEL_SIGMA) -> np.ndarray:
    """PatchCore's anomaly map: the grid map upsampled to ``(width, height)`` pixels, then blurred.

    Its maximum is the part's score: the blur spreads a lone high patch, so one noisy patch
    weighs less than a defect covering neighbouring patches.

    Example:
        >>> m = np.zeros((4, 4), np.float32); m[1, 1] = 1.0
        >>> p = pixel_map(m, (32, 32)); p.shape, bool(0 < p.max() < 1)
        ((32, 32), True)
    """
    return np.asarray(ndimage.gaussian_filter(upsample(grid_map, size), sigma, mode="nearest"), np.float32)


def defect_region(grid_map: np.ndarray, threshold: float, stride: int) -> tuple[int, int, int, int] | None:
    """Pixel box ``(x, y, w, h)`` of the connected region above ``threshold`` holding the map's peak.

    Example:
        >>> m = np.zeros((4, 4), np.float32); m[1:3, 2] = 5.0
        >>> defect_region(m, 1.0, stride=8)
        (16, 8, 8, 16)
        >>> defect_region(m, 9.0, stride=8) is None
        True
    """
    above = grid_map > threshold
    if not above.any():
        return None
    labels, _ = ndimage.label(above)
    peak = np.unravel_index(int(np.argmax(np.where(above, grid_map, -np.inf))), grid_map.shape)
    rows, cols = np.nonzero(labels == labels[peak])
    y0, x0 = int(rows.min()), int(cols.min())
    return x0 * stride, y0 * stride, (int(cols.max()) - x0 + 1) * stride, (int(rows.max()) - y0 + 1) * stride
