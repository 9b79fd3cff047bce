"""The shelf app: occupancy, gaps, one restock alert per depletion, occlusion guard and hysteresis."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from edgesight.apps.engine import Analytics
from edgesight.apps.retail.shelf import ShelfApp, gaps_along
from edgesight.core.config import AnalyticsConfig, OccupancyMode, ShelfAppConfig, parse_config
from edgesight.core.detections import Detections
from edgesight.core.errors import ConfigError
from edgesight.core.events import Event, EventType, FrameContext, event_from_json, event_to_json
from edgesight.core.frame import FrameMeta, ModelRef

W, H = 1280, 720
SHELF = [(0.1, 0.2), (0.9, 0.2), (0.9, 0.45), (0.1, 0.45)]  # x 128..1152 px, y 144..324 px
SLOTS = 20
SLOT_PX = 0.8 * W / SLOTS  # 51.2 px


def bottle(slot: int) -> list[float]:
    x = 128 + slot * SLOT_PX
    return [x + 5, 180, x + 46, 320]


def scene(slots: Sequence[int], people: Sequence[Sequence[float]] = (), tracked: bool = False) -> Detections:
    boxes = [bottle(s) for s in slots] + [list(p) for p in people]
    names = ["bottle"] * len(slots) + ["person"] * len(people)
    ids = list(range(1, len(boxes) + 1)) if tracked else None
    return Detections.from_arrays(
        np.array(boxes).reshape(-1, 4), [0.9] * len(boxes), [39 if n == "bottle" else 0 for n in names], names, ids
    )


def person_over(first: int, last: int) -> list[float]:
    """A shopper standing in front of slots ``first..last`` (box down to the floor)."""
    return [128 + first * SLOT_PX, 60, 128 + (last + 1) * SLOT_PX, 700]


def config(status_interval_s: float | None = None, **kw: Any) -> ShelfAppConfig:
    shelf = {"name": "drinks", "zone": SHELF, "classes": ["bottle"], "capacity": SLOTS, "low_threshold": 0.25,
             "high_threshold": 0.6, "hold_s": 30, **kw}  # fmt: skip
    return ShelfAppConfig.model_validate({"shelves": [shelf], "status_interval_s": status_interval_s})


def run(app: ShelfApp, seconds: int, dets_at: Callable[[int], Detections]) -> list[Event]:
    out: list[Event] = []
    for t in range(seconds):
        out += app.update(dets_at(t), FrameContext("shop-cam-2", "main", t, 1.7e9 + t, (W, H)))
    return out


def depleting(t: int, rng: np.random.Generator) -> list[int]:
    """One bottle taken every minute (slot order shuffled), 5 % of detections missed."""
    left = max(SLOTS - t // 60, 0)
    order = np.random.default_rng(7).permutation(SLOTS)
    return sorted(int(s) for s in order[:left] if rng.random() > 0.05)


def test_depletion_raises_one_alert_with_a_plausible_time_to_empty() -> None:
    rng = np.random.default_rng(1)
    events = run(ShelfApp(config(), {}), 1500, lambda t: scene(depleting(t, rng)))
    (alert,) = [e for e in events if e.properties["state"] == "alert"]
    assert [e.properties["state"] for e in events] == ["alert"]
    p = alert.properties
    t_alert = alert.timestamp - 1.7e9
    assert 900 <= t_alert <= 1080  # 5 of 20 left from t = 900 s (4 from 960 s), held 30 s
    assert p["time_to_empty_s"] is not None
    assert abs(t_alert + p["time_to_empty_s"] - 1200) <= 120  # really empty at t = 1200 s
    assert p["rate_per_hour"] == pytest.approx(3.0, rel=0.15)  # 1/20 of the shelf per minute
    assert p["level"] < 0.25 and p["occupancy"] < 0.3 and p["item_count"] <= 5
    assert p["mode"] == "count" and p["capacity"] == SLOTS and p["time_to_low_s"] == 0.0
    assert alert.type is EventType.RESTOCK and alert.rule == "drinks" and alert.class_name is None
    assert event_from_json(event_to_json(alert)) == alert
    assert set(p) == {  # as listed in docs/events.md
        "state", "occupancy", "level", "mode", "item_count", "capacity", "gaps", "time_to_empty_s",
        "time_to_low_s", "rate_per_hour", "low_threshold", "high_threshold",
    }  # fmt: skip


def test_a_shopper_hiding_the_shelf_does_not_raise_it() -> None:
    full = list(range(SLOTS))
    hidden = list(range(16, SLOTS))  # two shoppers hide slots 0..15 for 5 minutes

    def guarded(t: int) -> Detections:
        if 100 <= t < 400:
            return scene(hidden, [person_over(0, 7), person_over(8, 15)])
        return scene(full)

    def undetected_shoppers(t: int) -> Detections:  # same bottles, but nobody in sight: really empty
        return scene(hidden if 100 <= t < 400 else full)

    app = ShelfApp(config(), {})
    assert run(app, 600, guarded) == []
    assert app.occluded_frames() == {"drinks": 300}
    states = [e.properties["state"] for e in run(ShelfApp(config(), {}), 600, undetected_shoppers)]
    assert states == ["alert", "cleared"]


def test_a_shopper_away_from_the_shelf_does_not_pause_it() -> None:
    app = ShelfApp(config(), {})
    far = [10, 400, 60, 700]  # below the shelf zone
    run(app, 10, lambda t: scene(range(SLOTS), [far]))
    assert app.occluded_frames() == {"drinks": 0}
    reading = app.readings()["drinks"]
    assert reading is not None and reading.item_count == SLOTS and reading.occupancy == 1.0


def _hovering(t: int) -> list[int]:
    """Full, then 150 s blocks alternately below low (15..25 %) and just above it (30..40 %), then full."""
    if t < 60 or t >= 660:
        return list(range(SLOTS))
    low_block = (t - 60) // 150 % 2 == 0
    return list(range((4 if low_block else 7) + t % 3 - 1))


def test_hysteresis_keeps_the_alert_until_the_shelf_is_above_high() -> None:
    events = run(ShelfApp(config(window_s=60), {}), 760, lambda t: scene(_hovering(t)))
    assert [e.properties["state"] for e in events] == ["alert", "cleared"]
    assert events[1].timestamp - 1.7e9 >= 660
    # without a gap between the thresholds the same readings make the alert flap
    narrow = run(ShelfApp(config(window_s=60, high_threshold=0.26), {}), 760, lambda t: scene(_hovering(t)))
    assert [e.properties["state"] for e in narrow][:4] == ["alert", "cleared", "alert", "cleared"]


def test_gaps_are_reported_where_items_are_missing() -> None:
    app = ShelfApp(config(status_interval_s=60), {})
    present = [s for s in range(SLOTS) if s not in (6, 7, 8, 9)]
    events = run(app, 61, lambda t: scene(present))
    status = [e for e in events if e.trigger.value == "interval"]
    assert len(status) == 2 and status[0].properties["state"] == "ok"
    (gap,) = status[-1].properties["gaps"]
    left, right = bottle(5)[2] / W, bottle(10)[0] / W  # 0.336 .. 0.504 of the frame width
    assert gap[0] == pytest.approx(left, abs=0.8 / 240 + 1e-9)
    assert gap[1] == pytest.approx(right, abs=0.8 / 240 + 1e-9)
    reading = app.readings()["drinks"]
    assert reading is not None and reading.item_count == 16 and reading.occupancy == 0.8
    # the small spaces between neighbouring bottles are not gaps; an empty shelf is one gap
    assert run(ShelfApp(config(status_interval_s=1), {}), 1, lambda t: scene(range(SLOTS)))[0].properties["gaps"] == []
    empty = run(ShelfApp(config(status_interval_s=1), {}), 1, lambda t: scene([]))[0]
    assert empty.properties["gaps"] == [[0.1, 0.9]]


def test_gaps_along_reports_stretches_wider_than_the_minimum() -> None:
    spans = np.array([[0.0, 0.1], [0.12, 0.3], [0.7, 1.0]])
    assert gaps_along(spans, 0.0, 1.0, 0.1, bins=100) == [(0.3, 0.7)]
    assert gaps_along(spans, 0.0, 1.0, 0.01, bins=100) == [(0.1, 0.12), (0.3, 0.7)]
    assert gaps_along(np.zeros((0, 2)), 0.2, 0.6, 0.5) == [(0.2, 0.6)]


def test_area_mode_measures_the_covered_fraction_of_the_zone() -> None:
    app = ShelfApp(config(capacity=None, classes=["book"]), {})
    assert app.config.shelves[0].mode is OccupancyMode.AREA
    # books covering the left half of the shelf zone, overlapping each other
    books = [[128, 144, 500, 324], [400, 144, 640, 324], [300, 200, 350, 250]]
    dets = Detections.from_arrays(books, [0.9] * 3, [73] * 3, ["book"] * 3)
    app.update(dets, FrameContext("c", "m", 0, 0.0, (W, H)))
    reading = app.readings()["drinks"]
    assert reading is not None and reading.occupancy == pytest.approx(0.5, abs=0.02)


def test_products_outside_the_zone_and_other_classes_do_not_count() -> None:
    app = ShelfApp(config(), {})
    boxes = [bottle(0), bottle(1), [600, 500, 640, 600], bottle(2)]  # third bottle is on the floor
    dets = Detections.from_arrays(boxes, [0.9] * 4, [39, 39, 39, 41], ["bottle", "bottle", "bottle", "cup"])
    app.update(dets, FrameContext("c", "m", 0, 0.0, (W, H)))
    reading = app.readings()["drinks"]
    assert reading is not None and reading.item_count == 2


def test_inputs_are_not_touched_and_state_is_bounded() -> None:
    app = ShelfApp(config(window_s=600), {})
    dets = scene(range(10), [person_over(0, 1)])
    before = (dets.xyxy.copy(), dets.class_name.copy())
    for t in range(10_000):
        app.update(dets, FrameContext("c", "m", t, float(t), (W, H)))
    assert np.array_equal(dets.xyxy, before[0]) and np.array_equal(dets.class_name, before[1])
    estimator = app._shelves[0].estimator
    assert len(estimator) <= estimator.max_points + 1
    assert len(estimator._bucket_t) <= estimator.max_bucket_readings


def test_engine_runs_a_shelf_on_a_named_zone() -> None:
    cfg = AnalyticsConfig.model_validate({
        "zones": [{"name": "top_shelf", "polygon": [list(p) for p in SHELF]}],
        "apps": {"shelf": {"shelves": [{"name": "drinks", "zone": "top_shelf", "classes": ["bottle"],
                                        "capacity": SLOTS, "low_threshold": 0.25, "hold_s": 30}]}},
    })  # fmt: skip
    engine = Analytics(cfg, "shop-cam-2", "main")
    events: list[Event] = []
    for t in range(400):
        slots = range(SLOTS) if t < 100 else range(3)
        meta = FrameMeta("shop-cam-2", "main", t, t, 1.7e9 + t, ModelRef("m", "1"), (W, H), scene(slots))
        events += [e for e in engine.update(meta).events if e.type is EventType.RESTOCK]
    assert [e.properties["state"] for e in events] == ["alert"]
    assert events[0].properties["item_count"] == 3


# ---- config errors ---------------------------------------------------------------------------------


def _rejected(analytics: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config({"analytics": analytics}, "device.yaml")
    return str(info.value)


def _with_shelf(**kw: Any) -> dict[str, Any]:
    shelf = {"name": "drinks", "zone": "top", "classes": ["bottle"], "capacity": 12, **kw}
    return {"zones": [{"name": "top", "polygon": [list(p) for p in SHELF]}], "apps": {"shelf": {"shelves": [shelf]}}}


@pytest.mark.parametrize(
    ("shelf", "fragments"),
    [
        ({"zone": "tpo"}, ["analytics.apps.shelf.shelves[0].zone: no zone named 'tpo'", "did you mean 'top'",
                           "zones are: 'top'"]),
        ({"classes": ["botle"]}, ["analytics.apps.shelf.shelves[0].classes: unknown class 'botle'",
                                  "did you mean 'bottle'"]),
        ({"occluder_classes": ["persn"]}, ["shelves[0].occluder_classes: unknown class 'persn'"]),
        ({"low_threshold": 0.6, "high_threshold": 0.5}, ["low_threshold=0.6 must be < high_threshold=0.5"]),
        ({"capacity": None, "occupancy_mode": "count"}, ["occupancy_mode=count needs capacity"]),
        ({"occupancy_mode": "area"}, ["capacity=12 is only used with occupancy_mode=count"]),
        ({"classes": ["person"]}, ["'person' is in both classes and occluder_classes"]),
        ({"gap_min_width": 0}, ["analytics.apps.shelf.shelves.0.gap_min_width"]),
        ({"max_occlusion": 1.5}, ["analytics.apps.shelf.shelves.0.max_occlusion"]),
        ({"zone": [[0.1, 0.1], [1.2, 0.1], [0.5, 0.5]]}, ["shelves.0.zone", "zone[1]: x=1.2 outside 0..1"]),
        ({"occupancy_mode": "volume"}, ["analytics.apps.shelf.shelves.0.occupancy_mode"]),
    ],
)
def test_bad_shelf_configs_are_named(shelf: dict[str, Any], fragments: list[str]) -> None:
    message = _rejected(_with_shelf(**shelf))
    for fragment in fragments:
        assert fragment in message, message


def test_shelf_names_are_unique_and_shelves_needed() -> None:
    analytics = _with_shelf()
    analytics["apps"]["shelf"]["shelves"] *= 2
    assert "shelves[1].name: 'drinks' is already used by shelves[0]" in _rejected(analytics)
    assert "analytics.apps.shelf.shelves" in _rejected({"apps": {"shelf": {"shelves": []}}})
