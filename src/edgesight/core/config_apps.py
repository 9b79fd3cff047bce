"""The ``analytics.apps`` section: queue staffing, shelf restock and safety rules.

Each app section checks what it can see on its own (bounds, ``low < high``, one target given,
exactly one of ``min_m`` / ``min_px_fraction``). What needs the rest of the analytics config (zone
and line names, class names against the model's labels, calibration, tracking) is checked by the
``check_apps_*`` functions of :class:`edgesight.core.config_analytics.AnalyticsConfig`, whose
messages name the full key, e.g. ``analytics.apps.queues[0].queue_zone: no zone named 'tills';
zones are: 'queue', 'till'``.

A shelf or danger zone is either the name of a zone of ``analytics.zones`` or its own polygon
(vertices ``[x, y]`` normalised 0..1); :func:`resolve_polygon` turns either into vertices.

Example:
    >>> apps = AppsConfig.model_validate({
    ...     "queues": [{"name": "checkout", "queue_zone": "queue", "entry_line": "queue_entry",
    ...                 "aht_s": 180, "target_mean_wait_s": 10}],
    ...     "safety": {"danger_zones": [{"name": "dock", "zone": [[0, 0], [1, 0], [1, 0.2]],
    ...                                  "allowed_classes": ["truck"], "severity": "critical"}]},
    ... })
    >>> apps.queues[0].entry_direction, apps.safety.danger_zones[0].severity.value
    ('in', 'critical')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edgesight.geometry.boxes import Anchor
from edgesight.geometry.polygons import polygon_problem

__all__ = [
    "AppsConfig",
    "DangerZoneConfig",
    "OccupancyMode",
    "ProximityConfig",
    "QueueAppConfig",
    "SafetyAppConfig",
    "Severity",
    "ShelfAppConfig",
    "ShelfConfig",
    "resolve_polygon",
]

Point = tuple[float, float]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9 _.:/-]+$")]
ClassList = Annotated[list[str], Field(max_length=100)]
Polygon = Annotated[list[Point], Field(min_length=3, max_length=64)]
ZoneRef = Name | Polygon
"""A zone name of ``analytics.zones`` or a polygon of its own (normalised vertices)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_zone_ref(ref: ZoneRef) -> ZoneRef:
    """A polygon given inline must be normalised and simple; names are checked by AnalyticsConfig."""
    if isinstance(ref, str):
        return ref
    for i, (x, y) in enumerate(ref):
        for axis, value in (("x", x), ("y", y)):
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ValueError(f"zone[{i}]: {axis}={value} outside 0..1")
    problem = polygon_problem(ref)
    if problem is not None:
        raise ValueError(f"zone polygon {problem}")
    return ref


def resolve_polygon(ref: ZoneRef, zone_polygons: Mapping[str, Sequence[Point]]) -> list[Point]:
    """The vertices of a zone reference: the named zone's polygon, or the inline polygon itself.

    Args:
        ref: a zone name or a list of normalised vertices.
        zone_polygons: polygon of each zone of ``analytics.zones`` by name.

    Raises:
        KeyError: ``ref`` names no zone (a validated config never does).

    Example:
        >>> resolve_polygon("till", {"till": [(0, 0), (1, 0), (1, 1)]})
        [(0, 0), (1, 0), (1, 1)]
        >>> resolve_polygon([(0, 0), (0.5, 0), (0.5, 0.5)], {})
        [(0, 0), (0.5, 0), (0.5, 0.5)]
    """
    if isinstance(ref, str):
        if ref not in zone_polygons:
            raise KeyError(f"no zone named {ref!r}; zones are: {sorted(zone_polygons)}")
        return list(zone_polygons[ref])
    return list(ref)


# ---- queue --------------------------------------------------------------------------------------


class QueueAppConfig(_Section):
    """A checkout queue: live wait (Little's law) and counters to open (Erlang C)."""

    name: Name = Field(description="the queue's name, the rule of its queue_advice events")
    queue_zone: Name = Field(description="zone where people wait (its count is the queue length)")
    entry_line: Name = Field(description="line crossed by people joining the queue (the arrival rate)")
    entry_direction: Name = Field(
        "in",
        description="direction name of entry_line that means 'joins the queue' (the line's in/out names)",
    )
    service_zone: Name | None = Field(
        None, description="zone at the counters; its dwell times measure the service time (measure_aht)"
    )
    aht_s: float = Field(180.0, gt=0.0, le=3600.0, description="mean service time per customer, s")
    measure_aht: bool = Field(
        False, description="use the mean dwell in service_zone instead of aht_s once aht_min_samples exist"
    )
    aht_min_samples: int = Field(
        20, ge=1, le=10000, description="dwells needed before the measured AHT is used"
    )
    aht_min_dwell_s: float = Field(
        5.0, ge=0.0, le=3600.0, description="shorter dwells (walking past) are ignored"
    )
    aht_max_dwell_s: float = Field(
        1800.0, gt=0.0, le=86400.0, description="longer dwells (staff) are ignored"
    )
    target_mean_wait_s: float | None = Field(None, ge=0.0, le=3600.0, description="maximum mean wait, s")
    target_service_level: float | None = Field(
        None, gt=0.0, lt=1.0, description="minimum fraction served within target_s"
    )
    target_s: float | None = Field(
        None, ge=0.0, le=3600.0, description="acceptable wait of the service-level target, s"
    )
    min_counters: int = Field(1, ge=1, le=1000, description="never advise fewer counters")
    max_counters: int = Field(20, ge=1, le=1000, description="counters the site can open")
    rate_window_s: float = Field(
        900.0, gt=0.0, le=86400.0, description="arrival rate (and measured AHT) over this window, s"
    )
    warmup_s: float = Field(
        300.0, ge=0.0, le=86400.0, description="observe this long before the first advice, s"
    )
    advice_interval_s: float = Field(
        60.0, gt=0.0, le=86400.0, description="how often advice is recomputed, s"
    )
    min_hold_s: float = Field(
        300.0, ge=0.0, le=86400.0, description="an advised count stays at least this long before changing, s"
    )
    status_interval_s: float | None = Field(
        None,
        gt=0.0,
        le=86400.0,
        description="also send the current figures every this many s (trigger interval)",
    )

    @model_validator(mode="after")
    def check_queue(self) -> QueueAppConfig:
        if self.target_mean_wait_s is None and self.target_service_level is None:
            raise ValueError(
                f"queue {self.name!r}: set target_mean_wait_s and/or target_service_level (with target_s), "
                "got neither"
            )
        if self.target_service_level is not None and self.target_s is None:
            raise ValueError(
                f"queue {self.name!r}: target_service_level={self.target_service_level} needs target_s "
                "(the acceptable wait, s), got none"
            )
        if self.min_counters > self.max_counters:
            raise ValueError(
                f"queue {self.name!r}: min_counters={self.min_counters} must be <= "
                f"max_counters={self.max_counters}"
            )
        if self.measure_aht and self.service_zone is None:
            raise ValueError(f"queue {self.name!r}: measure_aht=true needs service_zone, got none")
        if self.aht_min_dwell_s >= self.aht_max_dwell_s:
            raise ValueError(
                f"queue {self.name!r}: aht_min_dwell_s={self.aht_min_dwell_s} must be < "
                f"aht_max_dwell_s={self.aht_max_dwell_s}"
            )
        if self.service_zone is not None and self.service_zone == self.queue_zone:
            raise ValueError(
                f"queue {self.name!r}: service_zone and queue_zone must differ, both are {self.queue_zone!r}"
            )
        return self


# ---- shelf --------------------------------------------------------------------------------------


class OccupancyMode(StrEnum):
    """How full a shelf is: products counted against ``capacity``, or product box area over zone area."""

    COUNT = "count"
    AREA = "area"


class ShelfConfig(_Section):
    """One shelf zone watched for depletion."""

    name: Name = Field(description="the shelf's name, the rule of its restock events")
    zone: ZoneRef = Field(description="a zone name, or the shelf's own polygon [[x, y], ...] normalised 0..1")
    classes: ClassList = Field(
        default_factory=list, description="product classes; empty = every class not in occluder_classes"
    )
    capacity: int | None = Field(None, ge=1, le=10000, description="items on the full shelf (count mode)")
    occupancy_mode: OccupancyMode | None = Field(
        None, description="count (needs capacity) or area; default: count when capacity is set, else area"
    )
    anchor: Anchor = Field(Anchor.CENTER, description="a product is on the shelf when this point is inside")
    low_threshold: float = Field(0.3, ge=0.0, le=1.0, description="occupancy below which to restock")
    high_threshold: float = Field(0.6, gt=0.0, le=1.0, description="occupancy above which the alert clears")
    hold_s: float = Field(
        60.0, ge=0.0, le=86400.0, description="time below low_threshold before the alert, s"
    )
    gap_min_width: float = Field(
        0.15, gt=0.0, le=1.0, description="empty stretches at least this fraction of the shelf width are gaps"
    )
    occluder_classes: ClassList = Field(
        default_factory=lambda: ["person"], description="classes that hide the shelf (shoppers, staff)"
    )
    max_occlusion: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="frames where occluders cover more than this fraction of the shelf are ignored",
    )
    window_s: float = Field(1800.0, gt=0.0, le=86400.0, description="depletion rate window, s")
    restock_jump: float = Field(
        0.2, gt=0.0, le=1.0, description="a rise in occupancy this large restarts the depletion window"
    )

    @field_validator("zone")
    @classmethod
    def check_zone(cls, zone: ZoneRef) -> ZoneRef:
        return _check_zone_ref(zone)

    @model_validator(mode="after")
    def check_shelf(self) -> ShelfConfig:
        where = f"shelf {self.name!r}"
        if self.low_threshold >= self.high_threshold:
            raise ValueError(
                f"{where}: low_threshold={self.low_threshold} must be < high_threshold={self.high_threshold}"
            )
        if self.mode is OccupancyMode.COUNT and self.capacity is None:
            raise ValueError(
                f"{where}: occupancy_mode=count needs capacity (items on the full shelf), got none"
            )
        if self.mode is OccupancyMode.AREA and self.capacity is not None:
            raise ValueError(f"{where}: capacity={self.capacity} is only used with occupancy_mode=count")
        both = sorted(set(self.classes) & set(self.occluder_classes))
        if both:
            raise ValueError(f"{where}: {both[0]!r} is in both classes and occluder_classes")
        return self

    @property
    def mode(self) -> OccupancyMode:
        """The occupancy mode in force (``occupancy_mode`` or the default from ``capacity``)."""
        if self.occupancy_mode is not None:
            return self.occupancy_mode
        return OccupancyMode.COUNT if self.capacity is not None else OccupancyMode.AREA


class ShelfAppConfig(_Section):
    """Shelves watched for restocking."""

    shelves: list[ShelfConfig] = Field(min_length=1, max_length=64, description="the shelves")
    status_interval_s: float | None = Field(
        None,
        gt=0.0,
        le=86400.0,
        description="also send every shelf's state every this many s (trigger interval)",
    )

    @model_validator(mode="after")
    def check_names(self) -> ShelfAppConfig:
        _check_unique([s.name for s in self.shelves], "shelves")
        return self


# ---- safety -------------------------------------------------------------------------------------


class Severity(StrEnum):
    """How bad a hazard is, for routing alerts (a siren for critical, a log line for low)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class _HazardRule(_Section):
    name: Name = Field(description="the rule's name, the rule of its hazard events")
    severity: Severity = Field(Severity.HIGH, description="low, medium, high or critical")
    min_frames: int = Field(
        1,
        ge=1,
        le=300,
        description="consecutive observed frames in violation before the alert (1 = same frame)",
    )
    cooldown_s: float = Field(
        5.0,
        ge=0.0,
        le=3600.0,
        description="the hazard stays raised this long after the last violation; a relapse within it "
        "continues the same hazard, so alerts per (rule, track) are at least this far apart",
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
        return _check_zone_ref(zone)

    @model_validator(mode="after")
    def check_can_fire(self) -> DangerZoneConfig:
        if self.classes and set(self.classes) <= set(self.allowed_classes):
            raise ValueError(
                f"danger zone {self.name!r}: every checked class {self.classes} is allowed, so it can never fire"
            )
        return self


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
    min_px_fraction: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="without calibration: image distance below which it is a hazard, as a fraction of the frame width",
    )
    anchor: Anchor = Field(Anchor.FOOTPRINT, description="point of a box taken as the object's position")

    @model_validator(mode="after")
    def check_threshold(self) -> ProximityConfig:
        if (self.min_m is None) == (self.min_px_fraction is None):
            got = "both" if self.min_m is not None else "neither"
            raise ValueError(
                f"proximity {self.name!r}: set exactly one of min_m (metres, needs calibration) and "
                f"min_px_fraction (fraction of the frame width), got {got}"
            )
        return self


class SafetyAppConfig(_Section):
    """Danger zones and person-vehicle proximity rules."""

    danger_zones: list[DangerZoneConfig] = Field(default_factory=list, max_length=64, description="zones")
    proximity: list[ProximityConfig] = Field(
        default_factory=list, max_length=64, description="distance rules"
    )

    @model_validator(mode="after")
    def check_rules(self) -> SafetyAppConfig:
        if not self.danger_zones and not self.proximity:
            raise ValueError("safety: set danger_zones and/or proximity, got neither")
        _check_unique([r.name for r in [*self.danger_zones, *self.proximity]], "danger_zones + proximity")
        return self


# ---- all apps -----------------------------------------------------------------------------------


def _check_unique(names: list[str], key: str) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise ValueError(f"{key}[{i}].name: {name!r} is already used by {key}[{seen[name]}]")
        seen[name] = i


class AppsConfig(_Section):
    """Application rules that turn zone, line and track state into business events."""

    queues: list[QueueAppConfig] = Field(default_factory=list, max_length=16, description="checkout queues")
    shelf: ShelfAppConfig | None = Field(None, description="shelf restock alerts")
    safety: SafetyAppConfig | None = Field(None, description="danger zones and proximity hazards")

    @model_validator(mode="after")
    def check_queue_names(self) -> AppsConfig:
        _check_unique([q.name for q in self.queues], "queues")
        return self
