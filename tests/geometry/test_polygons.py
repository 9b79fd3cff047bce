"""Polygons of ``geometry.polygons``: containment, problems named, area and crossed edges."""

from __future__ import annotations

import numpy as np
import pytest

from edgesight.geometry import (
    crossed_edge,
    points_in_polygon,
    points_in_polygons,
    polygon_area,
    polygon_problem,
    validate_polygon,
)


def test_point_in_polygon_matches_a_rectangle_test() -> None:
    rng = np.random.default_rng(0)
    pts = rng.uniform(-0.2, 1.2, (2000, 2))
    rect = [[0.1, 0.2], [0.8, 0.2], [0.8, 0.7], [0.1, 0.7]]
    expected = (pts[:, 0] > 0.1) & (pts[:, 0] < 0.8) & (pts[:, 1] > 0.2) & (pts[:, 1] < 0.7)
    assert np.array_equal(points_in_polygon(pts, rect), expected)


def test_points_in_polygons_of_different_sizes() -> None:
    tri = [[0, 0], [4, 0], [0, 4]]
    concave = [[0, 0], [10, 0], [10, 10], [5, 3], [0, 10]]  # a notch from the top
    inside = points_in_polygons([[1, 1], [5, 8], [2, 5]], [tri, concave])
    assert inside.tolist() == [[True, True], [False, False], [False, True]]


@pytest.mark.parametrize(
    ("polygon", "fragment"),
    [
        ([[0, 0], [1, 0]], "needs >= 3 points, got 2"),
        ([[0, 0], [1, 1], [1, 0], [0, 1]], "self-intersecting"),
        ([[0, 0], [1, 0], [1, 0], [0, 1]], "are the same point"),
        ([[0, 0], [1, 0], [2, 0]], "fold back"),
        ([[0, 0], [1e-7, 0], [0, 1e-7]], "zero area"),
    ],
)
def test_polygon_problems_are_named(polygon: list[list[float]], fragment: str) -> None:
    problem = polygon_problem(polygon)
    assert problem is not None and fragment in problem, problem
    with pytest.raises(ValueError, match="polygon"):
        validate_polygon(polygon)


def test_valid_polygon_area_and_crossed_edge() -> None:
    square = [[0, 0], [10, 0], [10, 10], [0, 10]]
    assert polygon_problem(square) is None
    assert polygon_area(square) == 100.0
    assert crossed_edge([15, 5], [5, 5], square) == 1  # enters through the right edge (points 1-2)
    assert crossed_edge([5, 15], [5, 5], square) == 2
