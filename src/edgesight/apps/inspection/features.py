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


def patch_features(maps: Sequence[np.ndarray], neighbourhood: int = 3) -> tuple[np.ndarray, tuple[int, int]]:
    """Concatenate locally averaged stage maps into one feature per cell of the finest grid.

    Args:
        maps: ``(C_i, H_i, W_i)`` stage maps, finest first; each coarser grid divides the finest.
        neighbourhood: side of the averaging window in cells.

    Returns:
        ``(H_0 * W_0, sum C_i)`` float32 features in row-major cell order, and the grid ``(H_0, W_0)``.

    Example:
        >>> fine, coarse = np.ones((2, 4, 4), np.float32), np.zeros((3, 2, 2), np.float32)
        >>> feats, grid = patch_features([fine, coarse])
        >>> feats.shape, grid
        ((16, 5), (4, 4))
    """
    if not maps:
        raise InspectionInputError("patch_features: no stage maps given")
    height, width = maps[0].shape[1:]
    columns = []
    for stage in maps:
        fy, fx = height // stage.shape[1], width // stage.shape[2]
        if fy * stage.shape[1] != height or fx * stage.shape[2] != width:
            raise InspectionInputError(
                f"patch_features: stage grid {stage.shape[1:]} does not divide the finest grid {(height, width)}"
            )
        pooled = ndimage.uniform_filter(stage, size=(1, neighbourhood, neighbourhood), mode="reflect")
        columns.append(np.repeat(np.repeat(pooled, fy, axis=1), fx, axis=2))
    stacked = np.concatenate(columns, axis=0)
    return np.ascontiguousarray(stacked.reshape(stacked.shape[0], -1).T, dtype=np.float32), (height, width)


def random_projection(dim_in: int, dim_out: int, seed: int = 0) -> np.ndarray:
    """A Gaussian ``(dim_in, dim_out)`` projection that keeps distances on average (Johnson-Lindenstrauss).

    Example:
        >>> random_projection(384, 128).shape
        (384, 128)
    """
    rng = np.random.default_rng(seed)
    matrix: np.ndarray = (rng.standard_normal((dim_in, dim_out)) / np.sqrt(dim_out)).astype(np.float32)
    return matrix
