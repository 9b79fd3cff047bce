"""The console's alert rules, insights, device panels and live fleet through its HTTP API (no browser).

Events reach the hub as a device sends them (signed envelopes on ``/api/v1/ingest``).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from edgesight.core.events import Event, EventType, FrameContext
from edgesight.core.frame import ModelRef
from edgesight.core.wire import Heartbeat, decode_batch, join_envelopes, open_envelope
from edgesight.hub.api import create_app
from edgesight.hub.console import accounts, panels, routes, views
from edgesight.hub.console.accounts import Role
from edgesight.hub.downlink import RecordingPublisher
from edgesight.hub.service import HubService
from edgesight.hub.settings import HubSettings
from edgesight.testing import FakeDevice

ADMIN = "admin-token-for-console-insights-0123"
BEARER = {"Authorization": f"Bearer {ADMIN}"}


class Hub:
    def __init__(self, client: TestClient, service: HubService) -> None:
        self.client, self.service, self.devices = client, service, dict[str, tuple[FakeDevice, str]]()

    def enrol(self, device_id: str, site: str) -> FakeDevice:
        r = self.client.post("/api/v1/devices", json={"device_id": device_id, "site": site}, headers=BEARER)
        assert r.status_code == 201, r.text
        device = FakeDevice(device_id, base64.b64decode(r.json()["secret"]))
        self.devices[device_id] = (device, r.json()["token"])
        return device

    def send(self, device_id: str, *messages: bytes) -> None:
        token = self.devices[device_id][1]
        r = self.client.post("/api/v1/ingest", content=join_envelopes(list(messages)),
                             headers={"Authorization": f"Bearer {device_id}:{token}"})  # fmt: skip
        assert r.status_code == 200 and all(o["status"] == "stored" for o in r.json()["outcomes"]), r.text

    def sign_in(self, name: str, password: str) -> str:
        r = self.client.post("/console/login", data={"name": name, "password": password}, follow_redirects=False)
        assert r.headers["location"] == "/", r.headers
        return str(self.client.get("/console/api/me").json()["csrf"])


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    settings = HubSettings(data_dir=tmp_path, admin_token=ADMIN, mqtt_host=None)
    service = HubService(settings, RecordingPublisher(), run_mqtt=False)
    with TestClient(create_app(settings, service)) as client:
        yield Hub(client, service)


RULE = {"name": "crowded till", "event_type": "zone_count", "mqtt_topic": "store/alerts",
        "condition": {"rule": "till", "property": "count", "op": ">=", "value": 3}}  # fmt: skip


def _till(device: FakeDevice, count: int) -> Any:
    return device.event(EventType.ZONE_COUNT, "till", trigger="interval", count=count, counts_by_class={"person": count})


def test_an_admin_creates_and_edits_rules_and_the_alerts_they_fire_are_listed(hub: Hub) -> None:
    device = hub.enrol("cam-1", "store-1")
    csrf = hub.sign_in("admin", ADMIN)
    client = hub.client
    assert client.post("/console/api/rules", json=RULE).status_code == 403  # no CSRF header
    r = client.post("/console/api/rules", json=RULE, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    rule_id = r.json()["id"]
    assert client.post("/console/api/rules", json=RULE, headers={"X-CSRF-Token": csrf}).status_code == 409
    no_target = {**RULE, "name": "x", "mqtt_topic": None}
    r = client.post("/console/api/rules", json=no_target, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422 and "webhook_url and/or mqtt_topic" in r.text
    hub.send("cam-1", device.events([_till(device, 1), _till(device, 4)]))
    alerts = client.get("/console/api/alerts").json()
    assert [(a["detail"]["rule"], a["detail"]["event"]["properties"]["count"]) for a in alerts] == [("crowded till", 4)]
    # Edited: from now on two people are enough; the hub's rule engine uses the edited rule at once.
    edited = {**RULE, "name": "busy till", "condition": {**RULE["condition"], "value": 2}}
    r = client.put(f"/console/api/rules/{rule_id}", json=edited, headers={"X-CSRF-Token": csrf})
    assert (r.status_code, r.json()["name"], r.json()["condition"]["value"]) == (200, "busy till", 2)
    assert client.put("/console/api/rules/999", json=edited, headers={"X-CSRF-Token": csrf}).status_code == 404
    hub.send("cam-1", device.events([_till(device, 2)]))
    alerts = client.get("/console/api/alerts").json()
    assert [(a["detail"]["rule"], a["detail"]["event"]["properties"]["count"]) for a in alerts] == [
        ("busy till", 2), ("crowded till", 4)]  # newest first  # fmt: skip
    rules = client.get("/console/api/rules").json()
    assert [(r["name"], r["alerts"]) for r in rules] == [("busy till", 2)]
    assert rules[0]["last_alert_at"] == pytest.approx(alerts[0]["created_at"])


def test_a_viewer_sees_rules_but_cannot_create_or_edit_them(hub: Hub) -> None:
    csrf = hub.sign_in("admin", ADMIN)
    rule_id = hub.client.post("/console/api/rules", json=RULE, headers={"X-CSRF-Token": csrf}).json()["id"]
    password = accounts.add_user(hub.service.db, "vera", Role.VIEWER)
    csrf = hub.sign_in("vera", password)
    assert [r["name"] for r in hub.client.get("/console/api/rules").json()] == ["crowded till"]
    r = hub.client.post("/console/api/rules", json={**RULE, "name": "mine"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403 and "viewer" in r.json()["detail"]
    r = hub.client.put(f"/console/api/rules/{rule_id}", json={**RULE, "name": "mine"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403
    assert [r["name"] for r in hub.client.get("/console/api/rules").json()] == ["crowded till"]


def test_an_admin_mutes_a_rule_and_a_viewer_cannot(hub: Hub) -> None:
    device = hub.enrol("cam-1", "store-1")
    csrf = hub.sign_in("admin", ADMIN)
    client, h = hub.client, {"X-CSRF-Token": csrf}
    rule_id = client.post("/console/api/rules", json=RULE, headers=h).json()["id"]
    assert client.put(f"/console/api/rules/{rule_id}/mute", json={"until": "8h"}).status_code == 403  # no CSRF
    r = client.put(f"/console/api/rules/{rule_id}/mute", json={"until": "2h"}, headers=h)
    assert r.status_code == 422 and "until" in r.text
    r = client.put(f"/console/api/rules/{rule_id}/mute", json={"until": "8h"}, headers=h)
    assert r.status_code == 200 and r.json()["muted"]
    assert r.json()["muted_until"] == pytest.approx(time.time() + 8 * 3600, abs=60)
    hub.send("cam-1", device.events([_till(device, 4)]))  # muted: no alert
    assert client.get("/console/api/alerts").json() == []
    api_rule = client.get("/api/v1/rules", headers=BEARER).json()[0]  # the admin API says so too
    assert api_rule["muted"] and api_rule["muted_until"] == pytest.approx(time.time() + 8 * 3600, abs=60)
    r = client.put(f"/console/api/rules/{rule_id}/mute", json={"until": "unmuted"}, headers=h)
    assert r.json()["muted"] and r.json()["muted_until"] is None  # until an admin unmutes it: JSON-safe
    api_rule = client.get("/api/v1/rules", headers=BEARER).json()[0]
    assert (api_rule["muted"], api_rule["muted_until"]) == (True, None)
    assert client.put("/console/api/rules/999/mute", json={"until": "1h"}, headers=h).status_code == 404
    password = accounts.add_user(hub.service.db, "vera", Role.VIEWER)
    viewer_csrf = hub.sign_in("vera", password)
    assert client.delete(f"/console/api/rules/{rule_id}/mute", headers={"X-CSRF-Token": viewer_csrf}).status_code == 403
    assert client.get("/console/api/rules").json()[0]["muted"]
    csrf = hub.sign_in("admin", ADMIN)
    r = client.delete(f"/console/api/rules/{rule_id}/mute", headers={"X-CSRF-Token": csrf})
    assert (r.status_code, r.json()["muted"]) == (200, False)
    hub.send("cam-1", device.events([_till(device, 5)]))
    assert [a["detail"]["event"]["properties"]["count"] for a in client.get("/console/api/alerts").json()] == [5]
    assert 'edgesight_hub_alerts_muted_total{rule="crowded till"} 1.0' in client.get("/metrics", headers=BEARER).text


def _advice(device: FakeDevice, ts: float, counters: int, queue_length: int, wait_s: float) -> Any:
    return device.event(EventType.QUEUE_ADVICE, "checkout", timestamp=ts, counters=counters,
                        queue_length=queue_length, wait_s=wait_s, previous_counters=None)  # fmt: skip


def test_staffing_advice_per_store_hour_by_hour(hub: Hub) -> None:
    a, b, c = hub.enrol("cam-a", "store-1"), hub.enrol("cam-b", "store-1"), hub.enrol("cam-c", "store-2")
    now = time.time()
    start = (now // 3600 + 1) * 3600 - 24 * 3600  # the first of the 24 hours shown
    h20, h21 = start + 20 * 3600, start + 21 * 3600
    hub.send("cam-a", a.events([_advice(a, h20 + 600, 2, 3, 40.0), _advice(a, h21 + 100, 4, 9, 200.0),
                                _advice(a, h21 + 900, 3, 5, 90.0)]))  # fmt: skip
    hub.send("cam-b", b.events([_advice(b, h20 + 100, 1, 1, 10.0)]))
    hub.send("cam-c", c.events([_advice(c, start - 7200, 2, 0, 0.0)]))  # given before the day: in force all day
    hub.sign_in("admin", ADMIN)
    stores = {s["site"]: s for s in hub.client.get("/console/api/insights/staffing").json()}
    one = stores["store-1"]
    assert one["queues"] == ["cam-a/checkout", "cam-b/checkout"]
    advised = [h["advised"] for h in one["hours"]]
    assert advised[:20] == [None] * 20 and advised[20:] == [3, 5, 4, 4]  # 2+1, max(4,3)+1, then 3+1 in force
    assert (one["hours"][21]["queue_max"], one["hours"][21]["wait_max_s"]) == (9, 200.0)
    assert [h["advised"] for h in stores["store-2"]["hours"]] == [2] * 24


def test_staffing_shows_counters_open_against_advised(hub: Hub) -> None:
    a, b = hub.enrol("cam-a", "store-1"), hub.enrol("cam-b", "store-1")
    now = time.time()
    h22 = (now // 3600 + 1) * 3600 - 2 * 3600  # the hour before the current one

    def advice(dev: FakeDevice, t: float, counters: int, open_: int | None) -> Any:
        names = None if open_ is None else ["till-1", "till-2", "till-3"][:open_]
        return dev.event(EventType.QUEUE_ADVICE, "checkout", timestamp=t, counters=counters, queue_length=4,
                         wait_s=60.0, previous_counters=None, open_counters=open_, open_counter_names=names)  # fmt: skip

    in_current_hour = max(h22 + 3600, now - 1)
    hub.send("cam-a", a.events([advice(a, h22 + 60, 3, 1), advice(a, in_current_hour, 3, 3)]))
    hub.send("cam-b", b.events([advice(b, h22 + 120, 2, None)]))  # declares no counters
    hub.sign_in("admin", ADMIN)
    one = {s["site"]: s for s in hub.client.get("/console/api/insights/staffing").json()}["store-1"]
    last = one["hours"][-2:]
    assert [(h["advised"], h["open"], h["gap"]) for h in last] == [(5, 1, 2), (5, 3, 0)]
    assert all((h["open"], h["gap"]) == (None, None) for h in one["hours"][:-2])


def test_restock_list_and_the_device_panels(hub: Hub) -> None:
    dev = hub.enrol("cam-1", "store-1")
    now = time.time()

    def shelf(name: str, state: str, t: float, tte: float | None) -> Any:
        return dev.event(EventType.RESTOCK, name, timestamp=t, state=state, level=0.2, occupancy=0.2,
                         time_to_empty_s=tte, item_count=4, capacity=20)  # fmt: skip

    def hazard(state: str, track: int, t: float) -> Event:  # Event.create: "kind" is a property here
        dev.frame_index += 1
        return Event.create(EventType.HAZARD, FrameContext("cam-1", "main", dev.frame_index, t, (768, 576)),
                            "forklift_lane", track_ids=(track,), class_name="person",
                            **{"state": state, "kind": "intrusion", "severity": "critical"})  # fmt: skip

    hub.send("cam-1", dev.events([
        shelf("drinks", "alert", now - 900, 600.0), shelf("drinks", "cleared", now - 300, None),
        shelf("snacks", "alert", now - 200, 1800.0), shelf("bread", "alert", now - 100, 300.0),
        hazard("alert", 5, now - 60), hazard("cleared", 5, now - 50), hazard("alert", 6, now - 10),
        _advice(dev, now - 30, 3, 6, 120.0),
    ]))  # fmt: skip
    frames = dev.frames(n_frames=5, n_detections=6)
    hub.send("cam-1", frames)
    hub.sign_in("admin", ADMIN)
    restock = hub.client.get("/console/api/insights/restock").json()
    assert [(s["shelf"], s["site"], s["time_to_empty_s"]) for s in restock] == [
        ("bread", "store-1", 300.0), ("snacks", "store-1", 1800.0)]  # soonest empty first; drinks was refilled  # fmt: skip
    p = hub.client.get("/console/api/devices/cam-1/panels").json()
    assert [(s["rule"], s["state"]) for s in p["shelves"]] == [("bread", "alert"), ("drinks", "cleared"), ("snacks", "alert")]
    assert (p["hazards"]["open"], p["hazards"]["today"]) == (1, 2)
    assert [(h["state"], h["track_ids"]) for h in p["hazards"]["recent"]] == [("alert", [6]), ("cleared", [5]), ("alert", [5])]
    assert [(q["rule"], q["counters"], q["queue_length"]) for q in p["queues"]] == [("checkout", 3, 6)]
    assert p["queues"][0]["advised_per_hour"][-1] == 3
    # The heatmap: each detection's box bottom centre in its cell of the 32 x 18 grid.
    hm = p["heatmap"]
    boxes = np.array([d["box"] for f in decode_batch(open_envelope(frames, lambda _: dev.secret).payload)
                      for d in _boxes(f)])  # fmt: skip
    expected = np.zeros((18, 32), int)
    for x0, _y0, x1, y1 in boxes:
        expected[min(int(y1 * 18), 17), min(int((x0 + x1) / 2 * 32), 31)] += 1
    assert (hm["frames"], hm["cols"], hm["rows"]) == (5, 32, 18)
    assert hm["counts"] == expected.tolist() and expected.sum() == 30
    assert hub.client.get("/console/api/devices/nope/panels").status_code == 404


def _boxes(frame: Any) -> list[dict[str, Any]]:
    from edgesight.core.wire import frame_to_dict

    return list(frame_to_dict(frame)["detections"])


def test_advised_per_hour_without_advice_is_empty() -> None:
    assert panels.advised_per_hour([], 0.0, 3) == [None, None, None]


def test_fleet_stream_sends_the_fleet_then_only_changed_rows(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    dev = hub.enrol("cam-1", "store-1")
    hub.enrol("cam-2", "store-1")
    sent = time.time()
    hub.send("cam-1", dev.send(Heartbeat(fps=9.5, dnn_ms=40.0, model=ModelRef("m", "1"), uptime_s=1.0, outbox_pending=0)))
    hub.sign_in("admin", ADMIN)
    monkeypatch.setattr(routes, "LIVE_STREAM_S", 0.8)
    monkeypatch.setattr(routes, "FLEET_POLL_S", 0.05)
    # cam-1 goes offline 0.3 s into the stream (no heartbeat for longer than OFFLINE_AFTER_S)
    monkeypatch.setattr(views, "OFFLINE_AFTER_S", time.time() - sent + 0.3)
    body = hub.client.get("/console/api/fleet/live").text
    messages = [dict(line.split(": ", 1) for line in block.splitlines()) for block in body.strip().split("\n\n")[1:]]
    assert messages[0]["event"] == "fleet"
    assert {r["id"]: r["status"] for r in json.loads(messages[0]["data"])} == {"cam-1": "online", "cam-2": "never"}
    changed = [json.loads(m["data"]) for m in messages[1:]]
    assert [m["event"] for m in messages[1:]] == ["rows"] and changed == [[{**changed[0][0], "status": "offline"}]]
    assert changed[0][0]["id"] == "cam-1"
