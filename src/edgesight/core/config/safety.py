"""The ``analytics.apps.safety`` section: danger zones and person-vehicle proximity rules."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, field_validator, model_validator

from edgesight.core.config.base import ClassList, HourSeconds, Name, PositiveFraction, StrictSection
from edgesight.core.config.checks import check_unique_names
from edgesight.core.config.zones import ZoneRef, check_zone_ref
from edgesight.geometry.boxes import Anchor

__all__ = [
    "DangerZoneConfig",
    "ProximityConfig",
    "SafetyAppConfig",
    "Severity",
    "check_danger_zone_can_fire",
    "check_proximity_threshold",
    "check_safety_rules",
]


class Severity(StrEnum):
    """How bad a hazard is, for routing alerts (a siren for critical, a log line for low)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class _HazardRule(StrictSection):
    name: Name = Field(description="the rule's name, the rule of its hazard events")
    severity: Severity = Field(Severity.HIGH, description="low, medium, high or critical")
    min_frames: int = Field(
        1,
        ge=1,
        le=300,
        description="consecutive observed frames in violation before the alert (1 = same frame)",
    )
    cooldown_s: HourSeconds = Field(
        5.0,
        description="the hazard stays raised this long after the last violation; a relapse within it "
        "continues the same hazard, so alerts per (rule, track) are at least this far apart",
    )


def check_danger_zone_can_fire(cfg: DangerZoneConfig) -> None:
    """A danger zone whose every checked class is allowed could never raise a hazard."""
    if cfg.classes and set(cfg.classes) <= set(cfg.allowed_classes):
        raise ValueError(
            f"danger zone {cfg.name!r}: every checked class {cfg.classes} is allowed, so it can never fire"
        )


class DangerZoneConfig(_HazardRule):
    """A zone that must stay empty, or where only some classes may be (a forklift lane)."""

    zone: ZoneRef = Field(description="a zone name, or the rule's own polygon [[x, y], ...] normalised 0..1")
    allowed_classes: ClassList = Field(
        default_factory=list, description="classes allowed inside; empty = none"
    )
    classes: ClassList = Field(default_factory=list, description="classes checked; empty = every class")
    anchor: Anchor = Field(Anchor.BOTTOM_CENTER, description="point of a box tested against the zone")

    @field_validator("zone")
    @classmethod
    def check_zone(cls, zone: ZoneRef) -> ZoneRef:
        return check_zone_ref(zone)

    @model_validator(mode="after")
    def _check(self) -> DangerZoneConfig:
        check_danger_zone_can_fire(self)
        return self


def check_proximity_threshold(cfg: ProximityConfig) -> None:
    """Exactly one of ``min_m`` (metres) and ``min_px_fraction`` (image distance)."""
    if (cfg.min_m is None) == (cfg.min_px_fraction is None):
        got = "both" if cfg.min_m is not None else "neither"
        raise ValueError(
            f"proximity {cfg.name!r}: set exactly one of min_m (metres, needs calibration) and "
            f"min_px_fraction (fraction of the frame width), got {got}"
        )


class ProximityConfig(_HazardRule):
    """Objects of ``classes_a`` (people) closer than a limit to objects of ``classes_b`` (vehicles)."""

    classes_a: ClassList = Field(
        default_factory=lambda: ["person"], min_length=1, description="the group at risk"
    )
    classes_b: ClassList = Field(min_length=1, description="the group that is dangerous (vehicles)")
    min_m: float | None = Field(
        None,
        gt=0.0,
        le=1000.0,
        description="floor distance below which it is a hazard, m (needs calibration)",
    )
    min_px_fraction: PositiveFraction | None = Field(
        None,
        description="without calibration: image distance below which it is a hazard, as a fraction of the frame width",
    )
    anchor: Anchor = Field(Anchor.FOOTPRINT, description="point of a box taken as the object's position")

    @model_validator(mode="after")
    def _check(self) -> ProximityConfig:
        check_proximity_threshold(self)
        return self


def check_safety_rules(cfg: SafetyAppConfig) -> None:
    """At least one rule, and rule names unique across danger zones and proximity."""
    if not cfg.danger_zones and not cfg.proximity:
        raise ValueError("safety: set danger_zones and/or proximity, got neither")
    check_unique_names([r.name for r in [*cfg.danger_zones, *cfg.proximity]], "danger_zones + proximity")


class SafetyAppConfig(StrictSection):
    """Danger zones and person-vehicle proximity rules."""

    danger_zones: list[DangerZoneConfig] = Field(default_factory=list, max_length=64, description="zones")
    proximity: list[ProximityConfig] = Field(
        default_factory=list, max_length=64, description="distance rules"
    )

    @model_validator(mode="after")
    def _check(self) -> SafetyAppConfig:
        check_safety_rules(self)
        return self
