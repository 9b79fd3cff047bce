"""The ``analytics.distance`` and ``analytics.speed`` sections: measures on the floor (need calibration)."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator, model_validator

from edgesight.core.config.base import ClassList, IntervalSeconds, Name, StrictSection
from edgesight.core.config.labels import check_known_classes
from edgesight.core.events import Trigger
from edgesight.geometry.boxes import Anchor

__all__ = ["DistanceConfig", "SpeedConfig", "check_distance_range"]


def check_distance_range(cfg: DistanceConfig) -> None:
    """``max_m``, when set, is above ``min_m``."""
    if cfg.max_m is not None and cfg.max_m <= cfg.min_m:
        raise ValueError(f"max_m={cfg.max_m} must be > min_m={cfg.min_m}")


class DistanceConfig(StrictSection):
    """Distances on the floor between two groups of classes (Azure's person distance)."""

    name: Name = Field("distance", description="the event's rule")
    classes_a: ClassList = Field(default_factory=lambda: ["person"], min_length=1, description="first group")
    classes_b: ClassList = Field(default_factory=lambda: ["person"], min_length=1, description="second group")
    min_m: float = Field(1.5, ge=0.0, le=1000.0, description="pairs closer than this are TooClose")
    max_m: float | None = Field(None, gt=0.0, le=10000.0, description="pairs farther than this are TooFar")
    anchor: Anchor = Field(Anchor.FOOTPRINT, description="point of a box projected to the floor")
    trigger: Trigger = Field(Trigger.EVENT, description="on change of violating pairs, or every interval_s")
    interval_s: IntervalSeconds = Field(1.0, description="period of interval events")

    @field_validator("classes_a", "classes_b")
    @classmethod
    def check_classes(cls, classes: list[str], info: ValidationInfo) -> list[str]:
        return check_known_classes(classes, info)

    @model_validator(mode="after")
    def _check(self) -> DistanceConfig:
        check_distance_range(self)
        return self


class SpeedConfig(StrictSection):
    """Ground speed per track in m/s (needs calibration)."""

    name: Name = Field("speed", description="the event's rule")
    classes: ClassList = Field(default_factory=list, description="class names measured; empty = all")
    anchor: Anchor = Field(Anchor.BOTTOM_CENTER, description="point of a box projected to the floor")
    window_s: float = Field(1.0, gt=0.0, le=60.0, description="speeds are the fitted slope over this window")
    report_interval_s: IntervalSeconds = Field(1.0, description="period of speed events per track")
    min_mps: float = Field(0.0, ge=0.0, le=1000.0, description="report only tracks at least this fast")

    @field_validator("classes")
    @classmethod
    def check_classes(cls, classes: list[str], info: ValidationInfo) -> list[str]:
        return check_known_classes(classes, info)
