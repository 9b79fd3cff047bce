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
) -> npt.NDArray[np.intp]:
    """Indices of the boxes kept by greedy class-aware NMS, best score first.

    Boxes of different classes never suppress each other (offsetting each class into its own
    region of the plane makes one pass do all classes).

    Example:
        >>> b = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10]], np.float32)
        >>> nms(b, np.array([0.9, 0.8, 0.7], np.float32), np.array([0, 0, 1], np.int32), 0.5, 10).tolist()
        [0, 2]
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
        order = rest[box_iou(boxes[best], boxes[rest]) <= iou_threshold]
    return np.asarray(keep, dtype=np.intp)
