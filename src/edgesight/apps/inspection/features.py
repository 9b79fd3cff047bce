"""Patch features from stage maps: neighbourhood average, upsample to the finest grid, concatenate.

Averaging each feature over its 3x3 neighbourhood (PatchCore's "locally aware" patches) makes a
patch feature describe a small region rather than one receptive-field centre, so a defect that
straddles two patches still moves both.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage  # type: ignore[import-untyped,unused-ignore]

from edgesight.apps.inspection.errors import InspectionInputError

__all__ = ["patch_features", "random_projection"]


def patch_features(
    maps: Sequence[np.ndarray], reference: int = 0, neighbourhood: int = 3
) -> tuple[np.ndarray, tuple[int, int]]:
    """Concatenate locally averaged stage maps into one feature per cell of the reference stage's grid.

    Finer stages are averaged over blocks of the reference cell, coarser ones repeated onto it.

    Args:
        maps: ``(C_i, H_i, W_i)`` stage maps whose grids divide or are divided by the reference grid.
        reference: index of the stage whose grid the features are on.
        neighbourhood: side of the averaging window in cells of each stage.

    Returns:
        ``(H * W, sum C_i)`` float32 features in row-major cell order, and the grid ``(H, W)``.

    Example:
        >>> fine, mid, coarse = (np.ones((c, s, s), np.float32) for c, s in ((1, 8), (2, 4), (3, 2)))
        >>> feats, grid = patch_features([fine, mid, coarse], reference=1)
        >>> feats.shape, grid
        ((16, 6), (4, 4))
    """
    if not maps:
        raise InspectionInputError("patch_features: no stage maps given")
    height, width = maps[reference].shape[1:]
    columns = []
    for stage in maps:
        pooled = ndimage.uniform_filter(stage, size=(1, neighbourhood, neighbourhood), mode="reflect")
        columns.append(_onto_grid(pooled, height, width))
    stacked = np.concatenate(columns, axis=0)
    return np.ascontiguousarray(stacked.reshape(stacked.shape[0], -1).T, dtype=np.float32), (height, width)


def _onto_grid(stage: np.ndarray, height: int, width: int) -> np.ndarray:
    channels, h, w = stage.shape
    if h >= height and h % height == 0 and w % width == 0:
        fy, fx = h // height, w // width
        return np.asarray(stage.reshape(channels, height, fy, width, fx).mean(axis=(2, 4)))
    if height % h == 0 and width % w == 0:
        return np.repeat(np.repeat(stage, height // h, axis=1), width // w, axis=2)
    raise InspectionInputError(f"patch_features: stage grid {(h, w)} does not align with the grid {(height, width)}")


def random_projection(dim_in: int, dim_out: int, seed: int = 0) -> np.ndarray:
    """A Gaussian ``(dim_in, dim_out)`` projection that keeps distances on average (Johnson-Lindenstrauss).

    Example:
        >>> random_projection(384, 128).shape
        (384, 128)
    """
    rng = np.random.default_rng(seed)
    matrix: np.ndarray = (rng.standard_normal((dim_in, dim_out)) / np.sqrt(dim_out)).astype(np.float32)
    return matrix
