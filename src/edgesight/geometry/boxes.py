"""Boxes: anchor points and pairwise IoU, pure numpy over ``xyxy`` arrays in pixels.

Boxes are ``(n, 4)`` arrays ``[x1, y1, x2, y2]`` with ``y`` growing downwards (image coordinates).
Results are float64 so that later geometry (sides of lines, homographies) is not limited by float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import numpy as np
import numpy.typing as npt

__all__ = [
    "EDGE_MARGIN",
    "FOOTPRINT_HEIGHT_FRACTION",
    "Anchor",
    "anchor_points",
    "at_frame_edge",
    "box_iou",
    "buffered_iou",
    "rule_anchor_points",
]

Float64Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

EDGE_MARGIN = 0.25
"""A box within this fraction of its own width of the frame's border is at the edge (leaving or entering)."""

FOOTPRINT_HEIGHT_FRACTION = 0.9
"""Where :attr:`Anchor.FOOTPRINT` sits, as a fraction of the box height from its top edge."""


class Anchor(StrEnum):
    """The point of a box that stands for the object in zones, lines and distances.

    ``BOTTOM_CENTER`` is where a standing person or a vehicle touches the ground in an upright
    view; ``FOOTPRINT`` (Azure Spatial Analysis' term) sits at 90 % of the box height, which is
    more stable when the feet are cut off or occluded; ``CENTER`` suits top-down views.
    """

    BOTTOM_CENTER = "bottom_center"
    CENTER = "center"
    FOOTPRINT = "footprint"


def anchor_points(xyxy: npt.ArrayLike, anchor: Anchor) -> Float64Array:
    """Anchor point of each box.

    Args:
        xyxy: ``(n, 4)`` boxes ``[x1, y1, x2, y2]``.
        anchor: which point of the box.

    Returns:
        ``(n, 2)`` float64 points ``[x, y]`` in the boxes' units.

    Example:
        >>> anchor_points([[0, 0, 10, 20]], Anchor.BOTTOM_CENTER).tolist()
        [[5.0, 20.0]]
        >>> anchor_points([[0, 0, 10, 20]], Anchor.FOOTPRINT).tolist()
        [[5.0, 18.0]]
    """
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    out = np.empty((boxes.shape[0], 2), dtype=np.float64)
    out[:, 0] = (boxes[:, 0] + boxes[:, 2]) * 0.5
    if anchor is Anchor.BOTTOM_CENTER:
        out[:, 1] = boxes[:, 3]
    elif anchor is Anchor.CENTER:
        out[:, 1] = (boxes[:, 1] + boxes[:, 3]) * 0.5
    else:
        out[:, 1] = boxes[:, 1] + FOOTPRINT_HEIGHT_FRACTION * (boxes[:, 3] - boxes[:, 1])
    return out


def rule_anchor_points(
    xyxy: npt.ArrayLike, anchors: Sequence[Anchor], frame_size: tuple[int, int]
) -> Float64Array:
    """Anchor points of every box for every rule, normalised to 0..1 by the frame size.

    Each distinct anchor is computed once, however many rules use it.

    Args:
        xyxy: ``(n, 4)`` boxes in pixels.
        anchors: the anchor of each of ``r`` rules.
        frame_size: ``(width, height)`` of the frame in pixels.

    Returns:
        ``(n, r, 2)`` float64 normalised points.

    Example:
        >>> rule_anchor_points([[0, 0, 10, 20]], [Anchor.CENTER, Anchor.BOTTOM_CENTER], (20, 40)).tolist()
        [[[0.25, 0.25], [0.25, 0.5]]]
    """
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    scale = np.array(frame_size, dtype=np.float64)
    kinds = set(anchors)
    if len(kinds) == 1:
        return np.repeat((anchor_points(boxes, anchors[0]) / scale)[:, None, :], len(anchors), axis=1)
    out = np.empty((boxes.shape[0], len(anchors), 2), dtype=np.float64)
    for anchor in kinds:
        idx = [i for i, a in enumerate(anchors) if a is anchor]
        out[:, idx, :] = (anchor_points(boxes, anchor) / scale)[:, None, :]
    return out


def at_frame_edge(xyxy: npt.ArrayLike, frame_size: tuple[int, int]) -> BoolArray:
    """Boxes touching the frame's border, within ``EDGE_MARGIN`` of the box's width.

    A person whose box reaches the border is walking in or out of view: the tracker lets such a
    track expire early, and the counters never stitch one to another track.

    Example:
        >>> at_frame_edge([[2, 100, 42, 190], [300, 100, 340, 190]], (640, 480)).tolist()
        [True, False]
    """
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    margin = EDGE_MARGIN * (boxes[:, 2] - boxes[:, 0])
    w, h = frame_size
    edge: BoolArray = (
        (boxes[:, 0] <= margin) | (boxes[:, 1] <= margin) | (boxes[:, 2] >= w - margin) | (boxes[:, 3] >= h - margin)
    )
    return edge


def box_iou(a: npt.ArrayLike, b: npt.ArrayLike) -> Float64Array:
    """Intersection over union of every box in ``a`` with every box in ``b``.

    Args:
        a: ``(n, 4)`` boxes ``xyxy``.
        b: ``(m, 4)`` boxes ``xyxy``.

    Returns:
        ``(n, m)`` IoU in 0..1 (0 for empty boxes).

    Example:
        >>> box_iou([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]]).round(3).tolist()
        [[1.0, 0.333, 0.0]]
    """
    aa = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    bb = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    return _pairwise_iou(aa[:, None, :], bb[None, :, :])


def buffered_iou(a: npt.ArrayLike, b: npt.ArrayLike, buffer: npt.ArrayLike) -> Float64Array:
    """IoU after widening every box by ``buffer`` of its own width and height on each side.

    The buffered IoU of C-BIoU (Yang et al., WACV 2023): two boxes that no longer overlap, because
    the object moved further than predicted, still do once both are widened. ``buffer`` is per row
    of ``a``, so each track can be widened by its own uncertainty; a pair is widened alike on both
    sides. With ``buffer`` 0 it is :func:`box_iou`.

    Args:
        a: ``(n, 4)`` boxes ``xyxy`` (the predictions).
        b: ``(m, 4)`` boxes ``xyxy`` (the detections).
        buffer: ``(n,)`` fractions of box size, >= 0, or one number for all.

    Returns:
        ``(n, m)`` buffered IoU in 0..1.

    Example:
        >>> a, b = [[0, 0, 10, 10], [0, 0, 10, 10]], [[12, 0, 22, 10]]  # 2 px apart: no overlap
        >>> buffered_iou(a, b, [0.0, 0.5]).round(3).tolist()  # the second is widened by 5 px a side
        [[0.0], [0.25]]
    """
    aa = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    bb = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    grow = np.broadcast_to(np.asarray(buffer, dtype=np.float64), (aa.shape[0],))[:, None, None]
    size_a = np.concatenate([aa[:, 2:] - aa[:, :2]] * 2, axis=1)[:, None, :]  # (n, 1, 4): w h w h
    size_b = np.concatenate([bb[:, 2:] - bb[:, :2]] * 2, axis=1)[None, :, :]  # (1, m, 4)
    sign = np.array([-1.0, -1.0, 1.0, 1.0])
    wide_a = aa[:, None, :] + sign * grow * size_a  # (n, 1, 4)
    wide_b = bb[None, :, :] + sign * grow * size_b  # (n, m, 4): each detection widened per track
    return _pairwise_iou(wide_a, wide_b)


def _pairwise_iou(a: Float64Array, b: Float64Array) -> Float64Array:
    """IoU of ``xyxy`` boxes ``a`` and ``b`` (last axis 4) that broadcast to ``(n, m, 4)``; ``(n, m)``."""
    area_a = np.maximum(a[..., 2] - a[..., 0], 0) * np.maximum(a[..., 3] - a[..., 1], 0)
    area_b = np.maximum(b[..., 2] - b[..., 0], 0) * np.maximum(b[..., 3] - b[..., 1], 0)
    iw = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    ih = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    inter = np.maximum(iw, 0) * np.maximum(ih, 0)
    out: Float64Array = inter / np.maximum(area_a + area_b - inter, 1e-12)
    return out
