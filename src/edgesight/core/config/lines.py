"""The ``analytics.lines`` section: directed counting lines.

Direction convention (see docs/events.md): looking from ``start`` to ``end`` on the screen, a
crossing from the left side to the right side is ``left_to_right`` (default name ``"in"``) and the
opposite is ``right_to_left`` (``"out"``).
"""

from __future__ import annotations

import math

from pydantic import Field, ValidationInfo, field_validator, model_validator

from edgesight.core.config.base import ClassList, Fraction, Name, Point, StrictSection, check_normalised
from edgesight.core.config.labels import check_known_classes
from edgesight.geometry.boxes import Anchor

__all__ = ["DEFAULT_DEAD_BAND", "LineConfig", "check_line_segment"]

# A tenth of a person's height either side of the line: on vtest.avi a person standing on the
# lamp-post line sways 0.06-0.09 box heights across it and a band of 0.1 counts them once, while
# 0.15 and wider already swallow a real step over the line and back (BENCHMARKS.md, seventh round).
DEFAULT_DEAD_BAND = 0.1


def check_line_segment(line: LineConfig) -> None:
    """Both ends inside the frame, a non-zero length and two different direction names.

    Example:
        >>> LineConfig(name="door", start=(0.2, 0.5), end=(0.2, 0.5))
        Traceback (most recent call last):
        ...
        pydantic_core._pydantic_core.ValidationError: 1 validation error for LineConfig
          Value error, start == end == [0.2, 0.5]: the line has zero length ...
    """
    check_normalised([line.start], "start")
    check_normalised([line.end], "end")
    if math.dist(line.start, line.end) <= 1e-9:
        raise ValueError(f"start == end == {list(line.start)}: the line has zero length")
    if line.left_to_right == line.right_to_left:
        raise ValueError(f"left_to_right and right_to_left must differ, both are {line.left_to_right!r}")


class LineConfig(StrictSection):
    """A directed line segment counting crossings per direction and class."""

    name: Name = Field(description="unique line name, the event's rule")
    start: Point = Field(description="[x, y] normalised 0..1")
    end: Point = Field(description="[x, y] normalised 0..1")
    classes: ClassList = Field(default_factory=list, description="class names counted; empty = all")
    anchor: Anchor = Field(Anchor.BOTTOM_CENTER, description="point of a box whose motion crosses the line")
    min_frames_on_side: int = Field(
        3, ge=1, le=300, description="observed frames on the new side before a crossing counts (anti-flicker)"
    )
    dead_band: float = Field(
        DEFAULT_DEAD_BAND,
        ge=0.0,
        le=2.0,
        description=(
            "half-width of a band along the line, in heights of the box counted: an anchor inside it"
            " is on the line, so a crossing must leave the band on the far side and a person standing"
            " on the line does not count while swaying across it (0: the line alone)"
        ),
    )
    left_to_right: Name = Field(
        "in", description="direction name of a crossing from the left to the right side, looking start->end"
    )
    right_to_left: Name = Field("out", description="direction name of the opposite crossing")
    reid_radius: Fraction = Field(
        0.05,
        description="a new track crossing within this normalised distance of a lost track's crossing ...",
    )
    reid_window_s: float = Field(
        2.0, ge=0.0, le=60.0, description="... in the same direction within this time is not counted again"
    )

    @model_validator(mode="after")
    def _check(self) -> LineConfig:
        check_line_segment(self)
        return self

    @field_validator("classes")
    @classmethod
    def check_classes(cls, classes: list[str], info: ValidationInfo) -> list[str]:
        return check_known_classes(classes, info)
