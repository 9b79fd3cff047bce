"""Classification networks: one output ``(1, classes)`` of logits or probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from edgesight.sensor.decoders.base import Candidates, require

__all__ = ["ClassificationDecoder"]


class ClassificationDecoder:
    """Top-k labels of the whole input, reported as boxes covering the input.

    Params: ``softmax`` (bool, default True) applies a softmax to logits first; ``top_k``
    (default 5).

    Example:
        >>> dec = ClassificationDecoder({"softmax": False, "top_k": 2}, num_classes=3, input_size=(8, 8))
        >>> dec([np.array([[0.1, 0.7, 0.2]], np.float32)], 0.0).class_ids.tolist()
        [1, 2]
    """

    def __init__(self, params: dict[str, Any], num_classes: int, input_size: tuple[int, int]) -> None:
        self.num_classes = num_classes
        self.softmax = bool(params.get("softmax", True))
        self.top_k = int(params.get("top_k", 5))
        self.whole = np.array([0, 0, input_size[0], input_size[1]], dtype=np.float32)

    def check_outputs(self, shapes: list[tuple[int | str | None, ...]]) -> None:
        require(len(shapes) == 1, f"classification decoder expects 1 output, the network has {len(shapes)}")
        require(
            shapes[0][-1] == self.num_classes,
            f"classification output has {shapes[0][-1]} classes but labels.txt has {self.num_classes}",
        )

    def __call__(self, outputs: list[npt.NDArray[np.float32]], score_threshold: float) -> Candidates:
        logits = outputs[0].reshape(-1).astype(np.float32)
        if self.softmax:
            e = np.exp(logits - logits.max())
            logits = e / e.sum()
        order = np.argsort(-logits)[: self.top_k]
        order = order[logits[order] >= score_threshold]
        xyxy = np.repeat(self.whole[None, :], len(order), axis=0)
        return Candidates(xyxy, logits[order].astype(np.float32), order.astype(np.int32))
