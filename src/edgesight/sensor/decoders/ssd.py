"""Anchor-based SSD (TensorFlow Object Detection API layout): box encodings + per-anchor scores.

Outputs: ``box_encodings (1, anchors, 4)`` as ``(ty, tx, th, tw)`` and ``scores (1, anchors,
classes + 1)`` with the sigmoid applied and column 0 the background. Anchors ship in the package
as ``anchors.npy``: ``(anchors, 4)`` float32 ``(ycenter, xcenter, h, w)`` normalised to the input.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from edgesight.core.errors import ModelLoadError
from edgesight.sensor.decoders.base import Candidates, require

__all__ = ["SsdDecoder"]


class SsdDecoder:
    """Standard SSD box coder with scale factors (default 10, 10, 5, 5).

    Params: ``anchors`` (package member name, default ``anchors.npy``), ``scale_factors``,
    ``background`` (bool, default True: scores column 0 is background).

    Example:
        >>> anchors = np.array([[0.5, 0.5, 0.2, 0.1]], np.float32)
        >>> buf = io.BytesIO(); np.save(buf, anchors)
        >>> dec = SsdDecoder({}, num_classes=1, input_size=(100, 100), extras={"anchors.npy": buf.getvalue()})
        >>> out = dec([np.zeros((1, 1, 4), np.float32), np.array([[[0.1, 0.9]]], np.float32)], 0.5)
        >>> out.xyxy.round(1).tolist()
        [[45.0, 40.0, 55.0, 60.0]]
    """

    def __init__(
        self,
        params: dict[str, Any],
        num_classes: int,
        input_size: tuple[int, int],
        extras: Mapping[str, bytes],
    ) -> None:
        name = str(params.get("anchors", "anchors.npy"))
        if name not in extras:
            raise ModelLoadError(f"ssd decoder needs {name} in the model package")
        try:
            anchors = np.load(io.BytesIO(extras[name]), allow_pickle=False).astype(np.float32)
        except ValueError as exc:
            raise ModelLoadError(f"ssd decoder: {name} is not a numpy array file ({exc})") from exc
        require(
            anchors.ndim == 2 and anchors.shape[1] == 4, f"{name} must have shape (n, 4), got {anchors.shape}"
        )
        self.anchors = anchors
        self.scale = np.asarray(params.get("scale_factors", [10.0, 10.0, 5.0, 5.0]), dtype=np.float32)
        self.background = bool(params.get("background", True))
        self.num_classes = num_classes
        self.size = np.asarray([input_size[0], input_size[1], input_size[0], input_size[1]], dtype=np.float32)

    def check_outputs(self, shapes: list[tuple[int | str | None, ...]]) -> None:
        n = len(self.anchors)
        columns = self.num_classes + (1 if self.background else 0)
        require(
            len(shapes) == 2, f"ssd decoder expects 2 outputs (boxes, scores), the network has {len(shapes)}"
        )
        require(
            list(shapes[0]) == [1, n, 4] and list(shapes[1]) == [1, n, columns],
            f"ssd decoder expects outputs [1, {n}, 4] and [1, {n}, {columns}] ({n} anchors, "
            f"{self.num_classes} labels), the network has {list(shapes[0])} and {list(shapes[1])}",
        )

    def __call__(self, outputs: list[npt.NDArray[np.float32]], score_threshold: float) -> Candidates:
        scores = outputs[1][0]
        if self.background:
            scores = scores[:, 1:]
        best = scores.argmax(axis=1)
        best_score = scores[np.arange(len(best)), best]
        keep = np.flatnonzero(best_score >= score_threshold)
        if keep.size == 0:
            return Candidates.empty()
        t = outputs[0][0][keep] / self.scale
        a = self.anchors[keep]
        yc = t[:, 0] * a[:, 2] + a[:, 0]
        xc = t[:, 1] * a[:, 3] + a[:, 1]
        h = np.exp(t[:, 2]) * a[:, 2]
        w = np.exp(t[:, 3]) * a[:, 3]
        xyxy = np.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], axis=1) * self.size
        return Candidates(
            xyxy.astype(np.float32), best_score[keep].astype(np.float32), best[keep].astype(np.int32)
        )
