"""The ``analytics.heatmap`` section: occupancy grid of tracked objects' anchors."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator

from edgesight.core.config.base import ClassList, StrictSection
from edgesight.core.config.labels import check_known_classes
from edgesight.geometry.boxes import Anchor

__all__ = ["HeatmapConfig"]

_Cells = Annotated[int, Field(ge=1, le=512)]


class HeatmapConfig(StrictSection):
    """Occupancy grid of tracked objects' anchors."""

    enabled: bool = Field(False, description="accumulate the heatmap")
    grid: tuple[_Cells, _Cells] = Field((32, 18), description="[cols, rows] cells over the frame")
    classes: ClassList = Field(default_factory=list, description="class names counted; empty = all")
    anchor: Anchor = Field(Anchor.BOTTOM_CENTER, description="point of a box accumulated")

    @field_validator("classes")
    @classmethod
    def check_classes(cls, classes: list[str], info: ValidationInfo) -> list[str]:
        return check_known_classes(classes, info)
