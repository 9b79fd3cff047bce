"""The strict base of every config section and the field types the sections share.

Every section derives from :class:`StrictSection` (unknown keys are errors, values are frozen).
Shared field types carry their bounds and meaning, so that ``0..1`` or "seconds, at most a day"
is written once:

Example:
    >>> class Door(StrictSection):
    ...     hold_s: Seconds = 5.0
    ...     share: Fraction = 0.5
    >>> Door(hold_s=10).hold_s
    10.0
    >>> Door(hold_s=10, colour="red")
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for Door
    colour
      Extra inputs are not permitted [type=extra_forbidden, input_value='red', input_type=str]
        For further information visit https://errors.pydantic.dev/2.14/v/extra_forbidden
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ClassList",
    "Fraction",
    "HourSeconds",
    "IntervalSeconds",
    "Name",
    "Point",
    "Polygon",
    "PositiveFraction",
    "PositiveSeconds",
    "Seconds",
    "StrictSection",
    "check_normalised",
]

_DAY_S = 86400.0
_HOUR_S = 3600.0


class StrictSection(BaseModel):
    """Base of every config section: unknown keys are refused and a validated section is frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Point = tuple[float, float]
"""``[x, y]`` normalised 0..1 of the source frame (x right, y down)."""

Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9 _.:/-]+$")]
"""A rule, zone, line or app name: it becomes the ``rule`` of events."""

ClassList = Annotated[list[str], Field(max_length=100)]
"""Class names of the model's labels (checked against them by the section)."""

Polygon = Annotated[list[Point], Field(min_length=3, max_length=64)]
"""Vertices ``[x, y]`` normalised 0..1, in order."""

Fraction = Annotated[float, Field(ge=0.0, le=1.0, description="a fraction in 0..1")]
"""A share, score or threshold in ``0..1``."""

PositiveFraction = Annotated[float, Field(gt=0.0, le=1.0, description="a fraction in (0, 1]")]
"""A share, IoU or width that must not be 0 (it would divide or match everything)."""

Seconds = Annotated[float, Field(ge=0.0, le=_DAY_S, description="seconds, 0 .. one day")]
"""A duration that may be 0 (no hold, no warm-up)."""

PositiveSeconds = Annotated[float, Field(gt=0.0, le=_DAY_S, description="seconds, > 0 and <= one day")]
"""A window or period: 0 would mean an empty window or an endless loop."""

HourSeconds = Annotated[float, Field(ge=0.0, le=_HOUR_S, description="seconds, 0 .. one hour")]
"""A wait or cool-down, at most an hour."""

IntervalSeconds = Annotated[float, Field(gt=0.0, le=_HOUR_S, description="seconds, > 0 and <= one hour")]
"""The period of interval events, or a service time."""


def check_normalised(points: Sequence[Point], what: str) -> None:
    """Raise naming ``what[i]`` and the axis when a point is outside the frame (0..1).

    Example:
        >>> check_normalised([(0.5, 1.5)], "polygon")
        Traceback (most recent call last):
        ...
        ValueError: polygon[0]: y=1.5 outside 0..1
    """
    for i, (x, y) in enumerate(points):
        for axis, value in (("x", x), ("y", y)):
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ValueError(f"{what}[{i}]: {axis}={value} outside 0..1")
