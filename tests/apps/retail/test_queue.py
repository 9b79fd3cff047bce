"""The queue app: Erlang C advice from entry crossings and the queue zone, sent only when it changes."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from edgesight.apps.engine import Analytics
from edgesight.apps.retail.queue import QueueApp
from edgesight.apps.retail.staffing import recommend_counters
from edgesight.core.config import AnalyticsConfig, QueueAppConfig, parse_config
from edgesight.core.detections import Detections
from edgesight.core.errors import ConfigError, InputError
from edgesight.core.events import Event, EventType, FrameContext, event_from_json, event_to_json
from edgesight.core.frame import FrameMeta, ModelRef


def _ctx(k: int, ts: float) -> FrameContext:
    return FrameContext("shop-cam-1", "main", k, ts, (1280, 720))


def _crossing(ctx: FrameContext, line: str = "entry", direction: str = "in", tid: int = 1) -> Event:
    return Event.create(
        EventType.LINE_CROSSING, ctx, line, track_ids=(tid,), class_name="person", direction=direction,
        status="CrossRight" if direction == "in" else "CrossLeft", crossed_frame_index=ctx.frame_index,
        point=[0.5, 0.4],
    )  # fmt: skip


def _exit(ctx: FrameContext, zone: str, dwell_s: float, lost: bool = False) -> Event:
    return Event.create(
        EventType.ZONE_EXIT, ctx, zone, track_ids=(9,), class_name="person", side=None,
        dwell_ms=round(dwell_s * 1000), dwell_frames=round(dwell_s), lost=lost,
    )  # fmt: skip


def _config(**kw: Any) -> QueueAppConfig:
    base: dict[str, Any] = {
        "name": "checkout", "queue_zone": "queue", "entry_line": "entry", "aht_s": 180.0,
        "target_mean_wait_s": 10.0, "rate_window_s": 1800.0, "warmup_s": 1800.0, "max_counters": 40,
    }  # fmt: skip
    return QueueAppConfig.model_validate({**base, **kw})


def _feed(app: QueueApp, arrival_times: list[float], end_s: float, queue_length: int = 5) -> list[Event]:
    """One frame per second from 0 to ``end_s``; crossings at the given (whole-second) times."""
    arrivals: dict[int, int] = {}
    for t in arrival_times:
        arrivals[round(t)] = arrivals.get(round(t), 0) + 1
    out: list[Event] = []
    for k in range(round(end_s) + 1):
        ctx = _ctx(k, float(k))
        out += app.update([_crossing(ctx, tid=k * 10 + j) for j in range(arrivals.get(k, 0))],
                          {"queue": queue_length}, ctx)  # fmt: skip
    return out


# ---- the field guide's worked example through the app ---------------------------------------------


@pytest.mark.parametrize(
    ("targets", "counters", "mean_wait", "sl"),
    [
        ({"target_mean_wait_s": 10.0}, 14, 7.84, None),
        ({"target_mean_wait_s": 10.0, "target_s": 20.0}, 14, 7.84, 0.8884),
        ({"target_mean_wait_s": None, "target_service_level": 0.8, "target_s": 20.0}, 14, 7.84, 0.8884),
        ({"target_mean_wait_s": None, "target_service_level": 0.79, "target_s": 20.0}, 13, 17.12, 0.7956),
    ],
)
def test_field_guide_example_100_per_30_min_aht_180(
    targets: dict[str, Any], counters: int, mean_wait: float, sl: float | None
) -> None:
    app = QueueApp(_config(**targets))
    events = _feed(app, [17.0 + 18.0 * m for m in range(100)], 1800.0, queue_length=6)
    assert len(events) == 1
    p = events[0].properties
    assert events[0].type is EventType.QUEUE_ADVICE and events[0].rule == "checkout"
    assert p["counters"] == counters and p["previous_counters"] is None
    assert p["arrivals_per_min"] == pytest.approx(100 / 30, abs=1e-3)
    assert p["traffic_erlang"] == pytest.approx(10.0)
    assert p["mean_wait_s"] == pytest.approx(mean_wait, abs=0.01)
    assert p["service_level"] == (None if sl is None else pytest.approx(sl, abs=1e-4))
    assert p["wait_s"] == pytest.approx(6 / (100 / 1800), abs=0.1)  # Little: L / lambda = 108 s
    assert p["queue_length"] == 6 and p["target_met"] is True and p["aht_source"] == "configured"
    assert event_from_json(event_to_json(events[0])) == events[0]
    assert set(p) == QUEUE_ADVICE_PROPERTIES
    assert p["open_counters"] is None and p["open_counter_names"] is None  # no counters declared


QUEUE_ADVICE_PROPERTIES = {
    "queue_length", "arrivals_per_min", "wait_s", "counters", "previous_counters", "recommended_counters",
    "mean_wait_s", "service_level", "target", "target_met", "aht_s", "aht_source", "traffic_erlang", "window_s",
    "open_counters", "open_counter_names",
}  # fmt: skip
"""The properties docs/events.md lists for queue_advice (the decoder does not check app types yet)."""


# ---- the engine end to end: people cross the entry line and stand in the queue zone ---------------

W, H, FPS = 1280, 720, 2.0
APP_YAML: dict[str, Any] = {
    "tracking": {"max_lost_frames": 10},
    "zones": [{"name": "queue", "polygon": [[0.05, 0.5], [0.95, 0.5], [0.95, 0.98], [0.05, 0.98]],
               "classes": ["person"], "inertia_frames": 2}],
    "lines": [{"name": "entry", "start": [0.02, 0.4], "end": [0.98, 0.4], "classes": ["person"]}],
    "apps": {"queues": [{"name": "checkout", "queue_zone": "queue", "entry_line": "entry",
                         "aht_s": 180, "target_mean_wait_s": 30, "max_counters": 40,
                         "rate_window_s": 600, "warmup_s": 300, "advice_interval_s": 60,
                         "min_hold_s": 120}]},
}  # fmt: skip


@dataclass(frozen=True)
class Shopper:
    """Walks down from y=60 px into the queue zone at ``x``, then waits there until ``leave``."""

    x: float
    arrive: int  # frame
    leave: int  # frame

    def box(self, k: int) -> list[float] | None:
        if not self.arrive <= k < self.leave:
            return None
        y = min(60.0 + 30.0 * (k - self.arrive), 560.0)
        return [self.x - 24, y - 110, self.x + 24, y]


def _shoppers(gaps_s: list[tuple[float, float]]) -> list[Shopper]:
    """Arrivals every ``gap`` seconds until ``until`` seconds for each (gap, until); each waits 40 s."""
    out: list[Shopper] = []
    t, slot = 0.0, 0
    for gap, until in gaps_s:
        while t < until:
            start = round(t * FPS)
            out.append(Shopper(x=100.0 + 110.0 * (slot % 10), arrive=start, leave=start + round(60 * FPS)))
            t += gap
            slot += 1
    return out


def _meta(k: int, people: list[Shopper]) -> FrameMeta:
    boxes = [b for p in people if (b := p.box(k)) is not None]
    n = len(boxes)
    dets = Detections.from_arrays(np.array(boxes).reshape(-1, 4), [0.9] * n, [0] * n, ["person"] * n)
    return FrameMeta("shop-cam-1", "main", k, k, 1.7e9 + k / FPS, ModelRef("nanodet", "1"), (W, H), dets)


def test_advice_follows_rising_arrivals_by_erlang_c_and_fires_only_on_change() -> None:
    cfg = AnalyticsConfig.model_validate(APP_YAML)
    qcfg = cfg.apps.queues[0]
    engine = Analytics(cfg, "shop-cam-1", "main")
    people = _shoppers([(60.0, 900.0), (10.0, 1800.0)])  # 1/min for 15 min, then 6/min
    t0 = 1.7e9
    crossings: list[float] = []
    advice: list[Event] = []
    zone_counts_at_advice: list[int] = []
    for k in range(round(1800 * FPS)):
        meta = _meta(k, people)
        before = meta.detections.xyxy.copy()
        result = engine.update(meta)
        assert np.array_equal(meta.detections.xyxy, before) and meta.detections.tracker_id is None
        crossings += [e.timestamp for e in result.events if e.type is EventType.LINE_CROSSING]
        for e in result.events:
            if e.type is EventType.QUEUE_ADVICE:
                advice.append(e)
                zone_counts_at_advice.append(sum(engine.counts()["zones"]["queue"].values()))
    assert len(crossings) == len(people)  # every shopper counted once at the entry line

    assert len(advice) >= 2
    for prev, e in zip([None, *advice], advice, strict=False):
        p = e.properties
        # the advised number is Erlang C's for the arrivals the line counted in the window
        span = min(qcfg.rate_window_s, e.timestamp - t0)
        lam = sum(1 for t in crossings if e.timestamp - qcfg.rate_window_s < t <= e.timestamp) / span
        expected = recommend_counters(lam, 180.0, target_mean_wait_s=30.0, max_counters=40).counters
        assert p["counters"] == expected, (e.timestamp - t0, lam)
        assert p["arrivals_per_min"] == pytest.approx(lam * 60, abs=1e-3)
        # only changes are sent, each naming the previous advice, at least min_hold_s apart
        assert p["previous_counters"] == (None if prev is None else prev.properties["counters"])
        assert p["counters"] != p["previous_counters"]
        if prev is not None:
            assert e.timestamp - prev.timestamp >= qcfg.min_hold_s
    assert [e.properties["queue_length"] for e in advice] == zone_counts_at_advice
    first, last = advice[0].properties, advice[-1].properties
    assert first["counters"] <= 5 < 20 <= last["counters"]  # A = 3 Erlang, then A = 18 Erlang
    assert first["wait_s"] is not None and last["queue_length"] > first["queue_length"]


# ---- the hold time, targets out of reach, measured AHT, status events ------------------------------


def _advice_sequence(events: list[Event]) -> list[tuple[float, int]]:
    return [(e.timestamp, e.properties["counters"]) for e in events if e.trigger.value == "event"]


def test_min_hold_keeps_a_boundary_rate_from_flapping() -> None:
    # The rate alternates between 3 and 6 per minute every 2 min; advice is recomputed every minute.
    times: list[float] = []
    for block in range(30):
        per_min = 3 if block % 2 == 0 else 6
        times += [block * 120.0 + i * 60.0 / per_min for i in range(2 * per_min)]
    free = _advice_sequence(_feed(QueueApp(_config(rate_window_s=120, warmup_s=120, min_hold_s=0)), times, 3600))
    held = _advice_sequence(_feed(QueueApp(_config(rate_window_s=120, warmup_s=120, min_hold_s=600)), times, 3600))
    assert len(free) > 10  # without a hold the advice follows every swing
    assert 1 <= len(held) <= 6
    assert all(b[0] - a[0] >= 600 for a, b in itertools.pairwise(held))
    # status events tell the advice in force and, while a change is held back, what Erlang C says now
    app = QueueApp(_config(rate_window_s=120, warmup_s=120, min_hold_s=600, status_interval_s=60))
    status = [e.properties for e in _feed(app, times, 3600) if e.trigger.value == "interval"]
    assert all(p["previous_counters"] is None for p in status)
    assert any(p["recommended_counters"] != p["counters"] for p in status)
    assert {p["counters"] for p in status} == {c for _, c in held}


def test_unreachable_target_advises_every_counter_and_says_so() -> None:
    app = QueueApp(_config(max_counters=8, rate_window_s=600, warmup_s=600))
    events = _feed(app, [float(t) for t in range(0, 601, 10)], 600)  # 6/min, A = 18 > 8 counters
    (e,) = events
    assert e.properties["counters"] == 8 and e.properties["target_met"] is False
    assert e.properties["mean_wait_s"] is None  # unstable queue: no finite mean wait
    assert app.status is not None and not app.status.target_met


def test_min_counters_and_no_arrivals() -> None:
    app = QueueApp(_config(min_counters=2, rate_window_s=600, warmup_s=600))
    (e,) = _feed(app, [], 600, queue_length=0)
    assert e.properties["counters"] == 2 and e.properties["arrivals_per_min"] == 0.0
    assert e.properties["wait_s"] == 0.0 and e.properties["mean_wait_s"] == 0.0
    app = QueueApp(_config(rate_window_s=600, warmup_s=600))
    (e,) = _feed(app, [], 600, queue_length=3)
    assert e.properties["wait_s"] is None  # people wait and nobody arrives: Little's law is undefined


def test_other_lines_and_the_exit_direction_are_not_arrivals() -> None:
    app = QueueApp(_config(rate_window_s=60, warmup_s=60))
    out: list[Event] = []
    for k in range(61):
        ctx = _ctx(k, float(k))
        events = [_crossing(ctx, "entry", "out"), _crossing(ctx, "door", "in")]
        events += [_crossing(ctx)] if k % 10 == 0 else []
        out += app.update(events, {"queue": 0}, ctx)
    assert out[0].properties["arrivals_per_min"] == 6.0


def test_service_time_is_measured_from_service_zone_dwells() -> None:
    cfg = _config(service_zone="till", measure_aht=True, aht_min_samples=10, rate_window_s=600, warmup_s=600)
    app = QueueApp(cfg)
    out: list[Event] = []
    for k in range(601):
        ctx = _ctx(k, float(k))
        events = [_crossing(ctx)] if k % 20 == 0 else []
        if k % 30 == 0 and k > 0:
            events.append(_exit(ctx, "till", 90.0 if k % 60 else 150.0))  # mean 120 s
            events.append(_exit(ctx, "till", 2.0))  # walked past: ignored
            events.append(_exit(ctx, "till", 999.0, lost=True))  # lost inside: ignored
            events.append(_exit(ctx, "queue", 400.0))  # other zone: ignored
        out += app.update(events, {"queue": 2, "till": 1}, ctx)
    (e,) = out
    assert e.properties["aht_source"] == "measured" and e.properties["aht_s"] == 120.0
    lam = 31 / 600
    assert e.properties["counters"] == recommend_counters(lam, 120.0, target_mean_wait_s=10.0).counters
    few = QueueApp(cfg.model_copy(update={"aht_min_samples": 1000}))
    k = 600
    assert few.update([], {"queue": 0}, _ctx(0, 0.0)) == []
    (e,) = few.update([], {"queue": 0}, _ctx(k, float(k)))
    assert e.properties["aht_source"] == "configured" and e.properties["aht_s"] == 180.0


def test_status_events_are_periodic_and_keep_the_advice() -> None:
    app = QueueApp(_config(rate_window_s=300, warmup_s=300, status_interval_s=120))
    events = _feed(app, [float(t) for t in range(0, 1200, 30)], 1199)
    changes = [e for e in events if e.trigger.value == "event"]
    status = [e for e in events if e.trigger.value == "interval"]
    assert len(changes) == 1 and len(status) == 8  # t = 300, 420, ..., 1140
    assert all(s.properties["counters"] == changes[0].properties["counters"] for s in status)
    assert len({e.id for e in events}) == len(events)


def test_state_is_bounded_and_inputs_are_not_touched() -> None:
    cfg = _config(service_zone="till", measure_aht=True, rate_window_s=60, warmup_s=0, advice_interval_s=1)
    app = QueueApp(cfg)
    counts = {"queue": 3}
    for k in range(10_000):
        ctx = _ctx(k, k / 10)
        events = (_crossing(ctx), _exit(ctx, "till", 30.0))
        app.update(events, counts, ctx)
    assert counts == {"queue": 3}
    assert app._rate is not None and len(app._rate) <= 601 and len(app._dwells) <= 601


def test_missing_queue_zone_count_is_an_error() -> None:
    with pytest.raises(InputError, match="zone_counts has no 'queue'"):
        QueueApp(_config()).update([], {"till": 1}, _ctx(0, 0.0))


# ---- config errors name the key and the value -----------------------------------------------------

SQUARE = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]


def _analytics(queue: dict[str, Any], **extra: Any) -> dict[str, Any]:
    q = {"name": "checkout", "queue_zone": "queue", "entry_line": "entry", "target_mean_wait_s": 10, **queue}
    return {
        "zones": [{"name": "queue", "polygon": SQUARE}, {"name": "till", "polygon": SQUARE}],
        "lines": [{"name": "entry", "start": [0, 0.5], "end": [1, 0.5], "left_to_right": "join",
                   "right_to_left": "leave"}],
        "apps": {"queues": [q]},
        **extra,
    }  # fmt: skip


def _rejected(analytics: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config({"analytics": analytics}, "device.yaml")
    return str(info.value)


@pytest.mark.parametrize(
    ("queue", "extra", "fragments"),
    [
        ({"queue_zone": "tills", "entry_direction": "join"}, {},
         ["analytics.apps.queues[0].queue_zone: no zone named 'tills'", "did you mean 'till'",
          "zones are: 'queue', 'till'"]),
        ({"entry_line": "door", "entry_direction": "join"}, {},
         ["analytics.apps.queues[0].entry_line: no line named 'door'", "lines are: 'entry'"]),
        ({"service_zone": "counter", "entry_direction": "join"}, {},
         ["analytics.apps.queues[0].service_zone: no zone named 'counter'"]),
        ({}, {}, ["analytics.apps.queues[0].entry_direction: line 'entry' has no direction 'in'",
                  "its directions are 'join' and 'leave'"]),
        ({"target_mean_wait_s": None}, {}, ["analytics.apps.queues.0", "set target_mean_wait_s and/or"]),
        ({"target_service_level": 0.8}, {}, ["target_service_level=0.8 needs target_s"]),
        ({"target_service_level": 1.0, "target_s": 20}, {}, ["analytics.apps.queues.0.target_service_level"]),
        ({"min_counters": 5, "max_counters": 4}, {}, ["min_counters=5 must be <= max_counters=4"]),
        ({"measure_aht": True}, {}, ["measure_aht=true needs service_zone"]),
        ({"aht_s": 0}, {}, ["analytics.apps.queues.0.aht_s", "greater than 0"]),
        ({"service_zone": "queue"}, {}, ["service_zone and queue_zone must differ"]),
        ({"window": 60}, {}, ["analytics.apps.queues.0.window", "Extra inputs"]),
        ({"entry_direction": "join", "counters": [{"name": "till-1", "staff_zone": "tills"}]}, {},
         ["analytics.apps.queues[0].counters[0].staff_zone: no zone named 'tills'", "did you mean 'till'"]),
        ({"entry_direction": "join", "counters": [{"name": "t", "staff_zone": "till"}] * 2}, {},
         ["analytics.apps.queues[0].counters[1].name: 't' is already used by analytics.apps.queues[0].counters[0]"]),
        ({"counters": [{"name": "t", "staff_zone": "queue"}]}, {},
         ["counters[0].staff_zone must differ from queue_zone, both are 'queue'"]),
        ({"counters": [{"name": "t", "zone": "till"}]}, {}, ["analytics.apps.queues.0.counters.0.zone", "Extra inputs"]),
        ({"open_hold_s": -1}, {}, ["analytics.apps.queues.0.open_hold_s"]),
    ],
)
def test_bad_queue_configs_are_named(queue: dict[str, Any], extra: dict[str, Any], fragments: list[str]) -> None:
    message = _rejected(_analytics(queue, **extra))
    for fragment in fragments:
        assert fragment in message, message


def test_duplicate_queue_names_are_rejected() -> None:
    analytics = _analytics({"entry_direction": "join"})
    analytics["apps"]["queues"] *= 2
    assert "queues[1].name: 'checkout' is already used by queues[0]" in _rejected(analytics)


def test_queue_config_loads_from_yaml_shape() -> None:
    cfg = AnalyticsConfig.model_validate(APP_YAML)
    q = cfg.apps.queues[0]
    assert (q.queue_zone, q.entry_line, q.entry_direction, q.min_hold_s) == ("queue", "entry", "in", 120)
    assert math.isclose(q.aht_s, 180.0)


# ---- open counters: staff present in a counter's staff zone ---------------------------------------


def test_a_counter_stays_open_for_open_hold_s_after_its_staff_zone_empties() -> None:
    counters = [{"name": "till-1", "staff_zone": "s1"}, {"name": "till-2", "staff_zone": "s2"}]
    app = QueueApp(_config(counters=counters, open_hold_s=30, warmup_s=0, status_interval_s=1))
    assert app.open_counters == ()  # nothing seen yet: nothing open
    staffed = {"till-1": range(0, 101), "till-2": range(50, 61)}  # seconds with someone in the zone
    opened: dict[int, list[str]] = {}
    for k in range(200):
        ctx = _ctx(k, float(k))
        counts = {"queue": 0, "s1": int(k in staffed["till-1"]), "s2": int(k in staffed["till-2"])}
        for e in app.update([], counts, ctx):
            opened[k] = e.properties["open_counter_names"]
            assert e.properties["open_counters"] == len(opened[k])
        assert list(app.open_counters or ()) == opened[k]
    assert opened[0] == ["till-1"] and opened[49] == ["till-1"] and opened[50] == ["till-1", "till-2"]
    assert opened[90] == ["till-1", "till-2"] and opened[91] == ["till-1"]  # till-2 held 30 s after 60
    assert opened[130] == ["till-1"] and opened[131] == [] and opened[199] == []


def test_a_missing_staff_zone_count_is_an_error() -> None:
    app = QueueApp(_config(counters=[{"name": "till-1", "staff_zone": "s1"}]))
    with pytest.raises(InputError, match="zone_counts has no 's1'"):
        app.update([], {"queue": 1}, _ctx(0, 0.0))


STAFF_YAML: dict[str, Any] = {
    **APP_YAML,
    "zones": [*APP_YAML["zones"],
              {"name": "till-1-staff", "polygon": [[0.05, 0.0], [0.3, 0.0], [0.3, 0.38], [0.05, 0.38]],
               "classes": ["person"], "inertia_frames": 2},
              {"name": "till-2-staff", "polygon": [[0.6, 0.0], [0.9, 0.0], [0.9, 0.38], [0.6, 0.38]],
               "classes": ["person"], "inertia_frames": 2}],
    "apps": {"queues": [{**APP_YAML["apps"]["queues"][0], "warmup_s": 60, "status_interval_s": 10,
                         "open_hold_s": 30,
                         "counters": [{"name": "till-1", "staff_zone": "till-1-staff"},
                                      {"name": "till-2", "staff_zone": "till-2-staff"}]}]},
}  # fmt: skip


def test_cashiers_seen_in_staff_zones_open_counters_in_the_events() -> None:
    """Detections of cashiers behind two tills drive ``open_counters``; a short step away keeps it open."""
    engine = Analytics(AnalyticsConfig.model_validate(STAFF_YAML), "shop-cam-1", "main")
    cashier_1 = [200 - 24, 240 - 110, 200 + 24, 240]  # bottom centre in till-1-staff
    cashier_2 = [960 - 24, 240 - 110, 960 + 24, 240]  # bottom centre in till-2-staff
    t0 = 1.7e9
    reports: list[tuple[float, list[str]]] = []
    for k in range(round(600 * FPS)):
        t = k / FPS
        boxes = [b for b, present in ((cashier_1, not 400 <= t < 410), (cashier_2, 100 <= t < 300)) if present]
        n = len(boxes)
        dets = Detections.from_arrays(np.array(boxes, dtype=float).reshape(-1, 4), [0.9] * n, [0] * n, ["person"] * n)
        meta = FrameMeta("shop-cam-1", "main", k, k, t0 + t, ModelRef("nanodet", "1"), (W, H), dets)
        for e in engine.update(meta).events:
            if e.type is EventType.QUEUE_ADVICE:
                assert e.properties["open_counters"] == len(e.properties["open_counter_names"])
                reports.append((e.timestamp - t0, e.properties["open_counter_names"]))
    assert len(reports) >= 50  # the first advice at 60 s, then a status every 10 s
    slack = 8.0  # zone inertia (2 frames) and track loss (10 frames at 2 fps) delay the zone's count
    for t, names in reports:
        assert "till-1" in names, t  # present throughout but for 10 s, shorter than open_hold_s
        if 100 + slack <= t <= 300 + 30 - 1:
            assert "till-2" in names, t
        elif t < 100 or t > 300 + 30 + slack:
            assert "till-2" not in names, t
    assert next(n for t, n in reports if 150 <= t <= 160) == ["till-1", "till-2"]
    assert [n for t, n in reports if t >= 400][-1] == ["till-1"]
