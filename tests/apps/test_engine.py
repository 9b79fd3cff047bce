"""The engine end to end on synthetic walkers: exact counts, no id switches, events on the wire."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from edgesight.apps.engine import Analytics
from edgesight.core.config import AnalyticsConfig
from edgesight.core.detections import Detections
from edgesight.core.errors import SchemaError
from edgesight.core.events import Event, EventType, event_from_json, event_to_json
from edgesight.core.frame import FrameMeta, ModelRef

W, H = 1280, 720
FPS = 15.0


@dataclass
class Walker:
    """A box walking straight from ``start`` to ``end`` (pixels, bottom centre) from frame ``t0``."""

    start: tuple[float, float]
    end: tuple[float, float]
    t0: int
    speed_px: float = 5.0
    class_name: str = "person"

    def position(self, frame: int) -> tuple[float, float] | None:
        dx, dy = self.end[0] - self.start[0], self.end[1] - self.start[1]
        length = math.hypot(dx, dy)
        s = (frame - self.t0) * self.speed_px
        if s < 0 or s > length:
            return None
        return self.start[0] + dx * s / length, self.start[1] + dy * s / length


def frames(walkers: list[Walker], n: int, dropout: float, jitter_px: float, seed: int) -> list[tuple[FrameMeta, list[int]]]:
    """FrameMetas plus, per detection, the index of the walker it shows."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        boxes, names, who = [], [], []
        for k, w in enumerate(walkers):
            if w.t0 > i or i - w.t0 > 200:
                continue
            p = w.position(i)
            if p is None or rng.random() < dropout:
                continue
            x, y = p
            half_w, height = (24, 110) if w.class_name == "person" else (60, 80)
            boxes.append(np.array([x - half_w, y - height, x + half_w, y]) + rng.normal(0, jitter_px, 4))
            names.append(w.class_name)
            who.append(k)
        class_id = [0 if c == "person" else 2 for c in names]
        dets = Detections.from_arrays(np.array(boxes).reshape(-1, 4), rng.uniform(0.55, 0.95, len(names)),
                                      class_id, names)
        meta = FrameMeta("cam-1", "main", i, i, 1.7e9 + i / FPS, ModelRef("nanodet", "1"), (W, H), dets)
        out.append((meta, who))
    return out


def run(engine: Analytics, stream: list[tuple[FrameMeta, list[int]]]) -> tuple[list[Event], dict[int, set[int]]]:
    """All events, and the set of track ids each walker was given."""
    events: list[Event] = []
    ids: dict[int, set[int]] = defaultdict(set)
    for meta, who in stream:
        result = engine.update(meta)
        events += result.events
        tracked = result.frame.detections
        assert tracked.tracker_id is not None
        for box, tid in zip(tracked.xyxy, tracked.tracker_id.tolist(), strict=True):
            row = int(np.flatnonzero(np.all(meta.detections.xyxy == box, axis=1))[0])
            ids[who[row]].add(tid)
    return events, ids


LINE_CFG: dict[str, Any] = {"lines": [{"name": "door", "start": [0.05, 0.5], "end": [0.95, 0.5]}]}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_smoke_walkers_through_a_line_with_dropouts_and_jitter(seed: int) -> None:
    walkers = []
    for k in range(10):  # one lane each, alternating directions, staggered starts
        x = 120 + 115 * k
        down = k % 2 == 0
        walkers.append(Walker((x, 120) if down else (x, 690), (x, 690) if down else (x, 120), t0=7 * k,
                              speed_px=4.0 + 0.3 * k))
    engine = Analytics(AnalyticsConfig.model_validate(LINE_CFG), "cam-1", "main")
    events, ids = run(engine, frames(walkers, 260, dropout=0.3, jitter_px=2.0, seed=seed))
    assert engine.counts()["lines"] == {"door": {"in": {"person": 5}, "out": {"person": 5}}}
    crossings = [e for e in events if e.type is EventType.LINE_CROSSING]
    assert len(crossings) == 10
    assert sorted(len(v) for v in ids.values()) == [1] * 10, ids  # 0 id switches
    all_ids = [next(iter(v)) for v in ids.values()]
    assert len(set(all_ids)) == 10  # and no id shared by two walkers


def test_several_lines_and_zones_at_once_per_class() -> None:
    cfg = AnalyticsConfig.model_validate({
        "lines": [
            {"name": "door", "start": [0.05, 0.5], "end": [0.95, 0.5], "classes": ["person"]},
            {"name": "road", "start": [0.5, 0.05], "end": [0.5, 0.95], "classes": ["car"],
             "left_to_right": "westbound", "right_to_left": "eastbound"},
        ],
        "zones": [
            {"name": "left", "polygon": [[0, 0], [0.45, 0], [0.45, 1], [0, 1]], "classes": ["person"]},
            {"name": "right", "polygon": [[0.55, 0], [1, 0], [1, 1], [0.55, 1]]},
        ],
    })
    walkers = [
        Walker((200, 100), (200, 650), t0=0),  # person down through door, stays in left zone
        Walker((1100, 650), (1100, 100), t0=0),  # person up through door in the right zone
        Walker((100, 300), (1200, 300), t0=0, speed_px=8, class_name="car"),  # car eastward across road
        Walker((1200, 520), (100, 520), t0=20, speed_px=8, class_name="car"),  # car westward
    ]
    engine = Analytics(cfg, "cam-1", "main")
    events, _ = run(engine, frames(walkers, 200, dropout=0.0, jitter_px=1.0, seed=4))
    assert engine.counts()["lines"] == {
        "door": {"in": {"person": 1}, "out": {"person": 1}},
        "road": {"westbound": {"car": 1}, "eastbound": {"car": 1}},
    }
    enters = defaultdict(list)
    for e in events:
        if e.type is EventType.ZONE_ENTER:
            enters[e.rule].append(e.class_name)
    assert sorted(enters["left"]) == ["person"]  # cars pass through "left" but are filtered out
    assert sorted(enters["right"]) == ["car", "car", "person"]


def test_engine_returns_new_frames_and_leaves_input_alone() -> None:
    engine = Analytics(AnalyticsConfig.model_validate(LINE_CFG), "dev", "s")
    meta, _ = frames([Walker((100, 100), (100, 600), 0)], 1, 0.0, 0.0, 0)[0]
    result = engine.update(meta)
    assert meta.detections.tracker_id is None and result.frame is not meta
    assert result.frame.frame_index == meta.frame_index and result.events == ()


def test_events_round_trip_through_json_and_are_validated() -> None:
    cfg = AnalyticsConfig.model_validate({
        **LINE_CFG,
        "zones": [{"name": "all", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]], "min_dwell_s": 0}],
        "calibration": {"image_points": [[0, 0], [1, 0], [1, 1], [0, 1]], "ground_points_m": [[0, 0], [12, 0], [12, 7], [0, 7]]},
        "distance": {"min_m": 3.0},
        "speed": {"window_s": 1.0},
    })
    walkers = [Walker((300, 100), (300, 650), 0), Walker((340, 650), (340, 100), 0)]
    events, _ = run(Analytics(cfg, "cam-1", "main"), frames(walkers, 150, 0.0, 1.0, seed=3))
    types = {e.type for e in events}
    assert {EventType.LINE_CROSSING, EventType.ZONE_ENTER, EventType.ZONE_COUNT, EventType.SPEED,
            EventType.DISTANCE_VIOLATION} <= types
    for e in events:
        assert event_from_json(event_to_json(e)) == e
    assert len({e.id for e in events}) == len(events)

    wire = events[0].to_dict()
    for mutate, fragment in [
        (lambda d: d.update(schema="edgesight.event/2"), "schema:"),
        (lambda d: d.update(type="teleport"), "type: expected one of"),
        (lambda d: d.update(frame_index=-1), "frame_index: expected an integer >= 0, got -1"),
        (lambda d: d.pop("rule"), "rule: missing"),
        (lambda d: d.update(extra=1), "extra: unknown field"),
        (lambda d: d["properties"].update(bogus=1), "properties.bogus: not a property"),
    ]:
        bad = event_to_json(events[0])
        data = json.loads(bad)
        mutate(data)
        with pytest.raises(SchemaError, match=fragment.replace("(", r"\(")):
            Event.from_dict(data)
    assert wire["schema"] == "edgesight.event/1"


def test_type_specific_properties_are_checked() -> None:
    e = next(e for e in _crossing_events() if e.type is EventType.LINE_CROSSING)
    data = e.to_dict()
    data["properties"]["status"] = "CrossUp"
    with pytest.raises(SchemaError, match=r"properties\.status: expected CrossRight or CrossLeft, got 'CrossUp'"):
        Event.from_dict(data)
    del data["properties"]["status"]
    with pytest.raises(SchemaError, match=r"properties\.status: missing"):
        Event.from_dict(data)


def _crossing_events() -> list[Event]:
    events, _ = run(Analytics(AnalyticsConfig.model_validate(LINE_CFG), "cam-1", "main"),
                    frames([Walker((300, 100), (300, 650), 0)], 140, 0.0, 0.0, seed=0))
    return events


def test_engine_state_stays_bounded_over_10k_frames() -> None:
    cfg = AnalyticsConfig.model_validate({
        **LINE_CFG,
        "zones": [{"name": "all", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
        "calibration": {"image_points": [[0, 0], [1, 0], [1, 1], [0, 1]], "ground_points_m": [[0, 0], [12, 0], [12, 7], [0, 7]]},
        "speed": {},
    })
    engine = Analytics(cfg, "cam-1", "main")
    walkers = [Walker((120 + 100 * (k % 11), 100), (120 + 100 * (k % 11), 650), t0=25 * k, speed_px=6)
               for k in range(390)]
    peak = 0
    for meta, _ in frames(walkers, 10_000, dropout=0.2, jitter_px=1.0, seed=9):
        engine.update(meta)
        assert engine.tracker is not None and engine.lines is not None and engine.zones is not None
        assert engine.speed is not None
        peak = max(peak, engine.tracker.num_tracks, engine.lines.num_tracks, engine.zones.num_tracks,
                   engine.speed.num_tracks)
    assert peak < 40
    assert engine.counts()["lines"]["door"]["in"] == {"person": 390}


def _walking(i: int) -> FrameMeta:
    """One person walking down a 100 x 100 frame, 8 px a frame: feet cross y = 50 between frames 3 and 4."""
    y = 2 + 8 * i
    dets = Detections.from_arrays([[40, y, 60, y + 20]], [0.9], [0], ["person"])
    return FrameMeta("cam-1", "main", i, i, i / 10, ModelRef("m", "1"), (100, 100), dets)


def test_reconfigure_keeps_track_ids_when_tracking_is_unchanged() -> None:
    """What the agent does on a desired-twin change: new rules live, the same tracks."""
    engine = Analytics(AnalyticsConfig.model_validate({"tracking": {"min_hits": 1}}), "cam-1", "main")
    tracker = engine.tracker
    first = [engine.update(_walking(i)).frame.detections.tracker_id.tolist() for i in range(3)]
    line = {"name": "mid", "start": [0, 0.5], "end": [1, 0.5], "min_frames_on_side": 1}
    engine.reconfigure(AnalyticsConfig.model_validate({"tracking": {"min_hits": 1}, "lines": [line]}))
    assert engine.tracker is tracker and engine.lines is not None
    later = [engine.update(_walking(i)) for i in range(3, 8)]
    assert first == [[1], [1], [1]] and all(r.frame.detections.tracker_id.tolist() == [1] for r in later)
    crossings = [e for r in later for e in r.events if e.type is EventType.LINE_CROSSING]
    assert [(e.rule, e.track_ids) for e in crossings] == [("mid", (1,))]


def test_reconfigure_with_new_tracking_starts_new_tracks() -> None:
    engine = Analytics(AnalyticsConfig.model_validate({"tracking": {"min_hits": 1}}), "cam-1", "main")
    old = engine.tracker
    for i in range(3):
        engine.update(_walking(i))
    engine.reconfigure(AnalyticsConfig.model_validate({"tracking": {"min_hits": 2}}))
    assert engine.tracker is not old and engine.config.tracking.min_hits == 2
    assert len(engine.update(_walking(3)).frame.detections) == 0  # a new track needs 2 hits again
    engine.reconfigure(AnalyticsConfig.model_validate({"tracking": {"enabled": False}}))
    assert engine.tracker is None


@pytest.mark.parametrize("method", ["edgesight", "bytetrack"])
def test_a_person_lost_longer_than_the_tracker_holds_counts_once_under_the_new_id(method: str) -> None:
    # The tracker drops the track after 2 lost frames and gives the person a new id across the line;
    # the line continues the lost track (stitch), counting off it only loses the crossing.
    def run(stitch_window_s: float) -> tuple[list[Event], list[int]]:
        cfg = AnalyticsConfig.model_validate({
            "tracking": {"method": method, "min_hits": 1, "max_lost_frames": 2},
            "lines": [{"name": "door", "start": [0, 0.5], "end": [1, 0.5]}],
            "stitch": {"window_s": stitch_window_s},
        })  # fmt: skip
        engine = Analytics(cfg, "cam", "main")
        bottoms = [300, 315, 330, 345, None, None, None, 400, 415, 430, 445, 460]  # lost for 0.2 s
        events: list[Event] = []
        ids: list[int] = []
        for i, y in enumerate(bottoms):
            dets = Detections.empty() if y is None else Detections.from_arrays(
                [[620, y - 120, 660, y]], [0.9], [0], ["person"])  # fmt: skip
            result = engine.update(FrameMeta("cam", "main", i, i, i / FPS, ModelRef("m", "1"), (W, H), dets))
            events += result.events
            tracked = result.frame.detections.tracker_id
            ids += [] if tracked is None else tracked.tolist()
        return events, ids

    events, ids = run(2.0)
    assert sorted(set(ids)) == [1, 2]  # the tracker's ids are its own
    assert [(e.track_ids, e.properties["direction"]) for e in events] == [((2,), "in")]
    assert run(0.0)[0] == []


@pytest.mark.parametrize("fps", [10.0, 30.0])
def test_at_any_frame_rate_a_person_hidden_for_two_seconds_in_a_zone_enters_once_and_never_leaves(fps: float) -> None:
    # The zones keep a track's state as long as the tracker keeps the track (max_lost_s: 3 s),
    # measured at the stream's rate: at 30 fps that is 91 frames, not the 31 of a fixed count.
    config = AnalyticsConfig.model_validate({
        "tracking": {"min_hits": 1},
        "zones": [{"name": "till", "polygon": [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]], "inertia_frames": 1}],
    })  # fmt: skip
    engine = Analytics(config, "cam", "main")
    events: list[Event] = []
    for i in range(int(6 * fps)):
        t = i / fps
        x = 200 + 20 * t
        hidden = 2 <= t < 4
        det = Detections.empty() if hidden else Detections.from_arrays([[x, 300, x + 40, 400]], [0.9], [0], ["person"])
        meta = FrameMeta("cam", "main", i, i, 1000 + t, ModelRef("m", "1"), (W, H), det)
        events += engine.update(meta).events
    zone = [(e.type, e.track_ids) for e in events if e.type in (EventType.ZONE_ENTER, EventType.ZONE_EXIT)]
    assert zone == [(EventType.ZONE_ENTER, (1,))]
    assert engine.zones is not None and engine.zones.counts() == {"till": {"person": 1}}
    assert engine.zones.ttl_frames == math.ceil(3.0 * fps) + 1
