"""The ``analytics.zones`` section, and zone references of the apps (a zone name or an own polygon)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
from pydantic import Field, ValidationInfo, field_validator

from edgesight.core.config.base import (
    ClassList,
    IntervalSeconds,
    Name,
    Point,
    Polygon,
    Seconds,
    StrictSection,
    check_normalised,
)
from edgesight.core.config.labels import check_known_classes
from edgesight.core.events import Trigger
from edgesight.geometry.boxes import Anchor
from edgesight.geometry.polygons import polygon_problem

__all__ = ["ZoneConfig", "ZoneRef", "check_zone_ref", "resolve_polygon"]

ZoneRef = Name | Polygon
"""A zone name of ``analytics.zones`` or a polygon of its own (normalised vertices)."""


class ZoneConfig(StrictSection):
    """A polygon zone: enter/exit, dwell and count-in-zone events.

    Example:
        >>> ZoneConfig(name="till", polygon=[(0.1, 0.1), (0.5, 0.1), (0.5, 0.6)]).anchor.value
        'bottom_center'
    """

    name: Name = Field(description="unique zone name, the event's rule")
    polygon: Polygon = Field(description="vertices [x, y] normalised 0..1, in order, simple polygon")
    classes: ClassList = Field(default_factory=list, description="class names counted; empty = all")
    anchor: Anchor = Field(Anchor.BOTTOM_CENTER, description="point of a box tested against the polygon")
    inertia_frames: int = Field(
        3, ge=1, le=300, description="consecutive frames inside (outside) before an enter (exit) counts"
    )
    min_dwell_s: Seconds = Field(0.0, description="shortest stay reported as a dwell event")
    count_trigger: Trigger = Field(
        Trigger.EVENT, description="zone_count on every change (event) or every count_interval_s (interval)"
    )
    count_interval_s: IntervalSeconds = Field(1.0, description="period of interval zone_count")

    @field_validator("polygon")
    @classmethod
    def check_polygon(cls, polygon: list[Point]) -> list[Point]:
        check_normalised(polygon, "polygon")
        problem = polygon_problem(polygon)
        if problem is not None:
            raise ValueError(f"polygon {problem}")
        return polygon

    @field_validator("classes")
    @classmethod
    def check_classes(cls, classes: list[str], info: ValidationInfo) -> list[str]:
        return check_known_classes(classes, info)

    def polygon_array(self) -> npt.NDArray[np.float64]:
        """``(k, 2)`` normalised vertices."""
        return np.asarray(self.polygon, dtype=np.float64)


def check_zone_ref(ref: ZoneRef) -> ZoneRef:
    """A polygon given inline must be normalised and simple; names are checked against the zones later.

    Example:
        >>> check_zone_ref([(0, 0), (1, 0), (1, 2)])
        Traceback (most recent call last):
        ...
        ValueError: zone[2]: y=2 outside 0..1
    """
    if isinstance(ref, str):
        return ref
    check_normalised(ref, "zone")
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
