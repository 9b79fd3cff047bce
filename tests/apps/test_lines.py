"""Line crossings: the known pains (flicker, lost ids, several lines, per class) on synthetic tracks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from edgesight.apps.lines import LineCounter
from edgesight.core.config import LineConfig
from edgesight.core.config.stitch import StitchConfig
from edgesight.core.detections import Detections
from edgesight.core.errors import InputError
from edgesight.core.events import Event, EventType, FrameContext

SIZE = (1000, 1000)
DOOR = LineConfig(name="door", start=(0.1, 0.5), end=(0.9, 0.5))  # drawn left to right: "in" = downwards
WIDE_DOOR = LineConfig(name="door", start=(0.0, 0.5), end=(1.0, 0.5))  # reaches the frame's sides
NO_STITCH = StitchConfig(window_s=0)
NOBODY = Detections.empty().with_tracker_id(np.zeros(0))


def person(x: float, bottom: float, track_id: int, class_name: str = "person") -> Detections:
    return Detections.from_arrays([[x - 20, bottom - 100, x + 20, bottom]], [0.9], [0], [class_name], [track_id])


def run(counter: LineCounter, frames: Sequence[Detections], start: int = 0, fps: float = 10.0) -> list[Event]:
    events: list[Event] = []
    for k, dets in enumerate(frames):
        i = start + k
        events += counter.update(dets, FrameContext("cam", "main", i, 100 + i / fps, SIZE))
    return events


def test_straight_crossing_counts_once_with_direction_and_event_shape() -> None:
    counter = LineCounter([DOOR])
    events = run(counter, [person(500, y, 1) for y in range(300, 701, 20)])
    assert len(events) == 1
    e = events[0]
    assert e.type is EventType.LINE_CROSSING and e.rule == "door" and e.track_ids == (1,)
    assert e.properties["direction"] == "in" and e.properties["status"] == "CrossRight"
    assert e.properties["point"] == [0.5, 0.5]
    assert counter.counts() == {"door": {"in": {"person": 1}, "out": {}}}


def test_opposite_direction_is_out() -> None:
    counter = LineCounter([DOOR])
    run(counter, [person(500, y, 1) for y in range(700, 299, -20)])
    assert counter.counts() == {"door": {"in": {}, "out": {"person": 1}}}


def test_box_jittering_over_the_line_20_times_counts_once() -> None:
    counter = LineCounter([DOOR])
    approach = [person(500, y, 7) for y in range(400, 491, 10)]
    jitter = [person(500, 490 if k % 2 else 510, 7) for k in range(40)]  # 20 back-and-forth flips
    leave = [person(500, y, 7) for y in range(520, 700, 10)]
    events = run(counter, approach + jitter + leave)
    assert [e.properties["direction"] for e in events] == ["in"]
    assert counter.counts()["door"] == {"in": {"person": 1}, "out": {}}


def test_person_standing_on_the_line_and_swaying_across_it_counts_once() -> None:
    # Feet 7 px either side of the line for 4 frames at a time (box height 100): each side is held
    # longer than min_frames_on_side, so only the dead band (0.1 box heights) tells it from crossings.
    approach = [person(500, y, 5) for y in range(400, 481, 20)]
    sway = [person(500, 493 if (k // 4) % 2 else 507, 5) for k in range(40)]
    leave = [person(500, y, 5) for y in range(520, 700, 20)]
    counter = LineCounter([DOOR])
    events = run(counter, approach + sway + leave)
    assert [e.properties["direction"] for e in events] == ["in"]
    without_band = LineCounter([DOOR.model_copy(update={"dead_band": 0.0})])
    swayed = [e.properties["direction"] for e in run(without_band, approach + sway + leave)]
    assert swayed[:3] == ["in", "out", "in"] and len(swayed) > 3


def test_dead_band_scales_with_the_box_and_counts_a_crossing_where_it_crossed() -> None:
    # A short line of a wide frame, in pixels: 12 px from the line is inside the band of a 200 px
    # tall person (0.1 -> 20 px) and outside that of a 100 px one (10 px).
    line = LineConfig(name="door", start=(0.5, 0.0), end=(0.5, 1.0))  # vertical, "in" = leftwards
    size = (2000, 500)

    def walker(height: int, xs: Sequence[int]) -> list[Detections]:
        boxes = [[x - 20, 400 - height, x + 20, 400] for x in xs]
        return [Detections.from_arrays([box], [0.9], [0], ["person"], [1]) for box in boxes]

    def crossings(frames: list[Detections]) -> list[Event]:
        counter = LineCounter([line])
        contexts = [FrameContext("c", "m", i, i / 10, size) for i in range(len(frames))]
        return [e for d, context in zip(frames, contexts, strict=True) for e in counter.update(d, context)]

    # The line is at x = 1000: walk up to it from the west, step 12 px over it, hold, walk back.
    there_and_back = [900, 920, 940, 960, 1012, 1012, 1012, 1012, 960, 940, 920, 900]
    assert crossings(walker(200, there_and_back)) == []  # the step never left the band
    stepped = crossings(walker(100, there_and_back))
    assert [e.properties["direction"] for e in stepped] == ["out", "in"]  # over and back again
    events = crossings(walker(100, [900, 920, 960, 995, 1005, 1040, 1060, 1080, 1100]))
    assert [e.properties["direction"] for e in events] == ["out"]
    # When and where the feet went over the line (frame 4, at 1005 px), not where they left the band
    assert events[0].properties["crossed_frame_index"] == 4
    assert events[0].properties["point"] == [0.5, 0.8]


def test_real_back_and_forth_with_holding_counts_both_ways() -> None:
    counter = LineCounter([DOOR])
    ys = [400] * 4 + [600] * 4 + [400] * 4 + [600] * 4
    events = run(counter, [person(500, y, 2) for y in ys])
    assert [e.properties["direction"] for e in events] == ["in", "out", "in"]


def test_passing_beside_the_segment_is_not_a_crossing() -> None:
    counter = LineCounter([DOOR])
    assert run(counter, [person(50, y, 3) for y in range(300, 701, 20)]) == []  # x=0.05 < start x=0.1


def test_track_born_on_the_far_side_cannot_cross() -> None:
    counter = LineCounter([DOOR])
    assert run(counter, [person(500, y, 4) for y in range(510, 700, 10)]) == []


def test_track_first_reported_a_step_before_the_line_counts_its_crossing() -> None:
    # The tracker reports a track once confirmed (min_hits frames), so a person who walks in from
    # behind an obstacle or is there when the stream starts may be first reported just short of
    # the line: their first side commits at once, and the crossing counts after the usual hold.
    counter = LineCounter([DOOR])
    events = run(counter, [person(500, y, 5) for y in (480, 520, 540, 560)])
    assert [(e.track_ids, e.properties["direction"], e.properties["crossed_frame_index"]) for e in events] == [
        ((5,), "in", 1)
    ]
    # held for fewer than min_frames_on_side frames on the new side: not yet
    assert run(LineCounter([DOOR]), [person(500, y, 6) for y in (480, 520, 540)]) == []


def test_lost_track_refound_with_new_id_next_to_the_line_does_not_count_twice() -> None:
    # The rule for new ids the stitch does not link (here turned off): with the stitch, id 11 would
    # continue id 10, and its box jumping back over the line for 4 frames would count like a kept id's.
    counter = LineCounter([DOOR], stitch=NO_STITCH)
    first = [person(500, y, 10) for y in range(400, 561, 20)]  # crosses and is counted
    events = run(counter, first)
    assert len(events) == 1
    # id 10 is lost; the tracker re-finds the same person as id 11, whose box first sits on the old
    # side (the box grew upwards, its feet beyond the dead band), holds there, then settles on the
    # new side again
    refound = [person(500, 480, 11)] * 4 + [person(500, y, 11) for y in range(530, 600, 10)]
    events = run(counter, refound, start=len(first) + 5)
    assert events == []
    assert counter.counts()["door"]["in"] == {"person": 1}
    assert counter.suppressed() == {"door": 1}


def test_someone_else_crossing_at_the_same_place_later_counts() -> None:
    counter = LineCounter([DOOR])
    run(counter, [person(500, y, 10) for y in range(400, 561, 20)])
    later = [person(500, y, 12) for y in range(400, 561, 20)]
    events = run(counter, later, start=40)  # 3.2 s later > reid_window_s = 2 s
    assert len(events) == 1 and counter.counts()["door"]["in"] == {"person": 2}


def test_two_people_crossing_side_by_side_both_count() -> None:
    counter = LineCounter([DOOR])
    frames = [Detections.merge([person(500, y, 1), person(540, y, 2)]) for y in range(400, 601, 20)]
    events = run(counter, frames)
    assert sorted(e.track_ids[0] for e in events) == [1, 2]


def test_crossing_during_a_dropout_is_bridged() -> None:
    counter = LineCounter([DOOR])
    frames = [person(500, y, 5) for y in (400, 420, 440)] + [Detections.empty().with_tracker_id([])] * 5
    frames += [person(500, y, 5) for y in (600, 620, 640)]
    assert len(run(counter, frames)) == 1


def test_several_lines_per_class_and_direction() -> None:
    lines = [
        DOOR,
        LineConfig(name="gate", start=(0.6, 0.0), end=(0.6, 1.0), classes=["car"], left_to_right="east",
                   right_to_left="west", min_frames_on_side=2),
    ]
    counter = LineCounter(lines)
    frames = []
    for k in range(20):
        frames.append(Detections.merge([
            person(300, 300 + 20 * k, 1),  # walks down through the door: in
            person(400 + 20 * k, 200, 2, "car"),  # drives right across gate: moves to its left side, west
            person(900 - 20 * k, 800, 3, "car"),  # drives left across gate (below the door): east
            person(640 - 20 * k, 300, 4),  # a person crossing the gate line: not counted (class)
        ]))
    run(counter, frames)
    assert counter.counts() == {
        "door": {"in": {"person": 1}, "out": {}},
        "gate": {"east": {"car": 1}, "west": {"car": 1}},
    }


def test_state_needs_tracker_ids() -> None:
    with pytest.raises(InputError, match="tracker_id"):
        LineCounter([DOOR]).update(
            Detections.from_arrays([[0, 0, 1, 1]], [0.9], [0], ["person"]), FrameContext("c", "m", 0, 0.0, SIZE)
        )


def test_line_state_expires() -> None:
    counter = LineCounter([DOOR], ttl_frames=5)
    run(counter, [person(500, 400, i) for i in range(1, 4)])
    assert counter.num_tracks == 3
    run(counter, [Detections.empty().with_tracker_id(np.zeros(0))] * 7, start=3)
    assert counter.num_tracks == 0


def lost_and_reborn(x_lost: float, x_new: float, y_new: float = 520) -> list[Detections]:
    """Id 1 walks down towards the line and is lost above it; 0.3 s later id 2 appears at ``(x_new, y_new)``."""
    frames = [person(x_lost, y, 1) for y in range(300, 461, 20)]  # frames 0-8, last seen at y=460
    return frames + [NOBODY] * 2 + [person(x_new, y_new + 20 * k, 2) for k in range(5)]


def test_person_lost_on_one_side_and_reborn_with_a_new_id_on_the_other_counts_once() -> None:
    counter = LineCounter([DOOR], report_gaps=True)
    events = run(counter, lost_and_reborn(500, 500))  # 60 px = 0.6 box heights from where 1 was lost
    assert [(e.track_ids, e.properties["direction"]) for e in events] == [((2,), "in")]
    e = events[0]
    assert e.properties["crossed_frame_index"] == 11 and e.properties["point"] == [0.5, 0.5]
    assert e.properties["inferred"] is True and e.properties["gap_frames"] == 2
    assert counter.counts()["door"] == {"in": {"person": 1}, "out": {}}
    # counted by id alone, the crossing is lost: id 2 was born on the far side
    assert run(LineCounter([DOOR], stitch=NO_STITCH), lost_and_reborn(500, 500)) == []


def test_a_new_id_born_far_from_the_lost_track_does_not_continue_it() -> None:
    counter = LineCounter([DOOR])
    assert run(counter, lost_and_reborn(300, 700)) == []  # 4 box heights away: someone else


def test_a_new_id_after_the_stitch_window_does_not_continue_the_lost_track() -> None:
    counter = LineCounter([DOOR], stitch=StitchConfig(window_s=0.2))
    assert run(counter, lost_and_reborn(500, 500)) == []  # lost for 0.3 s


def dressed(frames: list[Detections], looks: dict[int, list[float]]) -> list[Detections]:
    """``frames`` with each id's appearance vector (unit length) attached, as the sensor attaches them."""
    out = []
    for det in frames:
        assert det.tracker_id is not None
        vectors = [np.asarray(looks[int(i)]) / np.linalg.norm(looks[int(i)]) for i in det.tracker_id]
        out.append(det.with_embedding(np.reshape(vectors, (len(det), 3)).astype(np.float32)))
    return out


def test_someone_dressed_differently_does_not_continue_a_lost_track() -> None:
    # Where both carry the sensor's colour vectors, a new id whose colours clearly differ from the
    # lost track's is a stranger: no stitch, so no crossing is inferred from them.
    black, red, near_black = [1.0, 0.1, 0.0], [0.0, 0.2, 1.0], [0.95, 0.2, 0.05]
    assert run(LineCounter([DOOR]), dressed(lost_and_reborn(500, 500), {1: black, 2: red})) == []
    assert len(run(LineCounter([DOOR]), dressed(lost_and_reborn(500, 500), {1: black, 2: near_black}))) == 1
    ignore_looks = StitchConfig(min_similarity=-1.0)
    assert len(run(LineCounter([DOOR], stitch=ignore_looks), dressed(lost_and_reborn(500, 500), {1: black, 2: red}))) == 1


def test_tracks_at_the_frame_edge_are_not_stitched() -> None:
    # id 2 walks in at the left border just below where id 1 was lost: someone entering
    assert run(LineCounter([WIDE_DOOR]), lost_and_reborn(60, 25)) == []
    # id 1 walks out at the left border; id 2 appears just inside: someone else
    assert run(LineCounter([WIDE_DOOR]), lost_and_reborn(25, 60)) == []
    assert len(run(LineCounter([WIDE_DOOR]), lost_and_reborn(60, 60))) == 1  # both inside: continued


def test_two_people_lost_together_each_continue_their_own_track() -> None:
    counter = LineCounter([DOOR])
    # 1 stands above the line, 2 below it, side by side; both are lost, then found again as 4 and 3
    together = [Detections.merge([person(500, 470, 1), person(540, 530, 2)])] * 5
    found = [Detections.merge([person(545, 535, 3), person(495, 475, 4)])] * 5
    events = run(counter, [*together, NOBODY, NOBODY, *found])
    assert events == []  # pairing 4 with 2 and 3 with 1 would have counted two phantom crossings
    counter_later = LineCounter([DOOR])
    walk_on = [Detections.merge([person(545, 535 - 20 * k, 3), person(495, 475 + 20 * k, 4)]) for k in range(6)]
    events = run(counter_later, [*together, NOBODY, NOBODY, *walk_on])
    assert sorted((e.track_ids[0], e.properties["direction"]) for e in events) == [(3, "out"), (4, "in")]


def test_a_lost_track_is_continued_once() -> None:
    counter = LineCounter([DOOR])
    frames = lost_and_reborn(500, 500)
    frames[-2] = Detections.merge([frames[-2], person(520, 560, 5)])  # a third id beside 2: no track left
    frames[-1] = Detections.merge([frames[-1], person(520, 580, 5)])
    events = run(counter, frames)
    assert [e.track_ids for e in events] == [(2,)]
