"""`FrameMeta`: the per-frame metadata record a sensor sends instead of the frame.

Schema ``edgesight.frame/1`` (documented in docs/schema.md). Boxes stay in source-frame pixels in
memory; serialisation normalises them to 0..1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from edgesight.core.detections import Detections

__all__ = ["FRAME_SCHEMA", "FrameMeta", "ImageAttachment", "Kpi", "ModelRef", "OutputMode"]

FRAME_SCHEMA = "edgesight.frame/1"


class OutputMode(StrEnum):
    """What leaves the sensor, as the IMX500's modes: metadata only unless a user opts in."""

    METADATA = "metadata"
    METADATA_ROI_IMAGE = "metadata+roi-image"
    FULL_IMAGE = "metadata+full-image"


@dataclass(frozen=True, slots=True)
class Kpi:
    """Per-frame timings in milliseconds, as the IMX500 reports DSP and DNN time."""

    isp_ms: float = 0.0
    dnn_ms: float = 0.0
    post_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class ModelRef:
    """Which network produced the detections."""

    id: str
    version: str


@dataclass(frozen=True, slots=True)
class ImageAttachment:
    """An image that leaves the sensor only in an opted-in output mode.

    Attributes:
        kind: ``"roi"`` (low-resolution crop of the region of interest) or ``"full"``.
        jpeg: JPEG bytes.
        size: ``(width, height)`` of the encoded image in pixels.
    """

    kind: str
    jpeg: bytes
    size: tuple[int, int]


@dataclass(frozen=True, slots=True)
class FrameMeta:
    """Everything the sensor says about one frame.

    Attributes:
        device_id: the device that saw the frame.
        stream_id: the source on that device (a device may have several).
        seq: per-device sequence number of this record, gapless, for loss detection downstream.
        frame_index: 0-based index of the frame in decode order.
        timestamp: capture time, Unix seconds (UTC).
        model: the network that produced ``detections``.
        frame_size: ``(width, height)`` of the source frame in pixels.
        detections: what was found, boxes in source-frame pixels.
        kpi: timings of this frame.
        image: an opt-in image attachment, None in the default metadata-only mode.

    Example:
        >>> m = FrameMeta("cam1", "main", 0, 0, 1.7e9, ModelRef("nanodet-coco", "1.0.0"), (768, 576),
        ...               Detections.empty())
        >>> m.frame_size
        (768, 576)
    """

    device_id: str
    stream_id: str
    seq: int
    frame_index: int
    timestamp: float
    model: ModelRef
    frame_size: tuple[int, int]
    detections: Detections
    kpi: Kpi = field(default_factory=Kpi)
    image: ImageAttachment | None = None
