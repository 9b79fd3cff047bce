"""Occupancy heatmap: how often tracked objects' anchors fell in each cell of a grid over the frame.

The grid maths and a tiny dependency-free PNG encoder (zlib + struct) live here, so a device can
render an overlay without an image library; exports are CSV and JSON-ready dicts.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np
import numpy.typing as npt

from edgesight.apps.tracking import ClassFilter
from edgesight.core.config import HeatmapConfig
from edgesight.core.detections import Detections
from edgesight.core.errors import InputError
from edgesight.core.events import FrameLike
from edgesight.geometry.boxes import rule_anchor_points

__all__ = ["Heatmap", "colorize", "encode_png"]

Float64Array = npt.NDArray[np.float64]
UInt8Array = npt.NDArray[np.uint8]

# A perceptual dark-blue -> red -> yellow ramp ("inferno"-like), 5 stops interpolated to 256 entries.
_STOPS = np.array(
    [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float64
)
_LUT = np.stack(
    [np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_STOPS)), _STOPS[:, c]) for c in range(3)],
    axis=1,
).astype(np.uint8)


class Heatmap:
    """Occupancy grid of ``cols x rows`` cells: ``update(tracked, frame) -> grid view``.

    Each tracked object adds 1 to the cell holding its anchor, once per frame.

    Args:
        config: grid size, classes and anchor.

    Example:
        >>> from edgesight.core.events import FrameContext
        >>> hm = Heatmap(HeatmapConfig(enabled=True, grid=(4, 2)))
        >>> dets = Detections.from_arrays([[0, 0, 10, 40], [60, 10, 80, 90]], [0.9, 0.9], [0, 0],
        ...                               ["person", "person"], [1, 2])
        >>> hm.update(dets, FrameContext("cam", "main", 0, 0.0, (100, 100))).tolist()
        [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]
        >>> hm.to_png_overlay((8, 4))[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
        True
    """

    def __init__(self, config: HeatmapConfig) -> None:
        self.config = config
        self._cols, self._rows = config.grid
        self._counts = np.zeros((self._rows, self._cols), dtype=np.float64)
        self._classes = ClassFilter([config.classes])
        self._frames = 0

    @property
    def frames(self) -> int:
        """Frames accumulated so far."""
        return self._frames

    def update(self, tracked: Detections, frame: FrameLike) -> Float64Array:
        """Add this frame's anchors; returns a read-only view of the ``(rows, cols)`` counts."""
        keep = self._classes.matrix(tracked)[:, 0]
        pts = rule_anchor_points(tracked.xyxy[keep], [self.config.anchor], frame.frame_size)[:, 0, :]
        pts = pts[np.all((pts >= 0) & (pts <= 1), axis=1)]
        cx = np.minimum((pts[:, 0] * self._cols).astype(np.int64), self._cols - 1)
        cy = np.minimum((pts[:, 1] * self._rows).astype(np.int64), self._rows - 1)
        self._counts += np.bincount(cy * self._cols + cx, minlength=self._rows * self._cols).reshape(
            self._rows, self._cols
        )
        self._frames += 1
        view = self._counts.view()
        view.flags.writeable = False
        return view

    def grid(self, normalise: bool = False) -> Float64Array:
        """A copy of the ``(rows, cols)`` counts, or the mean objects per frame if ``normalise``."""
        if normalise:
            return self._counts / max(self._frames, 1)
        return self._counts.copy()

    def reset(self) -> None:
        """Start accumulating again from zero."""
        self._counts[:] = 0
        self._frames = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready export: grid size, frames and row-major counts."""
        return {
            "cols": self._cols,
            "rows": self._rows,
            "frames": self._frames,
            "anchor": self.config.anchor.value,
            "counts": self._counts.astype(np.int64).tolist(),
        }

    def to_csv(self) -> str:
        """Counts as CSV, one grid row per line (top row first)."""
        return "\n".join(",".join(str(int(v)) for v in row) for row in self._counts) + "\n"

    def to_png_overlay(self, size_px: tuple[int, int] | None = None, max_alpha: float = 0.6) -> bytes:
        """An RGBA PNG to lay over the frame: colour by count, transparent where nothing was seen.

        Args:
            size_px: ``(width, height)`` of the image; each cell becomes a block of pixels.
                Default: one pixel per cell.
            max_alpha: opacity of the busiest cell, 0..1.
        """
        rgba = colorize(self._counts, max_alpha)
        if size_px is not None:
            w, h = size_px
            ys = np.arange(h) * self._rows // h
            xs = np.arange(w) * self._cols // w
            rgba = rgba[ys][:, xs]
        return encode_png(rgba)


def colorize(grid: npt.ArrayLike, max_alpha: float = 0.6) -> UInt8Array:
    """``(rows, cols)`` values to ``(rows, cols, 4)`` RGBA: colour ramp by value, alpha grows with it.

    Example:
        >>> colorize([[0, 1], [2, 4]])[..., 3].tolist()
        [[0, 38], [76, 153]]
    """
    g = np.asarray(grid, dtype=np.float64)
    peak = float(g.max()) if g.size else 0.0
    level = g / peak if peak > 0 else np.zeros_like(g)
    rgba = np.empty((*g.shape, 4), dtype=np.uint8)
    rgba[..., :3] = _LUT[np.clip((level * 255).round().astype(np.int64), 0, 255)]
    rgba[..., 3] = np.clip(level * max_alpha * 255, 0, 255).astype(np.uint8)
    return rgba


def encode_png(rgba: npt.ArrayLike) -> bytes:
    """Encode an ``(h, w, 4)`` uint8 RGBA image as PNG (8-bit, no filtering, zlib-compressed).

    Example:
        >>> png = encode_png(np.zeros((2, 3, 4), np.uint8))
        >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n", struct.unpack(">II", png[16:24])
        (True, (3, 2))
    """
    img = np.ascontiguousarray(rgba, dtype=np.uint8)
    if img.ndim != 3 or img.shape[2] != 4:
        raise InputError(f"encode_png: expected an (h, w, 4) RGBA image, got shape {img.shape}")
    h, w = img.shape[:2]
    raw = np.concatenate([np.zeros((h, 1), np.uint8), img.reshape(h, w * 4)], axis=1).tobytes()

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + tag + data + crc

    header = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body
