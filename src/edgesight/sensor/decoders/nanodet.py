"""NanoDet (anchor-free, GFL head): per stride a score map and a distance-distribution map.

Outputs, in order, for each stride ``s`` in ``strides``: class scores ``(1, cells, classes)`` with
the sigmoid applied, then box regression ``(1, cells, 4 * bins)``. Cell ``i`` of a stride sits at
``((i % W) + 0.5) * s, ((i // W) + 0.5) * s`` with ``W = input_width / s``; each side's distance
(left, top, right, bottom) is the softmax expectation over ``bins`` times ``s``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from edgesight.sensor.decoders.base import Candidates, require


class NanoDetDecoder:
    """Decoder for NanoDet's separate score and regression outputs per stride.

    Params: ``strides`` (default ``[8, 16, 32]``), ``bins`` (default 11).

    Example:
        >>> dec = NanoDetDecoder({"strides": [32], "bins": 2}, num_classes=1, input_size=(64, 64))
        >>> cls = np.zeros((1, 4, 1), np.float32); cls[0, 3, 0] = 0.9   # cell (row 1, col 1)
        >>> reg = np.full((1, 4, 8), -50.0, np.float32); reg[0, 3, 1::2] = 50.0  # every side: bin 1
        >>> dec([cls, reg], 0.5).xyxy.tolist()
        [[16.0, 16.0, 80.0, 80.0]]
    """

    def __init__(self, params: dict[str, Any], num_classes: int, input_size: tuple[int, int]) -> None:
        self.strides = [int(s) for s in params.get("strides", [8, 16, 32])]
        self.bins = int(params.get("bins", 11))
        self.num_classes = num_classes
        width, height = input_size
        self._centres = []
        for s in self.strides:
            cols, rows = -(-width // s), -(-height // s)
            col, row = np.meshgrid(np.arange(cols), np.arange(rows))
            centres = np.stack([(col.ravel() + 0.5) * s, (row.ravel() + 0.5) * s], axis=1)
            self._centres.append(centres.astype(np.float32))
        self._bin_index = np.arange(self.bins, dtype=np.float32)

    def check_outputs(self, shapes: list[tuple[int | str | None, ...]]) -> None:
        require(
            len(shapes) == 2 * len(self.strides),
            f"nanodet decoder expects {2 * len(self.strides)} outputs (scores and boxes for strides "
            f"{self.strides}), the network has {len(shapes)}",
        )
        for k, (s, centres) in enumerate(zip(self.strides, self._centres, strict=True)):
            cls_shape, reg_shape = shapes[2 * k], shapes[2 * k + 1]
            want_cls, want_reg = [1, len(centres), self.num_classes], [1, len(centres), 4 * self.bins]
            require(
                list(cls_shape) == want_cls and list(reg_shape) == want_reg,
                f"nanodet stride {s}: expected outputs {want_cls} and {want_reg} "
                f"(labels.txt has {self.num_classes} labels), the network has {list(cls_shape)} and {list(reg_shape)}",
            )

    def __call__(self, outputs: list[npt.NDArray[np.float32]], score_threshold: float) -> Candidates:
        boxes, scores, ids = [], [], []
        for k, (s, centres) in enumerate(zip(self.strides, self._centres, strict=True)):
            cls = outputs[2 * k][0]
            best = cls.argmax(axis=1)
            best_score = cls[np.arange(len(best)), best]
            keep = np.flatnonzero(best_score >= score_threshold)
            if keep.size == 0:
                continue
            reg = outputs[2 * k + 1][0][keep].reshape(-1, 4, self.bins)
            reg = np.exp(reg - reg.max(axis=2, keepdims=True))
            dist = (reg @ self._bin_index) / reg.sum(axis=2) * s
            c = centres[keep]
            boxes.append(np.concatenate([c - dist[:, :2], c + dist[:, 2:]], axis=1))
            scores.append(best_score[keep])
            ids.append(best[keep])
        if not boxes:
            return Candidates.empty()
        return Candidates(
            np.concatenate(boxes).astype(np.float32),
            np.concatenate(scores).astype(np.float32),
            np.concatenate(ids).astype(np.int32),
        )
