"""The safety app: intrusions raised on the very frame, proximity in metres, cooldown, bounded state."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from pydantic import ValidationError

from edgesight.apps.engine import Analytics
from edgesight.apps.safety import SafetyApp
from edgesight.core.config import (
    COCO_LABELS,
    KNOWN_CLASSES_CONTEXT,
    AnalyticsConfig,
    DeviceConfig,
    SafetyAppConfig,
    config_error_message,
    parse_config,
)
from edgesight.core.detections import Detections
from edgesight.core.errors import ConfigError, InputError
from edgesight.core.events import Event, EventType, FrameContext, event_from_json, event_to_json
from edgesight.core.frame import FrameMeta, ModelRef
from edgesight.geometry.homography import apply_homography

W, H, FPS = 1000, 800, 10.0
LABELS = [*COCO_LABELS, "forklift"]
CONTEXT = {KNOWN_CLASSES_CONTEXT: LABELS}
LANE = [(0.6, 0.0), (1.0, 0.0), (1.0, 1.0), (0.6, 1.0)]  # the right 40 % of the image
HOMOGRAPHY = np.diag([20.0, 16.0, 1.0])  # the image is 20 m x 16 m of floor: 1 px = 2 cm
SIZES = {"person": (40, 120), "forklift": (120, 100), "truck": (200, 150)}


def box(cls: str, x: float, y: float) -> list[float]:
    """A box whose bottom centre is at (x, y) pixels."""
    w, h = SIZES[cls]
    return [x - w / 2, y - h, x + w / 2, y]


def dets(*objects: tuple[int, str, float, float]) -> Detections:
    """Tracked detections from (track id, class, bottom-centre x, y)."""
    boxes = [box(c, x, y) for _, c, x, y in objects]
    return Detections.from_arrays(
        np.array(boxes).reshape(-1, 4), [0.9] * len(objects), [LABELS.index(c) for _, c, _, _ in objects],
        [c for _, c, _, _ in objects], [tid for tid, _, _, _ in objects],
    )  # fmt: skip


def ctx(k: int) -> FrameContext:
    return FrameContext("plant-cam-1", "main", k, 1.7e9 + k / FPS, (W, H))


def safety(**rules: Any) -> SafetyAppConfig:
    return SafetyAppConfig.model_validate(rules, context=CONTEXT)


def lane(**kw: Any) -> dict[str, Any]:
    return {"name": "forklift_lane", "zone": [list(p) for p in LANE], "allowed_classes": ["forklift"],
            "severity": "critical", **kw}  # fmt: skip


def run(app: SafetyApp, frames: list[Detections]) -> list[Event]:
    return [e for k, d in enumerate(frames) for e in app.update(d, ctx(k))]


# ---- intrusion ------------------------------------------------------------------------------------


def test_a_person_in_a_forklift_lane_raises_a_hazard_on_the_same_frame() -> None:
    app = SafetyApp(safety(danger_zones=[lane()]), {})
    frames = [dets((5, "person", 405 + 20 * k, 500), (9, "forklift", 800, 300)) for k in range(20)]
    first_inside = next(k for k in range(20) if 405 + 20 * k > 0.6 * W)  # anchor x > 600 px
    events = run(app, frames)
    assert len(events) == 1
    (e,) = events
    assert e.frame_index == first_inside and e.type is EventType.HAZARD and e.rule == "forklift_lane"
    assert e.track_ids == (5,) and e.class_name == "person"
    assert dict(e.properties) == {
        "state": "alert", "kind": "intrusion", "severity": "critical",
        "point": [round((405 + 20 * first_inside) / W, 4), 0.625], "allowed_classes": ["forklift"],
    }  # fmt: skip
    assert event_from_json(event_to_json(e)) == e
    assert app.active() == [("forklift_lane", (5,))]


def test_a_forklift_in_its_lane_raises_nothing() -> None:
    app = SafetyApp(safety(danger_zones=[lane()]), {})
    assert run(app, [dets((9, "forklift", 600 + 10 * k, 300)) for k in range(40)]) == []
    assert app.num_episodes == 0


def test_an_empty_zone_rule_fires_for_any_class_and_checked_classes_restrict_it() -> None:
    keep_out = {"name": "pit", "zone": [list(p) for p in LANE], "severity": "high"}
    app = SafetyApp(safety(danger_zones=[keep_out]), {})
    assert len(run(app, [dets((3, "forklift", 800, 300))])) == 1
    people_only = SafetyApp(safety(danger_zones=[{**keep_out, "classes": ["person"]}]), {})
    assert run(people_only, [dets((3, "forklift", 800, 300))]) == []


def test_min_frames_ignores_a_blip_and_dropouts_do_not_break_the_count() -> None:
    app = SafetyApp(safety(danger_zones=[lane(min_frames=3)]), {})
    inside, outside, none = dets((5, "person", 700, 500)), dets((5, "person", 300, 500)), dets()
    assert run(app, [inside, outside, outside, inside, none, inside]) == []
    (e,) = app.update(inside, ctx(6))
    assert e.properties["state"] == "alert"


def test_cooldown_merges_relapses_and_clears_after_it() -> None:
    app = SafetyApp(safety(danger_zones=[lane(cooldown_s=2.0)]), {})
    inside, outside = dets((5, "person", 700, 500)), dets((5, "person", 300, 500))
    pattern = [inside] * 5 + [outside] * 5 + [inside] * 5 + [outside] * 45 + [inside] * 5 + [outside] * 30
    events = run(app, pattern)
    states = [(e.frame_index, e.properties["state"]) for e in events]
    # one alert for the in/out/in episode; cleared 2 s after the last frame inside (14 -> 34)
    assert states == [(0, "alert"), (34, "cleared"), (60, "alert"), (84, "cleared")]
    assert events[1].properties["duration_s"] == pytest.approx(1.4) and events[1].properties["lost"] is False
    assert set(events[1].properties) == {"state", "kind", "severity", "duration_s", "lost"}
    alerts = [e.timestamp for e in events if e.properties["state"] == "alert"]
    assert alerts[1] - alerts[0] >= 2.0


def test_a_track_lost_inside_clears_as_lost() -> None:
    app = SafetyApp(safety(danger_zones=[lane(cooldown_s=0.0)]), {}, ttl_frames=5)
    events = run(app, [dets((5, "person", 700, 500))] * 3 + [dets()] * 10)
    assert [(e.frame_index, e.properties["state"], e.properties.get("lost")) for e in events] == [
        (0, "alert", None), (8, "cleared", True),
    ]  # fmt: skip
    assert app.num_episodes == 0


# ---- proximity -------------------------------------------------------------------------------------


def near_rule(**kw: Any) -> dict[str, Any]:
    return {"name": "near_forklift", "classes_a": ["person"], "classes_b": ["forklift", "truck"], "min_m": 3.0,
            "severity": "high", **kw}  # fmt: skip


def _floor(cls: str, x: float, y: float) -> npt.NDArray[np.float64]:
    x1, y1, x2, y2 = box(cls, x, y)
    foot = [(x1 + x2) / 2 / W, (y1 + 0.9 * (y2 - y1)) / H]
    floor: npt.NDArray[np.float64] = apply_homography(HOMOGRAPHY, [foot])[0]
    return floor


def test_person_forklift_proximity_below_min_m_raises_a_hazard_with_the_distance() -> None:
    app = SafetyApp(safety(proximity=[near_rule()]), {}, HOMOGRAPHY)
    frames = [dets((2, "person", 200, 600), (11, "forklift", 500 - 10 * k, 600)) for k in range(25)]
    events = run(app, frames)
    (e,) = events
    distances = [float(np.linalg.norm(_floor("person", 200, 600) - _floor("forklift", 500 - 10 * k, 600)))
                 for k in range(25)]  # fmt: skip
    first_close = next(k for k, d in enumerate(distances) if d < 3.0)
    assert e.frame_index == first_close and e.track_ids == (2, 11) and e.class_name is None
    p = e.properties
    assert (p["kind"], p["severity"], p["threshold"]) == ("proximity", "high", 3.0)
    assert p["distance_m"] == pytest.approx(distances[first_close], abs=1e-3) and p["distance_fraction"] is None
    assert p["classes"] == ["person", "forklift"]
    assert event_from_json(event_to_json(e)) == e
    assert set(p) == {"state", "kind", "severity", "distance_m", "distance_fraction", "threshold", "classes"}


def test_proximity_without_calibration_uses_a_fraction_of_the_frame_width() -> None:
    rule = near_rule(min_m=None, min_px_fraction=0.1)
    app = SafetyApp(safety(proximity=[rule]), {})
    assert run(app, [dets((2, "person", 200, 600), (11, "truck", 320, 600))]) == []  # 120 px = 0.12
    (e,) = app.update(dets((2, "person", 200, 600), (11, "truck", 280, 600)), ctx(1))
    assert e.properties["distance_fraction"] == pytest.approx(0.08) and e.properties["distance_m"] is None
    assert e.properties["classes"] == ["person", "truck"]


def test_proximity_min_m_needs_a_homography() -> None:
    with pytest.raises(ConfigError, match="'near_forklift' uses min_m and needs a calibration homography"):
        SafetyApp(safety(proximity=[near_rule()]), {})


def test_people_near_people_are_not_a_hazard_of_a_person_vehicle_rule() -> None:
    app = SafetyApp(safety(proximity=[near_rule()]), {}, HOMOGRAPHY)
    assert run(app, [dets((1, "person", 200, 600), (2, "person", 220, 600))]) == []


# ---- bounded state and untouched inputs ------------------------------------------------------------


def test_state_stays_bounded_over_10k_frames_of_new_tracks() -> None:
    cfg = safety(danger_zones=[lane(cooldown_s=1.0)], proximity=[near_rule(cooldown_s=1.0)])
    app = SafetyApp(cfg, {}, HOMOGRAPHY, ttl_frames=15)
    peak, alerts = 0, 0
    for k in range(10_000):
        walker = k // 20  # a new person every 2 s walks through the lane past a parked forklift
        objects = [(1_000_000, "forklift", 650, 700), (walker, "person", 450 + 25 * (k % 20), 640)]
        if k % 20 < 18:
            d = dets(*objects)
            before = d.xyxy.copy()
            alerts += sum(e.properties["state"] == "alert" for e in app.update(d, ctx(k)))
            assert np.array_equal(d.xyxy, before)
        else:
            app.update(dets(objects[0]), ctx(k))  # the person vanishes: lost
        peak = max(peak, app.num_episodes)
    assert alerts >= 2 * 499  # every walker raises an intrusion and a proximity hazard
    assert peak <= 6 and app.num_episodes <= 2


def test_detections_need_track_ids() -> None:
    app = SafetyApp(safety(danger_zones=[lane()]), {})
    with pytest.raises(InputError, match="need tracker_id"):
        app.update(Detections.from_arrays([[0, 0, 1, 1]], [0.9], [0], ["person"]), ctx(0))


# ---- the engine: named zone, calibration from the config ------------------------------------------

ENGINE_CONFIG: dict[str, Any] = {
    "tracking": {"min_hits": 2},
    "zones": [{"name": "lane", "polygon": [list(p) for p in LANE]}],
    "calibration": {"image_points": [[0, 0], [1, 0], [1, 1], [0, 1]],
                    "ground_points_m": [[0, 0], [20, 0], [20, 16], [0, 16]]},
    "apps": {"safety": {
        "danger_zones": [{"name": "forklift_lane", "zone": "lane", "allowed_classes": ["forklift"],
                          "severity": "critical"}],
        "proximity": [{"name": "near_forklift", "classes_b": ["forklift"], "min_m": 2.0}],
    }},
}  # fmt: skip


def test_engine_raises_the_hazard_on_the_first_tracked_frame_inside() -> None:
    cfg = AnalyticsConfig.model_validate(ENGINE_CONFIG, context=CONTEXT)
    engine = Analytics(cfg, "plant-cam-1", "main")
    hazards: list[Event] = []
    first_inside = None
    for k in range(30):
        d = dets((0, "person", 455 + 10 * k, 500), (0, "forklift", 900, 250))
        meta = FrameMeta("plant-cam-1", "main", k, k, 1.7e9 + k / FPS, ModelRef("m", "1"), (W, H),
                         Detections(d.xyxy, d.confidence, d.class_id, d.class_name))  # fmt: skip
        result = engine.update(meta)
        tracked = result.frame.detections
        person = tracked.class_name == "person"
        if first_inside is None and np.any(person) and (tracked.xyxy[person, 0] + tracked.xyxy[person, 2])[0] / 2 > 600:
            first_inside = k
        hazards += [e for e in result.events if e.type is EventType.HAZARD]
    assert first_inside is not None
    assert [(e.frame_index, e.rule, e.class_name) for e in hazards] == [(first_inside, "forklift_lane", "person")]


# ---- config errors --------------------------------------------------------------------------------


def _rejected(analytics: dict[str, Any], labels: list[str] = LABELS) -> str:
    """The loader's one-line message for a device config with a custom label list."""
    with pytest.raises(ValidationError) as info:
        DeviceConfig.model_validate({"analytics": analytics}, context={KNOWN_CLASSES_CONTEXT: labels})
    return config_error_message(info.value, "device.yaml")


def _with_safety(**safety_section: Any) -> dict[str, Any]:
    return {"zones": [{"name": "lane", "polygon": [list(p) for p in LANE]}], "apps": {"safety": safety_section}}


@pytest.mark.parametrize(
    ("section", "fragments"),
    [
        ({"proximity": [near_rule()]},
         ["analytics.apps.safety.proximity[0].min_m: 'near_forklift' measures metres on the floor and needs "
          "analytics.calibration", "use min_px_fraction"]),
        ({"proximity": [near_rule(min_px_fraction=0.1)]}, ["set exactly one of min_m", "got both"]),
        ({"proximity": [near_rule(min_m=None)]}, ["set exactly one of min_m", "got neither"]),
        ({"danger_zones": [lane(zone="lanes")]},
         ["analytics.apps.safety.danger_zones[0].zone: no zone named 'lanes'", "did you mean 'lane'"]),
        ({"danger_zones": [lane(allowed_classes=["forklfit"])]},
         ["danger_zones[0].allowed_classes: unknown class 'forklfit'", "did you mean 'forklift'"]),
        ({"danger_zones": [lane(classes=["forklift"])]}, ["every checked class ['forklift'] is allowed"]),
        ({"danger_zones": [lane(severity="extreme")]}, ["analytics.apps.safety.danger_zones.0.severity"]),
        ({"danger_zones": [lane(cooldown_s=-1)]}, ["analytics.apps.safety.danger_zones.0.cooldown_s"]),
        ({"danger_zones": [lane(), lane()]}, ["danger_zones + proximity[1].name: 'forklift_lane' is already used"]),
        ({}, ["safety: set danger_zones and/or proximity, got neither"]),
    ],
)
def test_bad_safety_configs_are_named(section: dict[str, Any], fragments: list[str]) -> None:
    message = _rejected(_with_safety(**section))
    for fragment in fragments:
        assert fragment in message, message


def test_forklift_is_unknown_to_coco_and_safety_needs_tracking() -> None:
    message = _rejected(_with_safety(danger_zones=[lane()]), list(COCO_LABELS))
    assert "danger_zones[0].allowed_classes: unknown class 'forklift'" in message
    no_tracking = {**_with_safety(danger_zones=[lane(zone=[list(p) for p in LANE])]), "zones": [],
                   "tracking": {"enabled": False}}  # fmt: skip
    assert "analytics.apps.safety needs tracking.enabled=true" in _rejected(no_tracking)


def test_device_yaml_with_calibration_loads() -> None:
    cfg = AnalyticsConfig.model_validate(ENGINE_CONFIG, context=CONTEXT)
    assert cfg.apps.safety is not None and cfg.apps.safety.proximity[0].min_m == 2.0
    with pytest.raises(ConfigError, match="unknown class 'forklift'"):
        parse_config({"analytics": ENGINE_CONFIG}, "device.yaml")
