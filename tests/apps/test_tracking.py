"""ByteTrack-style tracker: stable ids through gaps and flicker, births, classes, bounded state."""

from __future__ import annotations

import numpy as np

from edgesight.apps.tracking import Tracker, TrackState, TrackTable
from edgesight.core.config import TrackingConfig
from edgesight.core.detections import Detections


def box(x: float, y: float, score: float = 0.9, class_name: str = "person", class_id: int = 0) -> Detections:
    return Detections.from_arrays([[x, y, x + 40, y + 100]], [score], [class_id], [class_name])


def ids(out: Detections) -> list[int]:
    assert out.tracker_id is not None
    return out.tracker_id.tolist()


def test_birth_after_min_hits_then_stable_id() -> None:
    tracker = Tracker(TrackingConfig(min_hits=3))
    outs = [tracker.update(box(100 + 5 * i, 100), i / 30) for i in range(6)]
    assert [ids(o) for o in outs] == [[], [], [1], [1], [1], [1]]


def test_id_survives_an_occlusion_shorter_than_max_lost_frames() -> None:
    tracker = Tracker(TrackingConfig(max_lost_frames=30))
    seen = []
    for i in range(60):
        dets = box(100 + 4 * i, 200) if not 20 <= i < 40 else Detections.empty()
        seen += ids(tracker.update(dets, i / 30))
    assert set(seen) == {1}
    assert tracker.states() == {1: TrackState.TRACKED}


def test_a_longer_gap_gives_a_new_id_and_the_old_track_expires() -> None:
    tracker = Tracker(TrackingConfig(max_lost_frames=5))
    for i in range(10):
        tracker.update(box(100, 100), i)
    for i in range(10, 20):
        tracker.update(Detections.empty(), i)
    assert tracker.num_tracks == 0
    outs = [ids(tracker.update(box(100, 100), i)) for i in range(20, 24)]
    assert outs[-1] == [2]


def test_low_score_flicker_keeps_the_track_through_the_second_association() -> None:
    tracker = Tracker()
    seen = []
    for i in range(40):
        score = 0.9 if i < 5 or i % 2 else 0.3  # every other frame a weak detection
        seen += ids(tracker.update(box(100 + 3 * i, 100, score), i))
    assert set(seen) == {1} and len(seen) == 38


def test_tracks_do_not_switch_class() -> None:
    tracker = Tracker(TrackingConfig(min_hits=1))
    a = ids(tracker.update(box(100, 100), 0))
    b = ids(tracker.update(box(100, 100, class_name="car", class_id=2), 1))
    assert a == [1] and b == [2]


def test_input_is_never_mutated() -> None:
    tracker = Tracker(TrackingConfig(min_hits=1))
    dets = Detections.merge([box(100, 100), box(300, 100)])
    xyxy = dets.xyxy.copy()
    out = tracker.update(dets, 0.0)
    assert dets.tracker_id is None and np.array_equal(dets.xyxy, xyxy)
    assert out is not dets and ids(out) == [1, 2]


def test_crossing_paths_keep_their_ids() -> None:
    tracker = Tracker()
    first: dict[int, int] = {}
    for i in range(80):
        a, b = box(100 + 6 * i, 300), box(580 - 6 * i, 330)  # they pass each other around i = 40
        out = tracker.update(Detections.merge([a, b]), i)
        for y, tid in zip(out.xyxy[:, 1].tolist(), ids(out), strict=True):
            walker = 0 if y == 300 else 1
            assert first.setdefault(walker, tid) == tid
    assert first == {0: 1, 1: 2}


def test_state_stays_bounded_over_10k_frames() -> None:
    rng = np.random.default_rng(7)
    tracker = Tracker(TrackingConfig(max_lost_frames=30))
    table = TrackTable(31, {"x": ((), np.float64, 0.0)})
    peak_tracks = peak_rows = 0
    objects: list[list[float]] = []
    for i in range(10_000):
        if rng.random() < 0.1 and len(objects) < 20:  # births
            objects.append([float(rng.uniform(0, 1800)), float(rng.uniform(0, 900)), 0.0])
        for o in objects:
            o[0] += 3.0
            o[2] += 1
        objects = [o for o in objects if o[2] < 150]  # each object lives 150 frames
        keep = rng.random(len(objects)) > 0.3
        xy = np.array([o[:2] for o, k in zip(objects, keep, strict=True) if k]).reshape(-1, 2)
        dets = Detections.from_arrays(np.c_[xy, xy + np.array([40, 100])], np.full(len(xy), 0.8), np.zeros(len(xy)),
                                      ["person"] * len(xy))
        out = tracker.update(dets, i / 30)
        assert out.tracker_id is not None
        table.rows(out.tracker_id, i)
        table.pop_expired(i)
        peak_tracks = max(peak_tracks, tracker.num_tracks)
        peak_rows = max(peak_rows, len(table))
    assert peak_tracks <= 60 and peak_rows <= 60
    assert tracker.states().keys() <= set(range(1, 10_000))
