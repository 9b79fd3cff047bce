"""Anchors and box overlap of ``geometry.boxes`` on synthetic boxes."""

from __future__ import annotations

import numpy as np

from edgesight.geometry import Anchor, anchor_points, box_iou, rule_anchor_points


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
