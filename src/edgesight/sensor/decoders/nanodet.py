"""NanoDet and NanoDet-Plus (anchor-free, GFL head): per stride a score map and a distance map.

Outputs, in order, for each stride ``s`` in ``strides``: class scores with the sigmoid applied,
then box regression with ``4 * bins`` channels (left, top, right, bottom; each side's distance is
the softmax expectation over ``bins`` times ``s``). Two tensor layouts, set by ``layout``:

* ``"cells"`` (NanoDet, TF.js export): ``(1, cells, channels)``, cell ``i`` at row ``i // W``,
  column ``i % W`` with ``W = ceil(input_width / s)``.
* ``"chw"`` (NanoDet-Plus, ncnn export): ``(1, channels, H, W)``, the same cells row by row.

A cell's centre is ``((col + centre_offset) * s, (row + centre_offset) * s)``: NanoDet uses an
offset of 0.5, NanoDet-Plus 0 (it was trained with centres on the grid's corners).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from edgesight.core.errors import ModelLoadError
from edgesight.sensor.decoders.base import Candidates, require

__all__ = ["NanoDetDecoder"]

_LAYOUTS = ("cells", "chw")


class NanoDetDecoder:
    """Decoder for NanoDet's separate score and regression outputs per stride.

    Params: ``strides`` (default ``[8, 16, 32]``), ``bins`` (default 11), ``centre_offset``
    (default 0.5), ``layout`` (``"cells"``, the default, or ``"chw"``).

    Example:
        >>> dec = NanoDetDecoder({"strides": [32], "bins": 2}, num_classes=1, input_size=(64, 64))
        >>> cls = np.zeros((1, 4, 1), np.float32); cls[0, 3, 0] = 0.9   # cell (row 1, col 1)
        >>> reg = np.full((1, 4, 8), -50.0, np.float32); reg[0, 3, 1::2] = 50.0  # every side: bin 1
        >>> dec([cls, reg], 0.5).xyxy.tolist()
        [[16.0, 16.0, 80.0, 80.0]]
        >>> plus = NanoDetDecoder({"strides": [32], "bins": 2, "centre_offset": 0, "layout": "chw"},
        ...                       num_classes=1, input_size=(64, 64))
        >>> plus([cls.reshape(1, 2, 2, 1).transpose(0, 3, 1, 2),
        ...       reg.reshape(1, 2, 2, 8).transpose(0, 3, 1, 2)], 0.5).xyxy.tolist()
        [[0.0, 0.0, 64.0, 64.0]]
    """

    def __init__(self, params: dict[str, Any], num_classes: int, input_size: tuple[int, int]) -> None:
        self.strides = [int(s) for s in params.get("strides", [8, 16, 32])]
        self.bins = int(params.get("bins", 11))
        offset = float(params.get("centre_offset", 0.5))
        self.layout = str(params.get("layout", "cells"))
        if self.layout not in _LAYOUTS:
            raise ModelLoadError(
                f"nanodet decoder param layout must be one of {_LAYOUTS}, got {self.layout!r}"
            )
        self.num_classes = num_classes
        width, height = input_size
        self._grids: list[tuple[int, int]] = []
        self._centres = []
        for s in self.strides:
            cols, rows = -(-width // s), -(-height // s)
            self._grids.append((rows, cols))
            col, row = np.meshgrid(np.arange(cols), np.arange(rows))
            centres = np.stack([(col.ravel() + offset) * s, (row.ravel() + offset) * s], axis=1)
            self._centres.append(centres.astype(np.float32))
        self._bin_index = np.arange(self.bins, dtype=np.float32)

    def check_outputs(self, shapes: list[tuple[int | str | None, ...]]) -> None:
        require(
            len(shapes) == 2 * len(self.strides),
            f"nanodet decoder expects {2 * len(self.strides)} outputs (scores and boxes for strides "
            f"{self.strides}), the network has {len(shapes)}",
        )
        for k, (s, (rows, cols)) in enumerate(zip(self.strides, self._grids, strict=True)):
            cls_shape, reg_shape = shapes[2 * k], shapes[2 * k + 1]
            if self.layout == "cells":
                want_cls, want_reg = [1, rows * cols, self.num_classes], [1, rows * cols, 4 * self.bins]
            else:
                want_cls, want_reg = [1, self.num_classes, rows, cols], [1, 4 * self.bins, rows, cols]
            require(
                list(cls_shape) == want_cls and list(reg_shape) == want_reg,
                f"nanodet stride {s} ({self.layout} layout): expected outputs {want_cls} and {want_reg} "
                f"(labels.txt has {self.num_classes} labels), the network has {list(cls_shape)} and {list(reg_shape)}",
            )

    def __call__(self, outputs: list[npt.NDArray[np.float32]], score_threshold: float) -> Candidates:
        boxes, scores, ids = [], [], []
        chw = self.layout == "chw"
        for k, (s, centres) in enumerate(zip(self.strides, self._centres, strict=True)):
            # Scores as (classes, cells) for "chw" (a free reshape), (cells, classes) for "cells".
            cls = outputs[2 * k][0].reshape(self.num_classes, -1) if chw else outputs[2 * k][0]
            axis = 0 if chw else 1
            best_score = cls.max(axis=axis)
            keep = np.flatnonzero(best_score >= score_threshold)
            if keep.size == 0:
                continue
            # The best class only of the cells kept: an argmax over every cell costs more than the
            # rest of the decoding (numpy copies the class axis last first).
            best = cls[:, keep].argmax(axis=0) if chw else cls[keep].argmax(axis=1)
            reg_out = outputs[2 * k + 1][0]
            picked = reg_out.reshape(4 * self.bins, -1)[:, keep].T if chw else reg_out[keep]
            reg = picked.reshape(-1, 4, self.bins)
            reg = np.exp(reg - reg.max(axis=2, keepdims=True))
            dist = (reg @ self._bin_index) / reg.sum(axis=2) * s
            c = centres[keep]
            boxes.append(np.concatenate([c - dist[:, :2], c + dist[:, 2:]], axis=1))
            scores.append(best_score[keep])
            ids.append(best)
        if not boxes:
            return Candidates.empty()
        return Candidates(
            np.concatenate(boxes).astype(np.float32),
            np.concatenate(scores).astype(np.float32),
            np.concatenate(ids).astype(np.int32),
        )
