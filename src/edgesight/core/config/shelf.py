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

__all__ = ["OccupancyMode", "ShelfAppConfig", "ShelfConfig"]


class OccupancyMode(StrEnum):
    """How full a shelf is: products counted against ``capacity``, or product box area over zone area."""

    COUNT = "count"
    AREA = "area"


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
    hold_s: Seconds = Field(
        60.0, description="time below low_threshold before the alert, s"
    )
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
