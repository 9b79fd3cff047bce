"""The default tracker: ids through crossings, occlusions and dropped frames; counts that follow."""

from __future__ import annotations

import numpy as np
import pytest

from edgesight.apps.appearance_tracker import AppearanceTracker
from edgesight.apps.engine import Analytics
from edgesight.core.config import AnalyticsConfig, TrackingConfig
from edgesight.core.detections import Detections
from edgesight.core.frame import FrameMeta, ModelRef

RED, BLUE = np.eye(2, dtype=np.float32)  # two appearance vectors as unlike as they can be


def people(xs: list[float], y: float, vectors: list[np.ndarray] | None = None) -> Detections:
    """Boxes 40 x 100 px with top-left corners at ``(x, y)``, optionally with appearance vectors."""
    det = Detections.from_arrays(
        [[x, y, x + 40, y + 100] for x in xs], [0.9] * len(xs), [0] * len(xs), ["person"] * len(xs)
    )
    return det if vectors is None else det.with_embedding(np.stack(vectors).reshape(len(xs), -1))


def id_at(out: Detections, x_min: float, x_max: float) -> int:
    """Track id of the one output box whose left edge lies in ``[x_min, x_max]``."""
    assert out.tracker_id is not None
    hits = out.tracker_id[(out.xyxy[:, 0] >= x_min) & (out.xyxy[:, 0] <= x_max)]
    assert hits.shape == (1,), f"expected one box in [{x_min}, {x_max}], got ids {hits.tolist()}"
    return int(hits[0])


def test_two_people_crossing_with_swapped_positions_keep_their_ids() -> None:
    # A walks right, B walks left, one row apart; while they overlap the detector sees only the
    # front one (B), and A's box jumps back and forth as people do. Their colours differ.
    tracker = AppearanceTracker(TrackingConfig(min_hits=2))
    ids_a, ids_b = set(), set()
    for i in range(40):
        xa, xb = 100 + 8 * i, 420 - 8 * i
        dets = people([xb], 210, [BLUE]) if 18 <= i <= 21 else people([xa, xb], 200, [RED, BLUE])
        out = tracker.update(dets, i / 10)
        if i >= 2 and not 16 <= i <= 23:
            ids_a.add(id_at(out, xa - 1, xa + 1))
            ids_b.add(id_at(out, xb - 1, xb + 1))
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b


def test_colours_keep_ids_apart_where_motion_alone_swaps_them() -> None:
    # Two people meet, stop side by side, and leave the way they came: motion predicts they keep
    # walking through each other, so IoU alone hands each id to the other person.
    def run(with_colour: bool) -> tuple[set[int], set[int]]:
        tracker = AppearanceTracker(TrackingConfig(min_hits=1))
        left, right = set(), set()
        path = [*range(0, 10), *([10] * 2), *range(9, -1, -1)]
        for i, step in enumerate(path):
            xa, xb = 200 + 6 * step, 300 - 6 * step
            dets = people([xa, xb], 200, [RED, BLUE] if with_colour else None)
            out = tracker.update(dets, i / 10)
            left.add(id_at(out, xa - 1, xa + 1))
            right.add(id_at(out, xb - 1, xb + 1))
        return left, right

    left, right = run(with_colour=True)
    assert len(left) == 1 and len(right) == 1 and left != right
    left, right = run(with_colour=False)
    assert len(left) > 1 and len(right) > 1  # the motion-only baseline does swap


def hidden_for_two_seconds(tracker: AppearanceTracker, fps: int) -> list[int]:
    """Ids of a person walking at 60 px/s who spends seconds 2-4 behind a pillar, at ``fps``."""
    seen = []
    for i in range(6 * fps):
        t = i / fps
        x = 100 + 60 * t
        out = tracker.update(people([x], 200, [RED]) if not 2 <= t < 4 else Detections.empty(), t)
        if len(out):
            seen.append(id_at(out, x - 1, x + 1))
    return seen


@pytest.mark.parametrize("fps", [10, 25, 30])
def test_a_person_hidden_for_two_seconds_behind_an_obstacle_keeps_the_id(fps: int) -> None:
    # The default memory is in seconds (max_lost_s: 3), so it holds at any frame rate.
    seen = hidden_for_two_seconds(AppearanceTracker(TrackingConfig(min_hits=2)), fps)
    assert set(seen) == {1}
    assert len(seen) == 4 * fps - 1  # every visible frame but the first (min_hits=2)


def test_max_lost_frames_counts_frames_whatever_the_rate() -> None:
    # 30 frames are 3 s at 10 fps but 1 s at 30 fps: the person comes back as someone new.
    assert set(hidden_for_two_seconds(AppearanceTracker(TrackingConfig(max_lost_frames=30, min_hits=2)), 10)) == {1}
    assert set(hidden_for_two_seconds(AppearanceTracker(TrackingConfig(max_lost_frames=30, min_hits=2)), 30)) == {1, 2}


@pytest.mark.parametrize("fps", [10, 30])
def test_a_person_who_turns_round_and_is_hidden_beside_someone_keeps_the_id(fps: int) -> None:
    # P walks right showing their front (RED) for 1.2 s, turns (half RED, half BLUE) for 0.2 s, then
    # shows their back (BLUE). At 1.7 s P is hidden for 0.2 s just beside Q, who stands still and
    # wears RED like P's front, and reappears still showing BLUE. A single averaged colour is still
    # mostly RED when the BLUE back appears (so P gets a new id, and a RED bystander looks like P);
    # the gallery of recent looks holds the turn and the back, at either frame rate.
    turning = (RED + BLUE) / np.sqrt(2)
    tracker = AppearanceTracker(TrackingConfig(min_hits=2))
    ids_p, ids_q = set(), set()
    for i in range(round(2.6 * fps)):
        t = i / fps
        xp, xq = 100 + 50 * t, 230
        look = RED if t < 1.2 else turning if t < 1.4 else BLUE
        hidden = 1.7 <= t < 1.9
        dets = people([xq], 200, [RED]) if hidden else people([xp, xq], 200, [look, RED])
        out = tracker.update(dets, t)
        if t >= 0.2:
            ids_q.add(id_at(out, xq - 1, xq + 1))
            if not hidden:
                ids_p.add(id_at(out, xp - 1, xp + 1))
    assert len(ids_p) == 1 and len(ids_q) == 1 and ids_p != ids_q


@pytest.mark.parametrize("method", ["edgesight", "bytetrack"])
def test_dropped_frames_keep_ids_and_counts(method: str) -> None:
    # Every third frame is missing from the stream (timestamps show the gaps). Two people cross a
    # door line in opposite directions, one row apart, both walking 12 px per frame.
    config = AnalyticsConfig.model_validate(
        {
            "tracking": {"min_hits": 2, "method": method},
            "lines": [{"name": "door", "start": [0.5, 0.0], "end": [0.5, 1.0], "min_frames_on_side": 2}],
        }
    )
    engine = Analytics(config, "cam", "main")
    ids_a, ids_b = set(), set()
    for i in range(60):
        if i % 3 == 2:
            continue
        xa, xb = 40 + 12 * i, 720 - 12 * i
        dets = Detections.merge([people([xa], 100, [RED]), people([xb], 300, [BLUE])])
        meta = FrameMeta("cam", "main", i, i, 1000 + i / 10, ModelRef("m", "1"), (800, 600), dets)
        out = engine.update(meta).frame.detections
        if len(out) == 2:
            ids_a.add(id_at(out, xa - 1, xa + 1))
            ids_b.add(id_at(out, xb - 1, xb + 1))
    counts = engine.counts()["lines"]["door"]
    if method == "edgesight":
        assert len(ids_a) == 1 and len(ids_b) == 1
    assert counts == {"in": {"person": 1}, "out": {"person": 1}}


def test_someone_walking_in_fast_keeps_the_id_over_a_frame_dropped_just_after_they_appear() -> None:
    # 18 px a frame, boxes 40 px wide. The Kalman filter starts at rest and after two frames has
    # learnt a fraction of that speed; over a two-frame gap its prediction falls short by more than
    # a box width, so the walker was born again under a new id (vtest.avi frame 660). A new track
    # takes its velocity from its first two observations instead.
    tracker = AppearanceTracker(TrackingConfig(min_hits=2))
    arrived = [0, 1, 3, 4, 6, 7]  # every third frame missing
    outs = [tracker.update(people([700 - 18 * i], 100), i / 10) for i in arrived]
    assert [o.tracker_id.tolist() for o in outs if o.tracker_id is not None] == [[], [1], [1], [1], [1], [1]]


def test_without_appearance_vectors_it_tracks_on_motion_alone() -> None:
    tracker = AppearanceTracker(TrackingConfig(min_hits=1))
    outs = [tracker.update(people([100 + 5 * i], 100), i / 10) for i in range(5)]
    assert [o.tracker_id.tolist() for o in outs if o.tracker_id is not None] == [[1]] * 5


def test_a_track_lost_at_the_frame_edge_has_left_and_expires_early() -> None:
    tracker = AppearanceTracker(TrackingConfig(min_hits=1, max_lost_frames=30))
    for i in range(5):  # walking out through the right edge of an 800 px frame
        tracker.update(people([740 + 4 * i], 100), i / 10, frame_size=(800, 600))
    for i in range(5, 15):
        tracker.update(Detections.empty(), i / 10, frame_size=(800, 600))
    assert tracker.num_tracks == 0


def test_track_counts_report_tracked_and_lost() -> None:
    tracker = AppearanceTracker(TrackingConfig(min_hits=1))
    tracker.update(people([100, 300], 100), 0.0)
    tracker.update(people([100], 100), 0.1)
    assert tracker.track_counts() == {"tracked": 1, "lost": 1}


def test_a_crossing_hidden_by_an_occlusion_counts_once_and_says_it_was_inferred() -> None:
    # The person is lost west of the door and re-found east of it, under the same id.
    config = AnalyticsConfig.model_validate(
        {"tracking": {"min_hits": 2}, "lines": [{"name": "door", "start": [0.5, 0.0], "end": [0.5, 1.0]}]}
    )
    engine = Analytics(config, "cam", "main")
    events = []
    for i in range(50):
        x = 100 + 10 * i  # the box's centre passes x = 400 at i = 28
        dets = people([x], 200, [RED]) if not 22 <= i < 34 else Detections.empty()
        meta = FrameMeta("cam", "main", i, i, i / 10, ModelRef("m", "1"), (800, 600), dets)
        events += engine.update(meta).events
    assert [(e.properties["direction"], e.properties["inferred"], e.properties["gap_frames"]) for e in events] == [
        ("out", True, 12)  # walking right across a line drawn downwards: its right-to-left side
    ]
    assert engine.quality()["lines"] == {"door": {"crossings": 1, "inferred": 1, "suppressed": 0}}


@pytest.mark.parametrize(("buffer", "ids"), [(3.0, {1}), (0.0, {1, 2})])
def test_someone_missed_while_speeding_up_keeps_the_id_through_the_widening_match(
    buffer: float, ids: set[int]
) -> None:
    # 12 px a frame, then three frames without a detection while the walker speeds up to 20: the
    # prediction is 32 px behind a 40 px box (IoU 0.11). Widened by 1.2 of their size a side
    # (motion_buffer 3 x 0.4 s unseen), the boxes overlap; the colours agree, so the walker keeps
    # the id.
    tracker = AppearanceTracker(TrackingConfig(min_hits=1, motion_buffer=buffer))
    seen = set()
    for i in range(18):
        x = 100 + 12 * i if i < 10 else 208 + 20 * (i - 9)
        out = tracker.update(people([x], 200, [RED]) if not 10 <= i < 13 else Detections.empty(), i / 10)
        if len(out):
            seen.add(id_at(out, x - 1, x + 1))
    assert seen == ids


@pytest.mark.parametrize(("look", "same"), [(RED, True), (np.array([1.0, 1.0], np.float32) / np.sqrt(2), False)])
def test_a_match_only_the_widening_makes_needs_the_looks_to_agree(look: np.ndarray, same: bool) -> None:
    # A person in red stands at x 100; then a box appears 40 px to the right, touching theirs (plain
    # IoU 0, widened 0.23). In red it is them, a step aside; in colours only 0.71 alike (enough for a
    # box that overlaps plainly, not for one only the widening reaches) it is someone else.
    tracker = AppearanceTracker(TrackingConfig(min_hits=1))
    for i in range(5):
        out = tracker.update(people([100], 200, [RED]), i / 10)
    first = id_at(out, 99, 101)
    out = tracker.update(people([140], 200, [look]), 0.5)
    assert (out.tracker_id is not None and out.tracker_id.tolist() == [first]) is same


def test_without_a_clock_a_lost_track_is_kept_thirty_frames() -> None:
    # Timestamps that never advance give no frame rate to turn max_lost_s into frames: memory stays bounded.
    tracker = AppearanceTracker(TrackingConfig(min_hits=1))
    for _ in range(5):
        tracker.update(people([100], 200), 0.0)
    for k in range(1, 32):
        tracker.update(Detections.empty(), 0.0)
        assert tracker.num_tracks == (1 if k <= 30 else 0)
