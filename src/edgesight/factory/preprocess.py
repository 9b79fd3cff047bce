"""Images to input tensors exactly as the sensor's ISP makes them, so training sees what inference sees.

The factory may not import the sensor, so the ISP's geometry (letterbox centred, content size
rounded, ``INTER_AREA`` when shrinking) is restated here for still images; a test checks that both
give the same tensor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edgesight.core.intrinsics import ColorOrder, InputSpec, Layout, ResizeMode
from edgesight.factory.datasets import DatasetError

__all__ = ["Letterbox", "read_bgr", "to_tensor"]


@dataclass(frozen=True)
class Letterbox:
    """Where an image landed in the input: ``input = image * scale + pad``."""

    scale_x: float
    scale_y: float
    pad_x: int
    pad_y: int

    def to_input(self, xyxy: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Image pixels to input pixels.

        Example:
            >>> Letterbox(0.5, 0.5, 0, 10).to_input(np.array([[0, 0, 100, 50]], np.float32)).tolist()
            [[0.0, 10.0, 50.0, 35.0]]
        """
        scale = np.array([self.scale_x, self.scale_y] * 2, np.float32)
        pad = np.array([self.pad_x, self.pad_y] * 2, np.float32)
        return (xyxy * scale + pad).astype(np.float32)

    def to_image(self, xyxy: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Input pixels back to image pixels (the inverse of :meth:`to_input`)."""
        scale = np.array([self.scale_x, self.scale_y] * 2, np.float32)
        pad = np.array([self.pad_x, self.pad_y] * 2, np.float32)
        return ((xyxy - pad) / scale).astype(np.float32)


def read_bgr(path: Path) -> npt.NDArray[np.uint8]:
    """An image file as BGR pixels; :class:`DatasetError` if it cannot be read."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"{path}: not a readable image")
    return image.astype(np.uint8)


def to_tensor(bgr: npt.NDArray[np.uint8], spec: InputSpec) -> tuple[npt.NDArray[np.float32], Letterbox]:
    """The network input for a BGR image, and where the image landed in it.

    Example:
        >>> spec = InputSpec(width=8, height=8, std=(255.0, 255.0, 255.0))
        >>> tensor, box = to_tensor(np.full((16, 32, 3), 255, np.uint8), spec)
        >>> tensor.shape, float(tensor[0, 0, 4, 4]), box
        ((1, 3, 8, 8), 1.0, Letterbox(scale_x=0.25, scale_y=0.25, pad_x=0, pad_y=2))
    """
    height, width = bgr.shape[:2]
    if spec.resize is ResizeMode.STRETCH:
        content_w, content_h = spec.width, spec.height
    else:
        scale = min(spec.width / width, spec.height / height)
        content_w = min(spec.width, max(1, round(width * scale)))
        content_h = min(spec.height, max(1, round(height * scale)))
    pad_x, pad_y = (spec.width - content_w) // 2, (spec.height - content_h) // 2
    shrink = content_w < width or content_h < height
    resized = cv2.resize(bgr, (content_w, content_h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    if spec.color is ColorOrder.RGB:
        resized = resized[:, :, ::-1]
    canvas = np.full((spec.height, spec.width, 3), spec.pad_value, np.float32)
    canvas[pad_y : pad_y + content_h, pad_x : pad_x + content_w] = resized
    normalised = (canvas - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    tensor = normalised.transpose(2, 0, 1)[None] if spec.layout is Layout.NCHW else normalised[None]
    letterbox = Letterbox(content_w / width, content_h / height, pad_x, pad_y)
    return np.ascontiguousarray(tensor, dtype=np.float32), letterbox
