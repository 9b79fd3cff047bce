"""Zones: inertia against flicker, enter/exit with side, dwell, counts on change and on interval."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgesight.apps.zones import ZoneCounter
from edgesight.core.config import ZoneConfig
from edgesight.core.detections import Detections
from edgesight.core.events import Event, EventType, FrameContext, Trigger

SIZE = (1000, 1000)
SHOP = ZoneConfig(name="shop", polygon=[(0.2, 0.2), (0.6, 0.2), (0.6, 0.6), (0.2, 0.6)], inertia_frames=3)


def obj(x: float, y: float, track_id: int, class_name: str = "person") -> Detections:
    """A box whose bottom centre is (x, y) in pixels."""
    return Detections.from_arrays([[x - 20, y - 80, x + 20, y]], [0.9], [0], [class_name], [track_id])


def run(counter: ZoneCounter, frames: Sequence[Detections], fps: float = 10.0, start: int = 0) -> list[Event]:
    events: list[Event] = []
    for k, dets in enumerate(frames):
        i = start + k
        events += counter.update(dets, FrameContext("cam", "main", i, 1000 + i / fps, SIZE))
    return events


def kinds(events: Sequence[Event]) -> list[str]:
    return [e.type.value for e in events]


def test_flicker_shorter_than_inertia_never_enters() -> None:
    counter = ZoneCounter([SHOP])
    xs = [100, 300, 300, 100, 300, 100, 300, 300, 100, 100]  # at most 2 frames inside in a row
    assert run(counter, [obj(x, 400, 1) for x in xs]) == []
    assert counter.counts() == {"shop": {}}


def test_enter_after_inertia_frames_with_the_edge_crossed() -> None:
    counter = ZoneCounter([SHOP])
    events = run(counter, [obj(x, 400, 1) for x in (100, 150, 250, 300, 350)])
    assert kinds(events) == ["zone_enter", "zone_count"]
    enter, count = events
    assert enter.frame_index == 4 and enter.track_ids == (1,)
    assert enter.properties == {"side": 3}  # through the left edge (points 3 -> 0)
    assert count.properties == {"count": 1, "counts_by_class": {"person": 1}} and count.trigger is Trigger.EVENT


def test_exit_after_inertia_reports_dwell_in_ms_and_frames() -> None:
    zone = SHOP.model_copy(update={"min_dwell_s": 2.0})
    counter = ZoneCounter([zone])
    xs = [100] * 2 + [300] * 40 + [700] * 5  # inside from frame 2 to 41 (4.0 s at 10 fps)
    events = run(counter, [obj(x, 400, 9) for x in xs])
    exit_event = next(e for e in events if e.type is EventType.ZONE_EXIT)
    dwell = next(e for e in events if e.type is EventType.DWELL)
    assert exit_event.properties["dwell_ms"] == 4000 and exit_event.properties["dwell_frames"] == 40
    assert exit_event.properties["side"] == 1 and exit_event.properties["lost"] is False
    assert dwell.properties == {"dwell_ms": 4000, "dwell_frames": 40, "min_dwell_ms": 2000}


def test_short_stays_are_not_dwell_events() -> None:
    counter = ZoneCounter([SHOP.model_copy(update={"min_dwell_s": 10.0})])
    events = run(counter, [obj(x, 400, 9) for x in [300] * 20 + [700] * 5])
    assert "zone_exit" in kinds(events) and "dwell" not in kinds(events)


def test_dropouts_do_not_break_the_stay_and_lost_tracks_exit_on_expiry() -> None:
    counter = ZoneCounter([SHOP], ttl_frames=10)
    none = Detections.empty().with_tracker_id(np.zeros(0))
    frames = [obj(300, 400, 4)] * 5 + [none] * 3 + [obj(300, 400, 4)] * 5 + [none] * 12
    events = run(counter, frames)
    assert kinds(events).count("zone_enter") == 1
    exit_event = next(e for e in events if e.type is EventType.ZONE_EXIT)
    assert exit_event.properties["lost"] is True and exit_event.properties["dwell_frames"] == 12
    assert counter.num_tracks == 0 and counter.counts() == {"shop": {}}


def test_class_filter_and_several_zones() -> None:
    zones = [
        SHOP.model_copy(update={"classes": ["person"]}),
        ZoneConfig(name="yard", polygon=[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)], classes=["car"],
                   inertia_frames=1),
        ZoneConfig(name="all", polygon=[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)], inertia_frames=1),
    ]
    counter = ZoneCounter(zones)
    frame = Detections.merge([obj(300, 400, 1), obj(310, 420, 2, "car"), obj(800, 800, 3)])
    run(counter, [frame] * 4)
    assert counter.counts() == {"shop": {"person": 1}, "yard": {"car": 1}, "all": {"car": 1, "person": 2}}


def test_interval_counts_are_periodic() -> None:
    zone = SHOP.model_copy(update={"count_trigger": Trigger.INTERVAL, "count_interval_s": 1.0})
    counter = ZoneCounter([zone])
    events = run(counter, [obj(300, 400, 1)] * 35)  # 3.5 s at 10 fps
    counts = [e for e in events if e.type is EventType.ZONE_COUNT]
    assert [e.frame_index for e in counts] == [0, 10, 20, 30]
    assert all(e.trigger is Trigger.INTERVAL for e in counts)
    assert [e.properties["count"] for e in counts] == [0, 1, 1, 1]


def test_input_is_not_mutated() -> None:
    counter = ZoneCounter([SHOP])
    dets = obj(300, 400, 1)
    before = dets.xyxy.copy()
    run(counter, [dets] * 5)
    assert np.array_equal(dets.xyxy, before) and dets.tracker_id is not None and dets.tracker_id.tolist() == [1]


def test_a_track_continued_under_a_new_id_stays_in_the_zone_once() -> None:
    counter = ZoneCounter([SHOP], ttl_frames=31)
    lost = [obj(x, 400, 1) for x in (100, 150, 250, 300, 320, 340)]  # enters at frame 4 (streak from 2)
    gap = [Detections.empty().with_tracker_id(np.zeros(0))] * 3
    found = [obj(360, 400, 2)] * 10 + [obj(700, 400, 2)] * 4  # 0.4 s later, 0.25 box heights on: id 2
    events = run(counter, lost + gap + found)
    assert [(e.type.value, e.track_ids) for e in events if e.type is not EventType.ZONE_COUNT] == [
        ("zone_enter", (1,)), ("zone_exit", (2,)), ("dwell", (2,)),
    ]  # fmt: skip
    exit_event = next(e for e in events if e.type is EventType.ZONE_EXIT)
    assert exit_event.properties["dwell_frames"] == 19 - 2 and exit_event.properties["lost"] is False
    counts = [e.properties["count"] for e in events if e.type is EventType.ZONE_COUNT]
    assert counts == [1, 0]
    assert run(counter, gap * 12, start=len(lost + gap + found)) == []  # id 1 expires without a lost exit


def test_a_continued_track_found_again_by_the_tracker_counts_again() -> None:
    counter = ZoneCounter([SHOP])
    inside = [obj(x, 400, 1) for x in (300, 310, 320, 330)]
    gap = [Detections.empty().with_tracker_id(np.zeros(0))] * 2
    both = [Detections.merge([obj(345, 400, 1), obj(350, 400, 2)])] * 4  # 2 continued 1, then 1 is back
    events = run(counter, inside + gap + [obj(350, 400, 2)] + both)
    assert counter.counts() == {"shop": {"person": 2}}
    assert [e.properties["count"] for e in events if e.type is EventType.ZONE_COUNT] == [1, 2]
    # 2 was someone else: it enters when 1 is back (frame 7), as a track first seen inside does,
    # and its stay runs from its own first sighting (frame 6), not from 1's entry.
    enters = [(e.track_ids, e.frame_index, e.properties) for e in events if e.type is EventType.ZONE_ENTER]
    assert enters == [((1,), 2, {"side": None}), ((2,), 7, {"side": None})]
    leave = [obj(700, 400, 2)] * 3
    exits = [e for e in run(counter, leave, start=11) if e.type is EventType.ZONE_EXIT]
    assert [(e.track_ids, e.properties["dwell_frames"]) for e in exits] == [((2,), 11 - 6)]


def test_a_wrong_continuation_outside_the_zone_is_dropped_without_an_exit() -> None:
    counter = ZoneCounter([SHOP])
    inside = [obj(x, 400, 1) for x in (560, 570, 580, 590)]  # near the right edge of the shop
    gap = [Detections.empty().with_tracker_id(np.zeros(0))] * 2
    stranger = [obj(630, 400, 2)]  # just outside, where 1 was lost: it continues 1's membership
    both = [Detections.merge([obj(590, 400, 1), obj(640, 400, 2)])] * 2  # 1 is back inside
    events = run(counter, inside + gap + stranger + both)
    assert counter.counts() == {"shop": {"person": 1}}
    assert not [e for e in events if e.type is EventType.ZONE_EXIT and e.track_ids == (2,)]
    counts = [(e.properties["count"], e.track_ids) for e in events if e.type is EventType.ZONE_COUNT]
    assert counts == [(1, (1,)), (1, (1,))]  # the second when 1 is back: 2 had stood in for it
