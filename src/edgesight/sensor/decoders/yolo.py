"""Ultralytics YOLOv8 / YOLO11 ONNX exports: one output ``(1, 4 + classes, anchors)``.

Rows 0..3 are box centre x, centre y, width, height in input pixels; the remaining rows are
per-class scores with the sigmoid already applied (no objectness row). Exports transposed to
``(1, anchors, 4 + classes)`` are accepted too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from edgesight.sensor.decoders.base import Candidates, require

__all__ = ["YoloDecoder"]


class YoloDecoder:
    """Decoder for Ultralytics' detection head layout.

    Example:
        >>> out = np.zeros((1, 4 + 2, 3), np.float32)
        >>> out[0, :4, 1] = [50, 40, 20, 10]; out[0, 5, 1] = 0.9
        >>> c = YoloDecoder({}, num_classes=2)([out], 0.5)
        >>> c.xyxy.tolist(), c.class_ids.tolist()
        ([[40.0, 35.0, 60.0, 45.0]], [1])
    """

    def __init__(self, params: dict[str, Any], num_classes: int) -> None:
        self.num_classes = num_classes

    def check_outputs(self, shapes: list[tuple[int | str | None, ...]]) -> None:
        require(len(shapes) == 1, f"yolo decoder expects 1 output, the network has {len(shapes)}")
        dims = [d for d in shapes[0][1:] if isinstance(d, int)]
        require(
            4 + self.num_classes in dims,
            f"yolo decoder expects an output with {4 + self.num_classes} rows (4 box + {self.num_classes} "
            f"labels), the network's output has shape {list(shapes[0])}",
        )

    def __call__(self, outputs: list[npt.NDArray[np.float32]], score_threshold: float) -> Candidates:
        out = outputs[0][0]
        if out.shape[0] != 4 + self.num_classes:
            out = out.T
        class_scores = out[4:]
        class_ids = class_scores.argmax(axis=0)
        scores = class_scores[class_ids, np.arange(class_scores.shape[1])]
        keep = scores >= score_threshold
        cx, cy, w, h = out[:4, keep]
        xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
        return Candidates(xyxy, scores[keep].astype(np.float32), class_ids[keep].astype(np.int32))
