"""The ``sensor`` section: what the sensor runs on what, and what leaves it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, PlainSerializer, PlainValidator, TypeAdapter, field_validator

from edgesight.core.config.base import Fraction, StrictSection
from edgesight.core.errors import ConfigError
from edgesight.core.frame import OutputMode
from edgesight.core.intrinsics import Thresholds, Tiling
from edgesight.core.region import Region

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_NMS_DEPTH_GAP",
    "MAX_SOURCE_CHARS",
    "Deblocking",
    "RegionField",
    "Runtime",
    "SensorSection",
    "check_source",
]

DEFAULT_MODEL = "nanodet-plus-m-416-int8"
"""The zoo model a device runs unless its config names another, except on a CPU where the float
network runs faster in bfloat16 (see :func:`edgesight.sensor.runtime_policy.default_model`)."""

Runtime = Literal["auto", "onnxruntime", "openvino"]
"""``sensor.runtime``: what runs the network. ``auto`` picks OpenVINO for a float network on a CPU
that computes bfloat16 natively (Intel AMX, AMD Zen 4's AVX-512 BF16; where OpenVINO is installed),
ONNX Runtime otherwise (see
:mod:`edgesight.sensor.runtime_policy`)."""

DEFAULT_NMS_DEPTH_GAP = 0.1
"""``sensor.nms_depth_gap``: below the model's own score, NMS keeps a box whose bottom edge is more
than this fraction of the box height from the suppressing box's (a person in front or behind).
On vtest.avi at score 0.2 (bench/tracking_accuracy.py): MOTA 0.878 -> 0.881, IDF1 0.827 -> 0.857,
17 id switches either way; 0.08-0.12 do about as well, 0.15 no longer helps. At or above the
model's score threshold the output is plain NMS, so a device at the model's defaults sees no
change (see BENCHMARKS.md, round 4)."""

Deblocking = Literal["auto", "on", "off"]
"""``sensor.deblocking``: whether H.264/HEVC decoders run their deblocking filter; ``auto`` skips it
only where the network cannot see it (see :mod:`edgesight.sensor.deblocking_policy`)."""

MAX_SOURCE_CHARS = 1024
"""Longest ``sensor.source`` (a path or URL): longer ones are refused here, not by the OS."""

_MAX_NAME_BYTES = 255
"""Longest file name (one path component) a Linux file system accepts (NAME_MAX)."""


def check_source(source: str) -> str:
    """A source path or URL the OS can open: at most :data:`MAX_SOURCE_CHARS` characters, and no
    component longer than a file name may be (else ``open`` fails with "File name too long").

    Example:
        >>> check_source("data/vtest.avi")
        'data/vtest.avi'
        >>> check_source("data/" + "a" * 300)
        Traceback (most recent call last):
        ...
        ValueError: a path component is 300 bytes long, at most 255 are allowed
    """
    if len(source) > MAX_SOURCE_CHARS:
        raise ValueError(f"at most {MAX_SOURCE_CHARS} characters are allowed, got {len(source)}")
    longest = max((len(part.encode()) for part in source.split("/")), default=0)
    if longest > _MAX_NAME_BYTES:
        raise ValueError(f"a path component is {longest} bytes long, at most {_MAX_NAME_BYTES} are allowed")
    return source


_XYWH = TypeAdapter(tuple[float, float, float, float])


def _region(value: Any) -> Region:
    """A :class:`Region` from ``[x, y, w, h]``; the message names the whole value."""
    if isinstance(value, Region):
        return value
    xywh = _XYWH.validate_python(value)  # four numbers, or pydantic's own error
    x, y, w, h = xywh
    if not (0 <= x < 1 and 0 <= y < 1 and w > 0 and h > 0 and x + w <= 1 + 1e-9 and y + h <= 1 + 1e-9):
        raise ValueError(f"must be x, y, w, h inside 0..1 with x + w <= 1 and y + h <= 1, got {list(xywh)}")
    try:
        return Region(*xywh)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


RegionField = Annotated[
    Region,
    PlainValidator(_region, json_schema_input_type=tuple[float, float, float, float]),
    PlainSerializer(lambda r: list(r.as_tuple()), return_type=list[float]),
]
"""A :class:`~edgesight.core.region.Region` written ``[x, y, w, h]`` in a config (and dumped so)."""


class SensorSection(StrictSection):
    """What the sensor runs on what, and what leaves it.

    Example:
        >>> s = SensorSection.model_validate({"roi": [0, 0.2, 1, 0.8], "score_threshold": 0.4})
        >>> s.roi
        Region(x=0.0, y=0.2, w=1.0, h=0.8)
        >>> s.model_dump(mode="json")["roi"]
        [0.0, 0.2, 1.0, 0.8]
    """

    source: str | None = Field(
        None, min_length=1, description="video file, image folder, /dev/videoN or stream URL"
    )
    model: str | None = Field(
        None,
        description="zoo model name or .espkg path; default: nanodet-plus-m-416-int8, or its float twin "
        "where runtime auto runs float in bfloat16 (`edgesight models` marks it)",
    )
    runtime: Runtime = Field(
        "auto",
        description="auto (OpenVINO bfloat16 for float networks on AMX or AMD AVX-512 BF16 CPUs, "
        "else ONNX Runtime), onnxruntime, openvino",
    )
    roi: RegionField | None = Field(
        None, description="region of interest x, y, w, h normalised to the full frame"
    )
    score_threshold: Fraction | None = Field(None, description="default: the model's")
    iou_threshold: float | None = Field(None, gt=0.0, le=1.0, description="default: the model's")
    max_detections: int | None = Field(None, gt=0, le=1000)
    nms_depth_gap: Fraction = Field(
        DEFAULT_NMS_DEPTH_GAP,
        description="boxes below the model's score survive NMS when their bottom edges differ by this "
        "fraction of the height (people in depth); 0: plain NMS",
    )
    tiling: Tiling | None = Field(None, description="tiles to run (opt in); default: the model's, else auto")
    auto_tiling: bool = Field(True, description="no tiling set: tile only an ROI much larger than the input (4K)")
    deblocking: Deblocking = Field(
        "auto",
        description="decoder's deblocking filter: auto skips it when the network sees the frame shrunk "
        ">= 4x and no one sees frames (4K), on, off",
    )
    output_mode: OutputMode = OutputMode.METADATA
    image_width: int = Field(320, ge=16, le=4096, description="width of attached images in image modes")
    threads: int = Field(1, ge=1, le=8, description="inference threads per session")

    @field_validator("source", "model")
    @classmethod
    def _check_source(cls, value: str | None) -> str | None:
        return None if value is None else check_source(value)

    @field_validator("deblocking", mode="before")
    @classmethod
    def _on_off(cls, value: Any) -> Any:
        """YAML reads a bare ``on``/``off`` as a boolean: take it as the word that was written."""
        if isinstance(value, bool):
            return "on" if value else "off"
        return value

    def thresholds(self, defaults: Thresholds) -> Thresholds | None:
        """The model's ``defaults`` with this section's overrides, None when it overrides nothing.

        Example:
            >>> d = Thresholds(score=0.3, iou=0.6, max_detections=100)
            >>> SensorSection(score_threshold=0.5).thresholds(d).score, SensorSection().thresholds(d)
            (0.5, None)
        """
        overrides = {
            key: value
            for key, value in (
                ("score", self.score_threshold),
                ("iou", self.iou_threshold),
                ("max_detections", self.max_detections),
            )
            if value is not None
        }
        return defaults.model_copy(update=overrides) if overrides else None
