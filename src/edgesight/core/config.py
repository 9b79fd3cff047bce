"""The device config: one YAML file, validated into one tree, drives a device (sensor + apps).

Sections live beside their owners' concerns but are all plain pydantic schema here, so loading a
config is pure: no camera is opened and no model is read until the device starts.

Errors name the key path and the value: ``sensor.roi: x + w must be <= 1, got [0.5, 0, 0.6, 1]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edgesight.core.config_analytics import AnalyticsConfig
from edgesight.core.errors import ConfigError
from edgesight.core.frame import OutputMode
from edgesight.core.intrinsics import Tiling

DEFAULT_MODEL = "nanodet-plus-m-416-int8"
"""The zoo model a device runs unless its config names another."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SensorSection(_Strict):
    """What the sensor runs on what, and what leaves it."""

    source: str | None = Field(None, description="video file, image folder, /dev/videoN or stream URL")
    model: str = Field(DEFAULT_MODEL, description="zoo model name or .espkg path")
    roi: tuple[float, float, float, float] | None = Field(
        None, description="region of interest x, y, w, h normalised to the full frame"
    )
    score_threshold: float | None = Field(None, ge=0.0, le=1.0, description="default: the model's")
    iou_threshold: float | None = Field(None, gt=0.0, le=1.0, description="default: the model's")
    max_detections: int | None = Field(None, gt=0, le=1000)
    tiling: Tiling | None = Field(None, description="tiles to run (opt in); default: the model's, else auto")
    auto_tiling: bool = Field(True, description="no tiling set: tile only an ROI much larger than the input (4K)")
    output_mode: OutputMode = OutputMode.METADATA
    image_width: int = Field(320, ge=16, le=4096, description="width of attached images in image modes")
    threads: int = Field(1, ge=1, le=8, description="ONNX Runtime threads")

    @field_validator("roi")
    @classmethod
    def check_roi(cls, roi: tuple[float, float, float, float] | None) -> tuple[float, float, float, float] | None:
        if roi is None:
            return None
        x, y, w, h = roi
        if not (0 <= x < 1 and 0 <= y < 1 and w > 0 and h > 0 and x + w <= 1 + 1e-9 and y + h <= 1 + 1e-9):
            raise ValueError(f"must be x, y, w, h inside 0..1 with x + w <= 1 and y + h <= 1, got {list(roi)}")
        return roi


class DeviceConfig(_Strict):
    """A whole device: identity, sensor and the analytics apps that turn metadata into events.

    Example:
        >>> DeviceConfig.model_validate({"device_id": "cam-1", "sensor": {"roi": [0, 0.2, 1, 0.8]}}).sensor.roi
        (0.0, 0.2, 1.0, 0.8)
    """

    schema_version: int = Field(1, ge=1, le=1)
    device_id: str = Field("edgesight-0", min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    stream_id: str = Field("main", min_length=1, max_length=64)
    sensor: SensorSection = Field(default_factory=SensorSection)
    analytics: AnalyticsConfig = Field(default_factory=AnalyticsConfig)


def config_error_message(exc: ValidationError, source: str) -> str:
    """One line per problem: ``source: key.path: message (got value)``."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "<root>"
        got = err.get("input")
        got_text = "" if isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"{source}: {where}: {err['msg']}{got_text}")
    return "; ".join(lines)


def parse_config(data: Any, source: str = "<config>") -> DeviceConfig:
    """Validate an already-parsed config mapping."""
    try:
        return DeviceConfig.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise ConfigError(config_error_message(exc, source)) from exc


def load_config(path: Path | str) -> DeviceConfig:
    """Read and validate a device config YAML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    return parse_config(data, str(path))
