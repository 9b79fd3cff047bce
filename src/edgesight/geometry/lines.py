"""Directed lines and segments: which side a point is on, and whether a motion step crosses.

Conventions (image coordinates, ``x`` right, ``y`` down): for a directed line ``start -> end``,
``side = sign(cross(end - start, p - start))``. Seen on screen, looking from ``start`` towards
``end``, ``side > 0`` is the **right** side and ``side < 0`` the **left** side. Example: for a line
from left to right across the image (``(0, 0.5) -> (1, 0.5)``) the lower half of the image is right.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["cross_2d", "crossing_points", "line_sides", "segments_cross", "segments_intersect"]

Float64Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Int8Array = npt.NDArray[np.int8]


def cross_2d(u: npt.ArrayLike, v: npt.ArrayLike) -> Float64Array:
    """z component of the cross product of 2-D vectors (broadcast over leading axes).

    Example:
        >>> float(cross_2d([1, 0], [0, 1]))
        1.0
    """
    uu = np.asarray(u, dtype=np.float64)
    vv = np.asarray(v, dtype=np.float64)
    out: Float64Array = uu[..., 0] * vv[..., 1] - uu[..., 1] * vv[..., 0]
    return out


def line_sides(points: npt.ArrayLike, starts: npt.ArrayLike, ends: npt.ArrayLike) -> Int8Array:
    """Side of each point relative to each directed line: +1 right, -1 left, 0 on the line.

    Args:
        points: ``(n, 2)`` points.
        starts: ``(k, 2)`` line start points.
        ends: ``(k, 2)`` line end points.

    Returns:
        ``(n, k)`` int8 signs.

    Example:
        >>> line_sides([[5, 9], [5, 1], [5, 5]], [[0, 5]], [[10, 5]]).ravel().tolist()
        [1, -1, 0]
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 1, 2)
    a = np.asarray(starts, dtype=np.float64).reshape(1, -1, 2)
    b = np.asarray(ends, dtype=np.float64).reshape(1, -1, 2)
    return np.sign(cross_2d(b - a, p - a)).astype(np.int8)


def segments_cross(
    p0: npt.ArrayLike, p1: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike
) -> BoolArray:
    """Whether motion steps ``p0 -> p1`` cross segments ``a -> b`` from one side to the other.

    The step must start strictly on one side of the segment's line and end strictly on the other,
    and the crossing point must lie on the segment (its end points included). All inputs broadcast
    over their leading axes.

    Example:
        >>> segments_cross([[5, 0], [15, 0]], [[5, 10], [15, 10]], [0, 5], [10, 5]).tolist()
        [True, False]
    """
    pp0 = np.asarray(p0, dtype=np.float64)
    pp1 = np.asarray(p1, dtype=np.float64)
    aa = np.asarray(a, dtype=np.float64)
    bb = np.asarray(b, dtype=np.float64)
    d1 = cross_2d(bb - aa, pp0 - aa)
    d2 = cross_2d(bb - aa, pp1 - aa)
    d3 = cross_2d(pp1 - pp0, aa - pp0)
    d4 = cross_2d(pp1 - pp0, bb - pp0)
    out: BoolArray = (d1 * d2 < 0) & (d3 * d4 <= 0)
    return out


def crossing_points(
    p0: npt.ArrayLike, p1: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike
) -> Float64Array:
    """Where the steps ``p0 -> p1`` meet the lines through ``a`` and ``b`` (NaN when parallel).

    Example:
        >>> crossing_points([[5, 0]], [[5, 10]], [0, 4], [10, 4]).tolist()
        [[5.0, 4.0]]
    """
    pp0 = np.asarray(p0, dtype=np.float64)
    pp1 = np.asarray(p1, dtype=np.float64)
    aa = np.asarray(a, dtype=np.float64)
    bb = np.asarray(b, dtype=np.float64)
    d1 = cross_2d(bb - aa, pp0 - aa)
    d2 = cross_2d(bb - aa, pp1 - aa)
    denom = d1 - d2
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(denom != 0, d1 / np.where(denom != 0, denom, 1.0), np.nan)
    out: Float64Array = pp0 + t[..., None] * (pp1 - pp0)
    return out


def _orientation(p: Float64Array, q: Float64Array, r: Float64Array, eps: float) -> int:
    value = float(cross_2d(q - p, r - p))
    return 0 if abs(value) <= eps else (1 if value > 0 else -1)


def _on_segment(p: Float64Array, q: Float64Array, r: Float64Array) -> bool:
    """r is collinear with p-q: is it within the bounding box of p-q?"""
    return bool(np.all(np.minimum(p, q) <= r) and np.all(r <= np.maximum(p, q)))


def segments_intersect(p: npt.ArrayLike, q: npt.ArrayLike, r: npt.ArrayLike, s: npt.ArrayLike) -> bool:
    """Whether closed segments ``p-q`` and ``r-s`` share any point (touching and overlap included).

    Example:
        >>> segments_intersect([0, 0], [2, 2], [0, 2], [2, 0])
        True
        >>> segments_intersect([0, 0], [1, 0], [2, 0], [3, 0])
        False
    """
    pp, qq, rr, ss = (np.asarray(v, dtype=np.float64) for v in (p, q, r, s))
    scale = float(max(np.ptp(np.stack([pp, qq, rr, ss]), axis=0).max(), 1e-12))
    eps = 1e-12 * scale * scale
    o1, o2 = _orientation(pp, qq, rr, eps), _orientation(pp, qq, ss, eps)
    o3, o4 = _orientation(rr, ss, pp, eps), _orientation(rr, ss, qq, eps)
    return (
        (o1 != o2 and o3 != o4)
        or (o1 == 0 and _on_segment(pp, qq, rr))
        or (o2 == 0 and _on_segment(pp, qq, ss))
        or (o3 == 0 and _on_segment(rr, ss, pp))
        or (o4 == 0 and _on_segment(rr, ss, qq))
    )
