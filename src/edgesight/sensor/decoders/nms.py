"""Non-maximum suppression, class-aware, vectorised per kept box."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["nms"]


def box_iou(box: npt.NDArray[np.float32], boxes: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """IoU of one ``xyxy`` box against ``(n, 4)`` boxes.

    Example:
        >>> box_iou(np.array([0, 0, 2, 2], np.float32), np.array([[1, 0, 3, 2]], np.float32)).round(3)
        array([0.333], dtype=float32)
    """
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return np.asarray(inter / np.maximum(area + areas - inter, 1e-9), dtype=np.float32)


def nms(
    xyxy: npt.NDArray[np.float32],
    scores: npt.NDArray[np.float32],
    class_ids: npt.NDArray[np.int32],
    iou_threshold: float,
    max_detections: int,
    depth_gap: float = 0.0,
    depth_below: float = 0.0,
) -> npt.NDArray[np.intp]:
    """Indices of the boxes kept by greedy class-aware NMS, best score first.

    Boxes of different classes never suppress each other (offsetting each class into its own
    region of the plane makes one pass do all classes).

    Depth rule: a box scoring below ``depth_below`` is not suppressed by a kept box whose bottom
    edge lies more than ``depth_gap`` times the taller box's height above or below its own. Two
    people one behind the other overlap heavily, but their feet stand at different image heights;
    a re-drawn box of the same person ends where that person's feet are. Keeping only low-score
    boxes this way leaves every box at or above ``depth_below`` (a model's own threshold) as plain
    NMS has it, and gives a tracker's low-score stage the farther person's box. ``depth_gap`` 0
    (the default) is plain NMS.

    Example:
        >>> b = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10]], np.float32)
        >>> nms(b, np.array([0.9, 0.8, 0.7], np.float32), np.array([0, 0, 1], np.int32), 0.5, 10).tolist()
        [0, 2]
        >>> front_behind = np.array([[0, 0, 10, 40], [0, 0, 10, 34]], np.float32)  # feet 6 px apart
        >>> s, c = np.array([0.8, 0.3], np.float32), np.zeros(2, np.int32)
        >>> nms(front_behind, s, c, 0.6, 10).tolist(), nms(front_behind, s, c, 0.6, 10, 0.1, 0.45).tolist()
        ([0], [0, 1])
    """
    if len(scores) == 0:
        return np.zeros(0, dtype=np.intp)
    offset = class_ids.astype(np.float32)[:, None] * (float(xyxy.max()) + 1.0)
    boxes = xyxy + offset
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < max_detections:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        suppressed = box_iou(boxes[best], boxes[rest]) > iou_threshold
        if depth_gap > 0.0:
            height = np.maximum(boxes[best, 3] - boxes[best, 1], boxes[rest, 3] - boxes[rest, 1])
            apart = np.abs(boxes[rest, 3] - boxes[best, 3]) > depth_gap * height
            suppressed &= ~(apart & (scores[rest] < depth_below))
        order = rest[~suppressed]
    return np.asarray(keep, dtype=np.intp)
