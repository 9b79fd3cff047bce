"""The ``analytics.apps.shelf`` section: shelves watched for restocking.

A shelf is either the name of a zone of ``analytics.zones`` or its own polygon; zone names and
class names are checked against the rest of the config by :mod:`edgesight.core.config.checks`.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, field_validator, model_validator

from edgesight.core.config.base import (
    ClassList,
    Fraction,
    Name,
    PositiveFraction,
    PositiveSeconds,
    Seconds,
    StrictSection,
)
from edgesight.core.config.checks import check_unique_names
from edgesight.core.config.zones import ZoneRef, check_zone_ref
from edgesight.geometry.boxes import Anchor

__all__ = ["OccupancyMode", "ShelfAppConfig", "ShelfConfig", "check_shelf_occupancy"]


class OccupancyMode(StrEnum):
    """How full a shelf is: products counted against ``capacity``, or product box area over zone area."""

    COUNT = "count"
    AREA = "area"


def check_shelf_occupancy(cfg: ShelfConfig) -> None:
    """Thresholds in order, an occupancy mode with what it needs, no class both product and occluder."""
    where = f"shelf {cfg.name!r}"
    if cfg.low_threshold >= cfg.high_threshold:
        raise ValueError(
            f"{where}: low_threshold={cfg.low_threshold} must be < high_threshold={cfg.high_threshold}"
        )
    if cfg.mode is OccupancyMode.COUNT and cfg.capacity is None:
        raise ValueError(f"{where}: occupancy_mode=count needs capacity (items on the full shelf), got none")
    if cfg.mode is OccupancyMode.AREA and cfg.capacity is not None:
        raise ValueError(f"{where}: capacity={cfg.capacity} is only used with occupancy_mode=count")
    both = sorted(set(cfg.classes) & set(cfg.occluder_classes))
    if both:
        raise ValueError(f"{where}: {both[0]!r} is in both classes and occluder_classes")


class ShelfConfig(StrictSection):
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
    low_threshold: Fraction = Field(0.3, description="occupancy below which to restock")
    high_threshold: PositiveFraction = Field(0.6, description="occupancy above which the alert clears")
    hold_s: Seconds = Field(60.0, description="time below low_threshold before the alert, s")
    gap_min_width: PositiveFraction = Field(
        0.15, description="empty stretches at least this fraction of the shelf width are gaps"
    )
    occluder_classes: ClassList = Field(
        default_factory=lambda: ["person"], description="classes that hide the shelf (shoppers, staff)"
    )
    max_occlusion: Fraction = Field(
        0.05,
        description="frames where occluders cover more than this fraction of the shelf are ignored",
    )
    window_s: PositiveSeconds = Field(1800.0, description="depletion rate window, s")
    restock_jump: PositiveFraction = Field(
        0.2, description="a rise in occupancy this large restarts the depletion window"
    )

    @field_validator("zone")
    @classmethod
    def check_zone(cls, zone: ZoneRef) -> ZoneRef:
        return check_zone_ref(zone)

    @model_validator(mode="after")
    def _check(self) -> ShelfConfig:
        check_shelf_occupancy(self)
        return self

    @property
    def mode(self) -> OccupancyMode:
        """The occupancy mode in force (``occupancy_mode`` or the default from ``capacity``)."""
        if self.occupancy_mode is not None:
            return self.occupancy_mode
        return OccupancyMode.COUNT if self.capacity is not None else OccupancyMode.AREA


class ShelfAppConfig(StrictSection):
    """Shelves watched for restocking."""

    shelves: list[ShelfConfig] = Field(min_length=1, max_length=64, description="the shelves")
    status_interval_s: PositiveSeconds | None = Field(
        None,
        description="also send every shelf's state every this many s (trigger interval)",
    )

    @model_validator(mode="after")
    def check_names(self) -> ShelfAppConfig:
        check_unique_names([s.name for s in self.shelves], "shelves")
        return self
