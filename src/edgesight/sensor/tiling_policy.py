"""The default tiling: tiles only where the ROI is much larger than the network's input.

Resizing a region to the network's input shrinks everything in it by the same factor. Up to a
point the network still sees people (NanoDet-Plus finds people down to roughly 16 input pixels
tall); a 4K frame squeezed into 416 pixels shrinks ninefold and far people vanish. So the sensor
tiles only when the ROI is at least :data:`TILE_ABOVE` times the input along its longer axis (4K
and 1440p at a 416 input, not 1080p and not 768x576), and then splits it along that axis into as
many tiles as make each tile's shape close to the input's (a 16:9 frame into two near-square
tiles for a square input), at most :data:`MAX_TILES`: each tile costs a full network pass, and
two passes is what keeps 4K in real time on two cores. The tiles overlap so that a person cut by
one tile's edge is whole in the other; the whole-ROI pass is left out (the tiles cover it).
"""

from __future__ import annotations

import math

from edgesight.core.intrinsics import InputSpec, Tiling

__all__ = ["MAX_TILES", "TILE_ABOVE", "TILE_OVERLAP", "auto_tiling"]

TILE_ABOVE = 6.0
"""Tile when the ROI is at least this many times the input's size along its longer axis."""
MAX_TILES = 2
"""Network passes per frame the default allows."""
TILE_OVERLAP = 0.2
"""Overlap of neighbouring tiles, as a fraction of a tile."""


def auto_tiling(roi_width: int, roi_height: int, spec: InputSpec) -> Tiling:
    """The tiling the sensor uses by default for a ``roi_width`` x ``roi_height`` pixel ROI.

    Example:
        >>> spec = InputSpec(width=416, height=416)
        >>> auto_tiling(768, 576, spec) == Tiling()           # 1.8x the input: whole frame
        True
        >>> t = auto_tiling(3840, 2160, spec)                  # 9.2x: two near-square tiles
        >>> (t.rows, t.cols, t.include_full)
        (1, 2, False)
        >>> auto_tiling(1920, 1080, spec) == Tiling()         # 4.6x: whole frame
        True
        >>> (lambda t: (t.rows, t.cols))(auto_tiling(2160, 3840, spec))  # portrait 4K
        (2, 1)
    """
    scale_x, scale_y = roi_width / spec.width, roi_height / spec.height
    if max(scale_x, scale_y) < TILE_ABOVE:
        return Tiling()
    # How many input-shaped tiles fit along the longer axis, bounded by the pass budget.
    ratio = max(scale_x, scale_y) / min(scale_x, scale_y)
    count = max(1, min(MAX_TILES, math.floor(ratio + 0.5)))
    if count == 1:
        return Tiling()
    if scale_x >= scale_y:
        return Tiling(rows=1, cols=count, overlap=TILE_OVERLAP, include_full=False)
    return Tiling(rows=count, cols=1, overlap=TILE_OVERLAP, include_full=False)
