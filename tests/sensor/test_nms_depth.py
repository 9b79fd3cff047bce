"""NMS's depth rule (``sensor.nms_depth_gap``) on the real video with the default model.

Below the model's own score threshold, NMS keeps a box whose bottom edge lies apart from the
suppressing box's (a person in front of or behind another). At or above that threshold the output
must stay plain NMS, so precision at the model's defaults cannot change.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesight.core.config import parse_config
from edgesight.core.config.sensor import DEFAULT_NMS_DEPTH_GAP
from edgesight.core.detections import Detections
from edgesight.core.intrinsics import Thresholds
from edgesight.core.package import ModelPackage
from edgesight.sensor.pipeline import Sensor, SensorSettings
from edgesight.sensor.sources import open_source
from edgesight.sensor.zoo import DEFAULT_MODEL, load_model

FRAMES = 30


def detections(video: Path, package: ModelPackage, thresholds: Thresholds | None, gap: float) -> list[Detections]:
    settings = SensorSettings(thresholds=thresholds, nms_depth_gap=gap)
    with open_source(str(video)) as source:
        return [r.detections for r in Sensor(source, package, settings).run(max_frames=FRAMES)]


def test_depth_rule_adds_boxes_only_below_the_models_score(vtest_path: Path) -> None:
    package = load_model(DEFAULT_MODEL)
    own = package.intrinsics.thresholds.score
    low = package.intrinsics.thresholds.model_copy(update={"score": 0.2})  # as examples/vtest-device.yaml
    plain = detections(vtest_path, package, low, 0.0)
    depth = detections(vtest_path, package, low, DEFAULT_NMS_DEPTH_GAP)
    for p, d in zip(plain, depth, strict=True):
        high_p, high_d = p.confidence >= own, d.confidence >= own
        np.testing.assert_array_equal(p.xyxy[high_p], d.xyxy[high_d])
        np.testing.assert_array_equal(p.class_id[high_p], d.class_id[high_d])
    added = sum(len(d) for d in depth) - sum(len(p) for p in plain)
    assert added >= FRAMES  # people in depth are everywhere on the walkway


def test_depth_rule_changes_nothing_at_the_models_own_thresholds(vtest_path: Path) -> None:
    package = load_model(DEFAULT_MODEL)
    plain = detections(vtest_path, package, None, 0.0)
    depth = detections(vtest_path, package, None, DEFAULT_NMS_DEPTH_GAP)
    for p, d in zip(plain, depth, strict=True):
        np.testing.assert_array_equal(p.xyxy, d.xyxy)


def test_config_sets_the_depth_gap() -> None:
    thresholds = load_model(DEFAULT_MODEL).intrinsics.thresholds
    default = SensorSettings.from_config(parse_config({}), thresholds)
    off = SensorSettings.from_config(parse_config({"sensor": {"nms_depth_gap": 0}}), thresholds)
    assert default.nms_depth_gap == DEFAULT_NMS_DEPTH_GAP and off.nms_depth_gap == 0.0
