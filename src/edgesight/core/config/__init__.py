"""The device config, by section: one YAML file validated into one frozen tree.

Layout (one module per section, one strict base, cross-section checks as named functions)::

    base.py         StrictSection (extra=forbid, frozen) and shared field types: Seconds, Fraction, Name...
    labels.py       COCO_LABELS and the class-name check against the model's labels
    sensor.py       sensor:                 SensorSection, the ROI as a Region
    tracking.py     analytics.tracking:     TrackingConfig
    zones.py        analytics.zones:        ZoneConfig, zone references of the apps
    lines.py        analytics.lines:        LineConfig
    stitch.py       analytics.stitch:       StitchConfig (new ids continuing lost tracks, for the counters)
    calibration.py  analytics.calibration:  CalibrationConfig
    distance.py     analytics.distance/speed
    heatmap.py      analytics.heatmap
    queue.py        analytics.apps.queues:  QueueAppConfig
    shelf.py        analytics.apps.shelf:   ShelfAppConfig
    safety.py       analytics.apps.safety:  SafetyAppConfig
    apps.py         analytics.apps:         AppsConfig
    checks.py       check_* functions across sections (names exist, calibration, tracking)
    analytics.py    analytics:              AnalyticsConfig
    device.py       the root:               DeviceConfig
    safe_yaml.py    YAML without aliases, nesting bounded
    loading.py      load_config / parse_config: bounded read, one-line errors naming key and value

Example:
    >>> parse_config({"device_id": "cam-1", "analytics": {"tracking": {"min_hits": 2}}}).analytics.tracking.min_hits
    2
"""

from __future__ import annotations

from edgesight.core.config.analytics import AnalyticsConfig
from edgesight.core.config.apps import AppsConfig
from edgesight.core.config.calibration import CalibrationConfig
from edgesight.core.config.device import DeviceConfig
from edgesight.core.config.distance import DistanceConfig, SpeedConfig
from edgesight.core.config.heatmap import HeatmapConfig
from edgesight.core.config.labels import COCO_LABELS, KNOWN_CLASSES_CONTEXT
from edgesight.core.config.lines import LineConfig
from edgesight.core.config.loading import config_error_message, load_config, parse_config
from edgesight.core.config.queue import QueueAppConfig
from edgesight.core.config.safety import DangerZoneConfig, ProximityConfig, SafetyAppConfig, Severity
from edgesight.core.config.sensor import DEFAULT_MODEL, SensorSection
from edgesight.core.config.shelf import OccupancyMode, ShelfAppConfig, ShelfConfig
from edgesight.core.config.stitch import StitchConfig
from edgesight.core.config.tracking import TrackingConfig
from edgesight.core.config.zones import ZoneConfig, resolve_polygon

__all__ = [
    "COCO_LABELS",
    "DEFAULT_MODEL",
    "KNOWN_CLASSES_CONTEXT",
    "AnalyticsConfig",
    "AppsConfig",
    "CalibrationConfig",
    "DangerZoneConfig",
    "DeviceConfig",
    "DistanceConfig",
    "HeatmapConfig",
    "LineConfig",
    "OccupancyMode",
    "ProximityConfig",
    "QueueAppConfig",
    "SafetyAppConfig",
    "SensorSection",
    "Severity",
    "ShelfAppConfig",
    "ShelfConfig",
    "SpeedConfig",
    "StitchConfig",
    "TrackingConfig",
    "ZoneConfig",
    "config_error_message",
    "load_config",
    "parse_config",
    "resolve_polygon",
]
