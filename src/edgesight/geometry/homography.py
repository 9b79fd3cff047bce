"""Plane-to-plane homographies: from 4 image points to 4 ground points in metres.

The image points are normalised 0..1 (as in the config); the ground points are metres on the floor
plane. The homography is solved from the 8x8 linear system of the direct linear transform with
``h33 = 1``, after Hartley normalisation of both point sets for conditioning.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import numpy.typing as npt

__all__ = ["apply_homography", "collinear_triple", "homography_from_points"]

Float64Array = npt.NDArray[np.float64]

_COLLINEAR_RTOL = 1e-6
_MAX_CONDITION = 1e10


def collinear_triple(points: npt.ArrayLike) -> tuple[int, int, int] | None:
    """The first three points (by index) that lie on one line, or None.

    "On one line" is relative to the spread of the points: the triangle they form has an area
    below ``1e-6`` of the squared extent.

    Example:
        >>> collinear_triple([[0, 0], [1, 0], [1, 1], [0, 1]]) is None
        True
        >>> collinear_triple([[0, 0], [0.5, 0.5], [1, 1], [0, 1]])
        (0, 1, 2)
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    extent = float(np.ptp(p, axis=0).max()) if p.shape[0] else 0.0
    if extent <= 0:
        return (0, 1, 2) if p.shape[0] >= 3 else None
    for i, j, k in combinations(range(p.shape[0]), 3):
        u, v = p[j] - p[i], p[k] - p[i]
        area2 = abs(u[0] * v[1] - u[1] * v[0])
        if area2 <= _COLLINEAR_RTOL * extent * extent:
            return (i, j, k)
    return None


def _normaliser(p: Float64Array) -> Float64Array:
    """Similarity that moves the centroid to 0 and the mean distance to sqrt(2)."""
    centre = p.mean(axis=0)
    mean_dist = float(np.mean(np.linalg.norm(p - centre, axis=1)))
    s = np.sqrt(2.0) / mean_dist
    return np.array([[s, 0, -s * centre[0]], [0, s, -s * centre[1]], [0, 0, 1]], dtype=np.float64)


def homography_from_points(src: npt.ArrayLike, dst: npt.ArrayLike) -> Float64Array:
    """The 3x3 homography ``H`` with ``dst ~ H @ [src, 1]`` from exactly 4 correspondences.

    Args:
        src: ``(4, 2)`` points in the source plane (for example normalised image points).
        dst: ``(4, 2)`` points in the target plane (for example ground metres).

    Returns:
        ``(3, 3)`` float64 matrix with ``H[2, 2] == 1``.

    Raises:
        ValueError: wrong shapes, three collinear points on either side, or a singular system;
            the message names the side and the point indices.

    Example:
        >>> h = homography_from_points([[0, 0], [1, 0], [1, 1], [0, 1]], [[0, 0], [4, 0], [4, 2], [0, 2]])
        >>> apply_homography(h, [[0.5, 0.5]]).round(6).tolist()
        [[2.0, 1.0]]
        >>> homography_from_points([[0, 0], [0.5, 0.5], [1, 1], [0, 1]], [[0, 0], [4, 0], [4, 2], [0, 2]])
        Traceback (most recent call last):
        ...
        ValueError: src points 0, 1 and 2 are collinear: a homography needs 4 points, no 3 on one line
    """
    s = np.asarray(src, dtype=np.float64)
    d = np.asarray(dst, dtype=np.float64)
    for name, p in (("src", s), ("dst", d)):
        if p.shape != (4, 2):
            raise ValueError(f"{name} must be 4 [x, y] points, got shape {p.shape}")
        if not np.all(np.isfinite(p)):
            raise ValueError(f"{name} has a non-finite coordinate: {p.tolist()}")
        triple = collinear_triple(p)
        if triple is not None:
            i, j, k = triple
            raise ValueError(
                f"{name} points {i}, {j} and {k} are collinear: a homography needs 4 points, no 3 on one line"
            )
    ts, td = _normaliser(s), _normaliser(d)
    sn = (np.c_[s, np.ones(4)] @ ts.T)[:, :2]
    dn = (np.c_[d, np.ones(4)] @ td.T)[:, :2]
    a = np.zeros((8, 8), dtype=np.float64)
    rhs = np.zeros(8, dtype=np.float64)
    for i in range(4):
        x, y = sn[i]
        u, v = dn[i]
        a[2 * i] = [x, y, 1, 0, 0, 0, -u * x, -u * y]
        a[2 * i + 1] = [0, 0, 0, x, y, 1, -v * x, -v * y]
        rhs[2 * i], rhs[2 * i + 1] = u, v
    if np.linalg.cond(a) > _MAX_CONDITION:
        raise ValueError("the point correspondences give a singular system: no unique homography")
    hn = np.append(np.linalg.solve(a, rhs), 1.0).reshape(3, 3)
    h = np.linalg.inv(td) @ hn @ ts
    if abs(h[2, 2]) < 1e-12 or abs(np.linalg.det(h)) < 1e-12 * abs(h[2, 2]) ** 3:
        raise ValueError("the homography is singular: it maps the plane onto a line")
    out: Float64Array = h / h[2, 2]
    return out


def apply_homography(h: npt.ArrayLike, points: npt.ArrayLike) -> Float64Array:
    """Map points through a homography.

    Args:
        h: ``(3, 3)`` matrix.
        points: ``(n, 2)`` points.

    Returns:
        ``(n, 2)`` mapped points; NaN for points on the plane's horizon (``w == 0``).

    Example:
        >>> apply_homography(np.diag([2.0, 3.0, 1.0]), [[1, 1], [0, 2]]).tolist()
        [[2.0, 3.0], [0.0, 6.0]]
    """
    m = np.asarray(h, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    w = p[:, 0] * m[2, 0] + p[:, 1] * m[2, 1] + m[2, 2]
    x = p[:, 0] * m[0, 0] + p[:, 1] * m[0, 1] + m[0, 2]
    y = p[:, 0] * m[1, 0] + p[:, 1] * m[1, 1] + m[1, 2]
    ok = np.abs(w) > 1e-12
    safe_w = np.where(ok, w, 1.0)
    out: Float64Array = np.where(ok[:, None], np.stack([x / safe_w, y / safe_w], axis=1), np.nan)
    return out
