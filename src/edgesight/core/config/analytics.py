"""The ``analytics`` section: tracking, zones, lines, stitching, calibration, distance, speed, heatmap and apps.

Every image coordinate is normalised to 0..1 of the source frame (``x`` right, ``y`` down) and
is checked; the apps scale it to pixels. Class names are checked against the model's labels given
in the validation context (``context={"known_classes": [...]}``), COCO-80 by default. The checks
that span sections are the named functions of :mod:`edgesight.core.config.checks`.

Example:
    >>> cfg = AnalyticsConfig.model_validate({
    ...     "zones": [{"name": "till", "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.6]]}],
    ...     "lines": [{"name": "door", "start": [0.2, 0.8], "end": [0.8, 0.8]}],
    ... })
    >>> cfg.zones[0].anchor.value, cfg.lines[0].left_to_right
    ('bottom_center', 'in')
"""

from __future__ import annotations

from pydantic import Field, ValidationInfo, model_validator

from edgesight.core.config import checks
from edgesight.core.config.apps import AppsConfig
from edgesight.core.config.base import StrictSection
from edgesight.core.config.calibration import CalibrationConfig
from edgesight.core.config.distance import DistanceConfig, SpeedConfig
from edgesight.core.config.heatmap import HeatmapConfig
from edgesight.core.config.lines import LineConfig
from edgesight.core.config.stitch import StitchConfig
from edgesight.core.config.tracking import TrackingConfig
from edgesight.core.config.zones import ZoneConfig

__all__ = ["AnalyticsConfig"]


class AnalyticsConfig(StrictSection):
    """Zones, lines and apps of a device."""

    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="multi-object tracker")
    zones: list[ZoneConfig] = Field(default_factory=list, max_length=64, description="polygon zones")
    lines: list[LineConfig] = Field(default_factory=list, max_length=64, description="counting lines")
    stitch: StitchConfig = Field(
        default_factory=StitchConfig, description="lines and zones continue a lost track under a new id"
    )
    calibration: CalibrationConfig | None = Field(None, description="image-to-floor homography")
    distance: DistanceConfig | None = Field(None, description="too close / too far (needs calibration)")
    speed: SpeedConfig | None = Field(None, description="ground speed (needs calibration)")
    heatmap: HeatmapConfig = Field(default_factory=HeatmapConfig, description="occupancy grid")
    apps: AppsConfig = Field(default_factory=AppsConfig, description="application rules")

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> AnalyticsConfig:
        checks.check_zone_and_line_names(self)
        checks.check_calibration_present(self)
        checks.check_tracking_enabled(self)
        checks.check_apps_references(self)
        checks.check_apps_classes(self, info)
        checks.check_apps_need(self)
        return self
