"""What every decoder produces and how candidates are filtered: pure numpy, no runtime."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from edgesight.core.errors import ModelLoadError

__all__ = ["Candidates", "Decoder", "require", "sigmoid"]


@dataclass(frozen=True, slots=True)
class Candidates:
    """Decoded boxes before NMS, in input-tensor pixels.

    Attributes:
        xyxy: ``(n, 4)`` float32 boxes in the network's input pixels.
        scores: ``(n,)`` float32 class scores.
        class_ids: ``(n,)`` int32 class indices.
    """

    xyxy: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float32]
    class_ids: npt.NDArray[np.int32]

    @classmethod
    def empty(cls) -> Candidates:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    def __len__(self) -> int:
        return int(self.scores.shape[0])


class Decoder(Protocol):
    """Turns a network's output tensors into candidates. Built once per model package."""

    def check_outputs(self, shapes: list[tuple[int | str | None, ...]]) -> None:
        """Raise ModelLoadError if the network's outputs cannot be what this decoder expects."""

    def __call__(self, outputs: list[npt.NDArray[np.float32]], score_threshold: float) -> Candidates:
        """Decode one inference's outputs, keeping candidates scoring at least ``score_threshold``."""


def require(condition: bool, message: str) -> None:
    """Raise ModelLoadError with ``message`` unless ``condition`` holds (decoders' load checks)."""
    if not condition:
        raise ModelLoadError(message)


def sigmoid(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Logistic function, float32 in and out."""
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float32)
