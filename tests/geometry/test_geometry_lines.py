"""Sides and crossings of ``geometry.lines`` on synthetic segments."""

from __future__ import annotations

import numpy as np

from edgesight.geometry import line_sides, segments_cross, segments_intersect


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
