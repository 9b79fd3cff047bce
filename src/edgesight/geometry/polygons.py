"""Polygons: validation, area, vectorised point-in-polygon and which edge a step crosses.

A polygon is a ``(k, 2)`` array of vertices in order (either winding), implicitly closed. Zone
polygons come from the config normalised to 0..1 and are scaled to pixels by the apps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from edgesight.geometry.lines import cross_2d, segments_cross, segments_intersect

__all__ = [
    "crossed_edge",
    "crossed_edges",
    "pad_polygons",
    "points_in_polygon",
    "points_in_polygons",
    "polygon_area",
    "polygon_problem",
    "validate_polygon",
]

Float64Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def polygon_area(polygon: npt.ArrayLike) -> float:
    """Unsigned area by the shoelace formula.

    Example:
        >>> polygon_area([[0, 0], [2, 0], [2, 1], [0, 1]])
        2.0
    """
    p = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    return float(abs(np.sum(cross_2d(p, np.roll(p, -1, axis=0)))) * 0.5)


def polygon_problem(polygon: npt.ArrayLike) -> str | None:
    """What is wrong with a polygon, or None when it is a valid simple polygon.

    Valid means: at least 3 vertices, no repeated consecutive vertex, edges that do not cross
    or touch except neighbours at their shared vertex, and a non-zero area.

    Example:
        >>> polygon_problem([[0, 0], [1, 1], [1, 0], [0, 1]])
        'edges 0 (points 0-1) and 2 (points 2-3) cross: the polygon is self-intersecting'
        >>> polygon_problem([[0, 0], [1, 0], [0, 1]]) is None
        True
    """
    p = np.asarray(polygon, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2:
        return f"needs a list of [x, y] points, got shape {p.shape}"
    k = p.shape[0]
    if k < 3:
        return f"needs >= 3 points, got {k}"
    if not np.all(np.isfinite(p)):
        return "has a non-finite coordinate"
    nxt = np.roll(p, -1, axis=0)
    edge = nxt - p
    for i in range(k):
        if not np.any(edge[i]):
            return f"points {i} and {(i + 1) % k} are the same point {p[i].tolist()}"
    for i in range(k):
        j = (i + 1) % k  # edges i and j share vertex j
        scale = float(np.linalg.norm(edge[i]) * np.linalg.norm(edge[j]))
        if abs(float(cross_2d(edge[i], edge[j]))) <= 1e-12 * scale and float(np.dot(edge[i], edge[j])) < 0:
            return f"edges {i} and {j} fold back on each other at point {j}: the polygon is self-intersecting"
    for i in range(k):
        for j in range(i + 2, k):
            if i == 0 and j == k - 1:
                continue  # neighbours through the closing edge
            if segments_intersect(p[i], nxt[i], p[j], nxt[j]):
                return (
                    f"edges {i} (points {i}-{(i + 1) % k}) and {j} (points {j}-{(j + 1) % k}) cross: "
                    "the polygon is self-intersecting"
                )
    if polygon_area(p) <= 1e-12:
        return "has zero area"
    return None


def validate_polygon(polygon: npt.ArrayLike) -> Float64Array:
    """The polygon as a ``(k, 2)`` float64 array, or ValueError saying what is wrong.

    Example:
        >>> validate_polygon([[0, 0], [1, 0]])
        Traceback (most recent call last):
        ...
        ValueError: polygon needs >= 3 points, got 2
    """
    problem = polygon_problem(polygon)
    if problem is not None:
        raise ValueError(f"polygon {problem}")
    return np.asarray(polygon, dtype=np.float64)


def pad_polygons(polygons: Sequence[npt.ArrayLike]) -> Float64Array:
    """Stack polygons of different sizes into ``(z, v, 2)`` by repeating each last vertex.

    The repeated vertices add zero-length edges, which never change a point-in-polygon test.

    Example:
        >>> pad_polygons([[[0, 0], [1, 0], [0, 1]], [[0, 0], [1, 0], [1, 1], [0, 1]]]).shape
        (2, 4, 2)
    """
    arrays = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in polygons]
    v = max((a.shape[0] for a in arrays), default=3)
    out = np.zeros((len(arrays), v, 2), dtype=np.float64)
    for z, a in enumerate(arrays):
        out[z, : a.shape[0]] = a
        out[z, a.shape[0] :] = a[-1]
    return out


def points_in_polygons(points: npt.ArrayLike, polygons: Float64Array | Sequence[npt.ArrayLike]) -> BoolArray:
    """Crossing-number test of every point against every polygon, all at once.

    Args:
        points: ``(n, 2)`` points.
        polygons: ``(z, v, 2)`` padded polygons (see :func:`pad_polygons`) or a list of polygons.

    Returns:
        ``(n, z)`` bool, True when the point is inside (points on an edge may go either way).

    Example:
        >>> square = [[0, 0], [10, 0], [10, 10], [0, 10]]
        >>> points_in_polygons([[5, 5], [15, 5]], [square, [[0, 0], [4, 0], [0, 4]]]).tolist()
        [[True, False], [False, False]]
    """
    if isinstance(polygons, np.ndarray) and polygons.ndim == 3:
        poly = polygons
    else:
        poly = pad_polygons(list(polygons))
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    px = pts[:, 0, None, None]
    py = pts[:, 1, None, None]
    xi, yi = poly[None, :, :, 0], poly[None, :, :, 1]
    prev = np.concatenate([poly[:, -1:], poly[:, :-1]], axis=1)
    xj, yj = prev[None, :, :, 0], prev[None, :, :, 1]
    straddles = (yi > py) != (yj > py)
    dy = np.where(yj != yi, yj - yi, 1.0)
    x_cross = xi + (xj - xi) * (py - yi) / dy
    hits = straddles & (px < x_cross)
    out: BoolArray = (np.count_nonzero(hits, axis=2) % 2) == 1
    return out


def points_in_polygon(points: npt.ArrayLike, polygon: npt.ArrayLike) -> BoolArray:
    """Which points lie inside one polygon.

    Example:
        >>> points_in_polygon([[1, 1], [3, 3]], [[0, 0], [2, 0], [2, 2], [0, 2]]).tolist()
        [True, False]
    """
    return points_in_polygons(points, [polygon])[:, 0]


def crossed_edge(p0: npt.ArrayLike, p1: npt.ArrayLike, polygon: npt.ArrayLike) -> int | None:
    """Index of the polygon edge (points ``i -> i+1``) a step ``p0 -> p1`` crosses first, if any.

    Edge ``i`` runs from vertex ``i`` to vertex ``i + 1`` (the last edge closes the polygon), which
    is the "side" reported by zone enter and exit events.

    Example:
        >>> crossed_edge([5, -5], [5, 5], [[0, 0], [10, 0], [10, 10], [0, 10]])
        0
        >>> crossed_edge([5, 5], [6, 6], [[0, 0], [10, 0], [10, 10], [0, 10]]) is None
        True
    """
    s0 = np.asarray(p0, dtype=np.float64).reshape(1, 2)
    s1 = np.asarray(p1, dtype=np.float64).reshape(1, 2)
    edge = int(crossed_edges(s0, s1, pad_polygons([polygon]))[0])
    return None if edge < 0 else edge


def crossed_edges(p0: npt.ArrayLike, p1: npt.ArrayLike, polygons: Float64Array) -> npt.NDArray[np.int64]:
    """First edge each step ``p0[i] -> p1[i]`` crosses of its polygon ``polygons[i]``, or -1.

    Args:
        p0: ``(m, 2)`` step starts.
        p1: ``(m, 2)`` step ends.
        polygons: ``(m, v, 2)`` padded polygons (see :func:`pad_polygons`), one per step.

    Returns:
        ``(m,)`` edge indices (-1 where no edge is crossed).

    Example:
        >>> square = pad_polygons([[[0, 0], [10, 0], [10, 10], [0, 10]]] * 2)
        >>> crossed_edges([[5, -5], [15, 5]], [[5, 5], [5, 5]], square).tolist()
        [0, 1]
    """
    s0 = np.asarray(p0, dtype=np.float64).reshape(-1, 1, 2)
    s1 = np.asarray(p1, dtype=np.float64).reshape(-1, 1, 2)
    a = np.asarray(polygons, dtype=np.float64)
    b = np.roll(a, -1, axis=1)
    hit = segments_cross(s0, s1, a, b)
    d1 = cross_2d(b - a, s0 - a)
    d2 = cross_2d(b - a, s1 - a)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(hit, d1 / np.where(hit, d1 - d2, 1.0), np.inf)
    first = np.argmin(t, axis=1) if t.shape[0] else np.zeros(0, np.int64)
    out: npt.NDArray[np.int64] = np.where(np.any(hit, axis=1), first, -1).astype(np.int64)
    return out
