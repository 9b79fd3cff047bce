"""The analytics config: defaults, a full YAML example, and bad configs rejected with key and value."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from edgesight.core.config import COCO_LABELS, KNOWN_CLASSES_CONTEXT, AnalyticsConfig, parse_config
from edgesight.core.errors import ConfigError
from edgesight.core.events import Trigger
from edgesight.geometry import Anchor, apply_homography

DEVICE_YAML = """
device_id: shop-cam-1
analytics:
  tracking: {max_lost_frames: 30, min_hits: 3}
  zones:
    - name: till
      polygon: [[0.05, 0.55], [0.40, 0.55], [0.40, 0.95], [0.05, 0.95]]
      classes: [person]
      inertia_frames: 3
      min_dwell_s: 5
    - name: entrance
      polygon: [[0.55, 0.30], [0.95, 0.30], [0.95, 0.70], [0.55, 0.70]]
      count_trigger: interval
      count_interval_s: 10
  lines:
    - name: door
      start: [0.10, 0.50]
      end: [0.90, 0.50]
      classes: [person]
      left_to_right: in
      right_to_left: out
    - name: driveway
      start: [0.70, 0.10]
      end: [0.70, 0.90]
      classes: [car, truck]
      anchor: center
      min_frames_on_side: 5
  calibration:
    image_points: [[0.20, 0.40], [0.80, 0.40], [0.95, 0.95], [0.05, 0.95]]
    ground_points_m: [[0, 10], [6, 10], [6, 0], [0, 0]]
  distance: {classes_a: [person], classes_b: [person, forklift], min_m: 1.5, max_m: 8}
  speed: {classes: [person], window_s: 1.0}
  heatmap: {enabled: true, grid: [32, 18]}
"""


def _known(extra: str) -> dict[str, Any]:
    return {KNOWN_CLASSES_CONTEXT: [*COCO_LABELS, extra]}


def test_defaults_are_valid_and_tracking_is_on() -> None:
    cfg = AnalyticsConfig()
    # A lost track is kept 3 s at whatever frame rate; max_lost_frames (frames) only when set.
    assert cfg.tracking.enabled and cfg.tracking.max_lost_s == 3.0 and cfg.tracking.max_lost_frames is None
    assert cfg.zones == [] and cfg.lines == [] and cfg.calibration is None
    assert not cfg.heatmap.enabled and cfg.heatmap.grid == (32, 18)


def test_full_yaml_example_loads_with_a_custom_label_list() -> None:
    data = yaml.safe_load(DEVICE_YAML)
    analytics = AnalyticsConfig.model_validate(data["analytics"], context=_known("forklift"))
    assert [z.name for z in analytics.zones] == ["till", "entrance"]
    assert analytics.zones[1].count_trigger is Trigger.INTERVAL
    assert analytics.lines[1].anchor is Anchor.CENTER
    assert analytics.distance is not None and analytics.distance.max_m == 8
    assert analytics.calibration is not None
    ground = apply_homography(analytics.calibration.homography(), [[0.05, 0.95], [0.8, 0.4]])
    assert np.allclose(ground, [[0, 0], [6, 10]])


def test_forklift_is_unknown_to_coco() -> None:
    data = yaml.safe_load(DEVICE_YAML)
    with pytest.raises(ValidationError, match="unknown class 'forklift'"):
        AnalyticsConfig.model_validate(data["analytics"])


def _rejected(analytics: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config({"analytics": analytics}, "device.yaml")
    return str(info.value)


SQUARE = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]
CALIB = {"image_points": SQUARE, "ground_points_m": [[0, 0], [5, 0], [5, 5], [0, 5]]}


@pytest.mark.parametrize(
    ("analytics", "fragments"),
    [
        (
            {"zones": [{"name": "a", "polygon": [[0, 0], [1, 1], [1, 0], [0, 1]]}]},
            ["analytics.zones.0.polygon", "self-intersecting", "edges 0 (points 0-1) and 2 (points 2-3)"],
        ),
        (
            {"zones": [{"name": "a", "polygon": SQUARE}, {"name": "b", "polygon": [[0.1, 0.1], [0.5, 0.1], [1.3, 0.5]]}]},
            ["analytics.zones.1.polygon", "polygon[2]: x=1.3 outside 0..1"],
        ),
        ({"lines": [{"name": "l", "start": [0.2, -0.1], "end": [0.5, 0.5]}]}, ["analytics.lines.0", "start[0]: y=-0.1"]),
        (
            {"zones": [{"name": "a", "polygon": SQUARE, "classes": ["persn"]}]},
            ["analytics.zones.0.classes", "unknown class 'persn'", "did you mean 'person'"],
        ),
        (
            {"lines": [{"name": "l", "start": [0.5, 0.5], "end": [0.5, 0.5]}]},
            ["analytics.lines.0", "start == end == [0.5, 0.5]", "zero length"],
        ),
        (
            {"calibration": {"image_points": [[0, 0], [0.5, 0.5], [1, 1], [0, 1]], "ground_points_m": SQUARE}},
            ["analytics.calibration", "image_points 0, 1 and 2 are collinear", "[0.5, 0.5]"],
        ),
        (
            {"calibration": {"image_points": SQUARE, "ground_points_m": [[0, 0], [1, 1], [2, 2], [0, 5]]}},
            ["analytics.calibration", "ground_points_m 0, 1 and 2 are collinear"],
        ),
        ({"distance": {"min_m": 1.0}}, ["analytics", "distance needs calibration"]),
        ({"speed": {}}, ["analytics", "speed needs calibration"]),
        (
            {"calibration": CALIB, "distance": {"min_m": 3.0, "max_m": 2.0}},
            ["analytics.distance", "max_m=2.0 must be > min_m=3.0"],
        ),
        (
            {"zones": [{"name": "a", "polygon": SQUARE}, {"name": "a", "polygon": SQUARE}]},
            ["zones[1].name: 'a' is already used by zones[0]"],
        ),
        (
            {"tracking": {"enabled": False}, "lines": [{"name": "l", "start": [0, 0.5], "end": [1, 0.5]}]},
            ["lines[0] needs tracking.enabled=true"],
        ),
        ({"tracking": {"low_thresh": 0.7}}, ["tracking.low_thresh=0.7 must be <= tracking.track_thresh=0.5"]),
        ({"zones": [{"name": "a", "polygon": SQUARE, "inertia": 3}]}, ["analytics.zones.0.inertia", "Extra inputs"]),
        ({"lines": [{"name": "l", "start": [0, 0.5], "end": [1, 0.5], "left_to_right": "x", "right_to_left": "x"}]},
         ["left_to_right and right_to_left must differ"]),
        ({"heatmap": {"grid": [0, 10]}}, ["analytics.heatmap.grid.0"]),
        ({"stitch": {"window": 1.0}}, ["analytics.stitch.window", "Extra inputs"]),
        ({"stitch": {"radius": -0.5}}, ["analytics.stitch.radius", "-0.5"]),
    ],
)
def test_bad_configs_name_the_key_and_the_value(analytics: dict[str, Any], fragments: list[str]) -> None:
    message = _rejected(analytics)
    assert message.startswith("device.yaml: ")
    for fragment in fragments:
        assert fragment in message, message


def test_apps_section_is_a_strict_placeholder() -> None:
    assert AnalyticsConfig.model_validate({"apps": {}}).apps is not None
    assert "analytics.apps.queue" in _rejected({"apps": {"queue": {}}})


def test_stitch_section_defaults_and_off() -> None:
    assert AnalyticsConfig().stitch.enabled
    off = AnalyticsConfig.model_validate({"stitch": {"window_s": 0}}).stitch
    assert not off.enabled and (off.radius, off.radius_per_s) == (0.5, 0.5)


@pytest.mark.parametrize("value", [0, -1, 601])
def test_a_lost_track_memory_out_of_range_is_refused_naming_the_key(value: float) -> None:
    with pytest.raises(ValidationError, match="max_lost_s"):
        AnalyticsConfig.model_validate({"tracking": {"max_lost_s": value}})
