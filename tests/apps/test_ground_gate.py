"""The tracker's ground-speed gate, in a perspective scene built from a floor calibration.

The camera of the scene: 4 m above the floor, focal length 500 px, horizon at row 100 of an
800 x 600 frame. A point ``X`` m to the side and ``D`` m ahead is seen at
``x = 400 + 500 X / D``, ``y = 100 + 2000 / D``; a person 1.7 m tall is ``850 / D`` px high.
The calibration holds four floor points of that camera, so its homography is the camera's own.
"""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from edgesight.apps.appearance_tracker import AppearanceTracker
from edgesight.apps.engine import Analytics
from edgesight.apps.ground_gate import GroundGate
from edgesight.core.config import AnalyticsConfig, CalibrationConfig, TrackingConfig
from edgesight.core.detections import Detections
from edgesight.core.frame import FrameMeta, ModelRef

FRAME = (800, 600)
CALIBRATION = {
    "image_points": [[0.25, 500 / 600], [0.75, 500 / 600], [0.75, 200 / 600], [0.25, 200 / 600]],
    "ground_points_m": [[-2, 5], [2, 5], [8, 20], [-8, 20]],
}
LOOK = np.ones((1, 2), np.float32) / np.sqrt(2)  # everyone dressed alike: colour cannot tell them apart


def person(x_m: float, d_m: float, height_m: float = 1.7) -> list[float]:
    """The box of a person standing ``x_m`` to the side and ``d_m`` ahead of the camera."""
    x, foot, h = 400 + 500 * x_m / d_m, 100 + 2000 / d_m, 500 * height_m / d_m
    return [x - 0.2 * h, foot - h, x + 0.2 * h, foot]


def frame(boxes: list[list[float]]) -> Detections:
    n = len(boxes)
    det = Detections.from_arrays(np.reshape(boxes, (n, 4)), [0.9] * n, [0] * n, ["person"] * n)
    return det.with_embedding(np.repeat(LOOK, n, axis=0))


def ids_of(out: Detections, box: list[float]) -> list[int]:
    """Track ids of the output boxes equal to ``box``."""
    assert out.tracker_id is not None
    same = np.all(np.abs(out.xyxy - np.asarray(box, np.float32)) < 0.01, axis=1)
    return out.tracker_id[same].tolist()


def near_and_far_ids(calibrated: bool) -> tuple[set[int], set[int]]:
    """Ids given to a near walker (6 m ahead) hidden for 4 frames and to a person 2 m behind her.

    The far person steps into view while the walker is hidden, right where the walker's box is
    predicted, so in the image the two boxes overlap (IoU 0.24); on the floor they are 2 m apart.
    """
    floor = {"calibration": CALIBRATION, "tracking": {"min_hits": 2, "max_ground_speed_mps": 4.0}}
    config = floor if calibrated else {"tracking": {"min_hits": 2}}
    engine = Analytics(AnalyticsConfig.model_validate(config), "cam", "main")
    walker_ids: set[int] = set()
    far_ids: set[int] = set()
    far = person(-0.4, 8.0)
    for i in range(25):  # 10 fps, walking 1.2 m/s to the right
        walker = person(-1.5 + 0.12 * i, 6.0)
        boxes = ([] if 10 <= i < 14 else [walker]) + ([far] if i >= 10 else [])
        meta = FrameMeta("cam", "main", i, i, 100 + i / 10, ModelRef("m", "1"), FRAME, frame(boxes))
        out = engine.update(meta).frame.detections
        walker_ids.update(ids_of(out, walker))
        far_ids.update(ids_of(out, far))
    return walker_ids, far_ids


def test_people_overlapping_in_the_image_but_metres_apart_on_the_floor_keep_their_ids() -> None:
    walker, far = near_and_far_ids(calibrated=True)
    assert len(walker) == 1 and len(far) == 1 and walker != far
    # Without a calibration the hidden walker's track takes the far person's box (the image
    # cannot tell them apart) and the walker comes back under a new id.
    walker, far = near_and_far_ids(calibrated=False)
    assert len(walker) == 2 and walker & far


@pytest.mark.parametrize("gap", ["hidden", "frames dropped"])
@pytest.mark.parametrize(("limit", "keeps_id"), [(4.0, True), (0.5, False)])
def test_a_track_refound_within_the_speed_limit_keeps_its_id_beyond_it_does_not(
    gap: str, limit: float, keeps_id: bool
) -> None:
    # 1.5 m/s across the view 6 m ahead, unseen for 1 s: 1.65 m from the last sighting when
    # re-found, where the motion model expects her. 4 m/s allows that; 0.5 m/s does not.
    calibration = CalibrationConfig.model_validate(CALIBRATION)
    tracker = AppearanceTracker(TrackingConfig(min_hits=2, max_ground_speed_mps=limit), calibration)
    ids = []
    for i in range(30):
        unseen = 10 <= i < 20
        if unseen and gap == "frames dropped":
            continue
        box = person(-2.0 + 0.15 * i, 6.0)
        out = tracker.update(frame([] if unseen else [box]), i / 10, FRAME)
        ids += ids_of(out, box)
    assert len(set(ids[:8])) == 1  # tracked from the second frame on, within any limit
    assert (len(set(ids)) == 1) is keeps_id


@pytest.mark.parametrize(
    ("calibrated", "to_x", "keeps_id"), [(True, -0.5, True), (False, -0.5, False), (True, 3.0, False)]
)
def test_re_identification_reaches_as_far_as_the_floor_allows(
    calibrated: bool, to_x: float, keeps_id: bool
) -> None:
    # Standing 6 m ahead, unseen for 1.1 s, then seen again 2.5 m (208 px, 1.5 box heights) to
    # the side: a run, within 4 m/s, though beyond the 1.05 box heights that the image alone
    # allows after 1.1 s. 6 m in that time is beyond the limit.
    calibration = CalibrationConfig.model_validate(CALIBRATION) if calibrated else None
    # The widening match (motion_buffer) would find her in the first stage whatever the reach:
    # this is about how far the re-identification stage reaches.
    tracker = AppearanceTracker(
        TrackingConfig(min_hits=2, reid_similarity=0.9, max_ground_speed_mps=4.0, motion_buffer=0.0), calibration
    )
    ids = []
    for i in range(30):
        box = person(-3.0 if i < 10 else to_x, 6.0)
        out = tracker.update(frame([] if 10 <= i < 20 else [box]), i / 10, FRAME)
        ids += ids_of(out, box)
    assert (len(set(ids)) == 1) is keeps_id


def test_a_box_cut_short_by_an_occluder_is_not_taken_for_someone_far_away() -> None:
    # The same person with her legs hidden: the box's bottom edge projects 2 m further away, but
    # her head is where it was. A whole person 2 m further away with the same top is refused.
    gate = GroundGate(CalibrationConfig.model_validate(CALIBRATION), max_speed_mps=4.0)
    whole = np.array([person(0.0, 6.0)])
    legs_hidden = whole.copy()
    legs_hidden[0, 3] = 100 + 2000 / 8.0  # cut at the foot row of a point 8 m ahead
    further = np.array([person(0.0, 8.0)])
    r = gate.reach_of(whole, whole, np.concatenate([legs_hidden, further]), np.array([0.1]), FRAME)
    assert r.too_far.tolist() == [[False, True]]
    assert r.distance[0, 1] == pytest.approx(2.0, abs=0.01)


def test_without_a_calibration_the_speed_limit_changes_nothing() -> None:
    def run(config: TrackingConfig) -> list[list[int]]:
        tracker = AppearanceTracker(config)
        out = []
        for i in range(25):
            walker = person(-1.5 + 0.12 * i, 6.0)
            boxes = ([] if 10 <= i < 14 else [walker]) + ([person(-0.4, 8.0)] if i >= 10 else [])
            tracked = tracker.update(frame(boxes), i / 10, FRAME)
            out.append(tracked.tracker_id.tolist() if tracked.tracker_id is not None else [])
        return out

    assert run(TrackingConfig(min_hits=2)) == run(TrackingConfig(min_hits=2, max_ground_speed_mps=0.1))


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf")])
def test_the_speed_limit_must_be_positive_and_finite(value: float) -> None:
    with pytest.raises(ValidationError, match="max_ground_speed_mps"):
        TrackingConfig(max_ground_speed_mps=value)


@pytest.mark.parametrize(
    ("tracking", "rebuilt"),
    [({"max_ground_speed_mps": 4.0}, True), ({}, False), ({"method": "bytetrack", "max_ground_speed_mps": 4.0}, False)],
)
def test_a_calibration_change_gives_a_tracker_that_gates_on_the_floor_anew(
    tracking: dict[str, object], rebuilt: bool
) -> None:
    # Without the gate (off, or bytetrack) the tracker does not use the calibration: ids survive.
    engine = Analytics(AnalyticsConfig.model_validate({"tracking": tracking}), "cam", "main")
    tracker = engine.tracker
    engine.reconfigure(AnalyticsConfig.model_validate({"tracking": tracking}))
    assert engine.tracker is tracker
    engine.reconfigure(AnalyticsConfig.model_validate({"tracking": tracking, "calibration": CALIBRATION}))
    assert (engine.tracker is not tracker) is rebuilt
