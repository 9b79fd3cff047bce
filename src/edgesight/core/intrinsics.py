"""Network intrinsics: what a model needs around it to run, carried inside its package.

Modelled on the IMX500 package's "network intrinsics" JSON: task, input size and format,
normalisation, the decoder that turns output tensors into detections, default thresholds and the
inference rate. A model is data: nothing about a network is hard-coded in the runtime.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "INTRINSICS_SCHEMA_VERSION",
    "ColorOrder",
    "DecoderSpec",
    "InputSpec",
    "Intrinsics",
    "Layout",
    "ResizeMode",
    "Task",
    "Thresholds",
    "Tiling",
]

INTRINSICS_SCHEMA_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Task(StrEnum):
    DETECTION = "detection"
    CLASSIFICATION = "classification"


class Layout(StrEnum):
    NCHW = "NCHW"
    NHWC = "NHWC"


class ColorOrder(StrEnum):
    RGB = "RGB"
    BGR = "BGR"


class ResizeMode(StrEnum):
    LETTERBOX = "letterbox"
    """Keep the aspect ratio, pad the rest with ``pad_value``."""
    STRETCH = "stretch"
    """Scale each axis on its own to fill the input."""


class InputSpec(_Strict):
    """How a frame becomes the input tensor: ``tensor = (pixel - mean) / std`` per channel."""

    width: int = Field(gt=0, le=4096, description="input width in pixels")
    height: int = Field(gt=0, le=4096, description="input height in pixels")
    layout: Layout = Layout.NCHW
    dtype: Literal["float32", "uint8"] = "float32"
    color: ColorOrder = ColorOrder.RGB
    resize: ResizeMode = ResizeMode.LETTERBOX
    pad_value: int = Field(114, ge=0, le=255, description="pixel value of letterbox padding")
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    @model_validator(mode="after")
    def _check_std(self) -> InputSpec:
        if any(s == 0 for s in self.std):
            raise ValueError(f"input.std must not contain 0, got {list(self.std)}")
        return self


class DecoderSpec(_Strict):
    """Which decoder turns the output tensors into detections, and its parameters."""

    name: Literal["nanodet", "ssd", "yolo", "classification"]
    params: dict[str, Any] = Field(default_factory=dict)


class Thresholds(_Strict):
    """Defaults a device may override in its config."""

    score: float = Field(0.35, ge=0.0, le=1.0)
    iou: float = Field(0.6, gt=0.0, le=1.0)
    max_detections: int = Field(100, gt=0, le=1000)
    top_k: int = Field(5, gt=0, le=100, description="classification: labels reported per frame")


class Tiling(_Strict):
    """Optional default tiling: run the network on overlapping tiles of the ROI as well as on the whole.

    Small objects far from the camera shrink below the network's resolution when a wide frame is
    resized to the input; tiles see them larger. Detections from all passes are merged by NMS.
    """

    rows: int = Field(1, ge=1, le=4)
    cols: int = Field(1, ge=1, le=4)
    overlap: float = Field(0.2, ge=0.0, lt=0.9)
    include_full: bool = True


class Intrinsics(_Strict):
    """The ``intrinsics.json`` of a model package.

    Example:
        >>> i = Intrinsics.model_validate({"task": "detection", "input": {"width": 416, "height": 416},
        ...                                "decoder": {"name": "nanodet"}})
        >>> i.input.resize.value, i.inference_rate
        ('letterbox', 30.0)
    """

    schema_version: Literal[1] = 1
    task: Task
    input: InputSpec
    decoder: DecoderSpec
    thresholds: Thresholds = Field(default_factory=Thresholds)
    tiling: Tiling = Field(default_factory=Tiling)
    inference_rate: float = Field(30.0, gt=0.0, le=240.0, description="inferences per second")
    precision: Literal["fp32", "int8"] = "fp32"
