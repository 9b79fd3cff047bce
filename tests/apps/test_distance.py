"""Distances and speeds on the floor through a known homography."""

from __future__ import annotations

import numpy as np
import pytest

from edgesight.apps.distance import DistanceMonitor, SpeedEstimator, floor_points
from edgesight.core.config import CalibrationConfig, DistanceConfig, SpeedConfig
from edgesight.core.detections import Detections
from edgesight.core.events import EventType, FrameContext, Trigger
from edgesight.geometry import Anchor, apply_homography

SIZE = (1000, 1000)
# a trapezoid in the image (perspective) is a 10 m x 20 m rectangle on the floor
CALIB = CalibrationConfig(
    image_points=((0.3, 0.2), (0.7, 0.2), (1.0, 1.0), (0.0, 1.0)),
    ground_points_m=((0.0, 20.0), (10.0, 20.0), (10.0, 0.0), (0.0, 0.0)),
)
H = CALIB.homography()
H_INV = np.linalg.inv(H)


def at_metres(points_m: list[tuple[float, float]], ids: list[int], names: list[str] | None = None) -> Detections:
    """Boxes whose bottom centre stands on the given floor points."""
    feet = apply_homography(H_INV, points_m) * SIZE
    xyxy = np.c_[feet[:, 0] - 15, feet[:, 1] - 60, feet[:, 0] + 15, feet[:, 1]]
    n = len(ids)
    return Detections.from_arrays(xyxy, np.full(n, 0.9), np.zeros(n), names or ["person"] * n, ids)


def ctx(i: int, fps: float = 10.0) -> FrameContext:
    return FrameContext("cam", "main", i, 500 + i / fps, SIZE)


def test_floor_points_invert_the_calibration() -> None:
    dets = at_metres([(2.0, 3.0), (7.5, 18.0)], [1, 2])
    assert np.allclose(floor_points(dets.xyxy, Anchor.BOTTOM_CENTER, SIZE, H), [[2, 3], [7.5, 18]], atol=1e-3)


def test_too_close_pair_with_known_distance() -> None:
    monitor = DistanceMonitor(DistanceConfig(min_m=1.5, anchor=Anchor.BOTTOM_CENTER), H)
    dets = at_metres([(2.0, 5.0), (3.0, 5.0), (8.0, 15.0)], [4, 5, 6])
    events = monitor.update(dets, ctx(0))
    assert len(events) == 1
    e = events[0]
    assert e.type is EventType.DISTANCE_VIOLATION and e.rule == "distance" and e.track_ids == (4, 5)
    assert e.properties["event_name"] == "TooClose" and e.properties["violation_count"] == 2
    assert e.properties["average_distance_m"] == pytest.approx(1.0, abs=0.01)
    assert e.properties["pairs"] == [[4, 5]] and e.properties["threshold_m"] == 1.5
    assert monitor.update(dets, ctx(1)) == []  # same pairs: no new event


def test_too_far_and_class_groups() -> None:
    cfg = DistanceConfig(classes_a=["person"], classes_b=["truck"], min_m=2.0, max_m=12.0,
                         anchor=Anchor.BOTTOM_CENTER)
    monitor = DistanceMonitor(cfg, H)
    dets = at_metres([(1.0, 1.0), (1.0, 2.0), (9.0, 19.0), (1.5, 1.0)], [1, 2, 3, 4],
                     ["person", "person", "truck", "person"])
    events = {e.properties["event_name"]: e for e in monitor.update(dets, ctx(0))}
    assert set(events) == {"TooFar"}  # person-person pairs are not measured
    assert events["TooFar"].properties["pairs"] == [[1, 3], [2, 3], [3, 4]]


def test_interval_trigger_repeats_while_violating() -> None:
    cfg = DistanceConfig(min_m=1.5, trigger=Trigger.INTERVAL, interval_s=1.0, anchor=Anchor.BOTTOM_CENTER)
    monitor = DistanceMonitor(cfg, H)
    dets = at_metres([(2.0, 5.0), (2.5, 5.0)], [1, 2])
    frames = [i for i in range(25) if monitor.update(dets, ctx(i))]
    assert frames == [0, 10, 20]


@pytest.mark.parametrize("heading", [(1.0, 0.0), (0.0, 1.0), (0.6, 0.8)])
def test_speed_of_an_object_walking_at_1_5_mps(heading: tuple[float, float]) -> None:
    rng = np.random.default_rng(5)
    est = SpeedEstimator(SpeedConfig(window_s=1.0, report_interval_s=1.0), H)
    events = []
    fps = 15.0
    for i in range(60):
        t = i / fps
        x, y = 2.0 + 1.5 * t * heading[0], 2.0 + 1.5 * t * heading[1]
        dets = at_metres([(x, y)], [8])
        dets = Detections.from_arrays(dets.xyxy + rng.normal(0, 1.0, (1, 4)), [0.9], [0], ["person"], [8])
        events += est.update(dets, ctx(i, fps))
    assert est.speeds()[8] == pytest.approx(1.5, abs=0.08)
    assert [e.type for e in events] == [EventType.SPEED] * len(events) and len(events) >= 3
    assert all(e.properties["speed_mps"] == pytest.approx(1.5, abs=0.1) for e in events)


def test_standing_still_is_zero_speed_and_history_expires() -> None:
    est = SpeedEstimator(SpeedConfig(window_s=1.0, min_mps=0.5), H, ttl_frames=5)
    for i in range(20):
        assert est.update(at_metres([(5.0, 5.0)], [3]), ctx(i)) == []
    assert est.speeds()[3] == pytest.approx(0.0, abs=1e-6)
    for i in range(20, 30):
        est.update(Detections.empty().with_tracker_id(np.zeros(0)), ctx(i))
    assert est.num_tracks == 0
