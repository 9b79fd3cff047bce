"""Anchors, lines, polygons: pure geometry on synthetic shapes."""

from __future__ import annotations

import numpy as np
import pytest

from edgesight.geometry import (
    Anchor,
    anchor_points,
    box_iou,
    crossed_edge,
    line_sides,
    points_in_polygon,
    points_in_polygons,
    polygon_area,
    polygon_problem,
    rule_anchor_points,
    segments_cross,
    segments_intersect,
    validate_polygon,
)


def test_anchor_points_of_each_kind() -> None:
    boxes = np.array([[10, 20, 30, 120]], dtype=np.float32)
    assert anchor_points(boxes, Anchor.BOTTOM_CENTER).tolist() == [[20.0, 120.0]]
    assert anchor_points(boxes, Anchor.CENTER).tolist() == [[20.0, 70.0]]
    assert anchor_points(boxes, Anchor.FOOTPRINT).tolist() == [[20.0, 110.0]]


def test_rule_anchor_points_normalises_per_rule() -> None:
    pts = rule_anchor_points([[0, 0, 100, 50]], [Anchor.CENTER, Anchor.BOTTOM_CENTER, Anchor.CENTER], (200, 100))
    assert pts.shape == (1, 3, 2)
    assert pts[0].tolist() == [[0.25, 0.25], [0.25, 0.5], [0.25, 0.25]]


def test_box_iou_is_symmetric_and_bounded() -> None:
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 100, (20, 2))
    boxes = np.c_[xy, xy + rng.uniform(1, 30, (20, 2))]
    iou = box_iou(boxes, boxes)
    assert np.allclose(iou, iou.T)
    assert np.allclose(np.diag(iou), 1.0)
    assert iou.min() >= 0 and iou.max() <= 1 + 1e-12


def test_line_sides_follow_the_screen_convention() -> None:
    # line drawn left to right: below it (larger y) is the right side when looking start -> end
    sides = line_sides([[50, 90], [50, 10]], [[0, 50]], [[100, 50]])
    assert sides[:, 0].tolist() == [1, -1]


def test_motion_step_must_cross_the_segment_not_the_infinite_line() -> None:
    a, b = np.array([40.0, 50.0]), np.array([60.0, 50.0])
    p0 = np.array([[50, 40], [10, 40], [50, 40]], dtype=float)
    p1 = np.array([[50, 60], [10, 60], [50, 45]], dtype=float)
    assert segments_cross(p0, p1, a, b).tolist() == [True, False, False]


def test_segments_intersect_touching_and_collinear() -> None:
    assert segments_intersect([0, 0], [2, 0], [2, 0], [3, 1])  # touching end points
    assert segments_intersect([0, 0], [2, 0], [1, 0], [3, 0])  # collinear overlap
    assert not segments_intersect([0, 0], [1, 1], [2, 2], [3, 3])


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
