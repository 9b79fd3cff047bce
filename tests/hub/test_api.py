"""The HTTP API end to end with FastAPI's TestClient on a real database."""

from __future__ import annotations

import base64
import csv
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import fastapi.routing
import pytest
from fastapi.testclient import TestClient
from hubkit import ADMIN_HEADERS, api_client, enrol

from edgesight.core.events import EventType
from edgesight.core.wire import Command, CommandResult, Kind, ReportedTwin, join_envelopes, open_envelope
from edgesight.hub.downlink import RecordingPublisher
from edgesight.hub.storage import Database

H = ADMIN_HEADERS


@pytest.fixture
def published() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def client(db: Database, tmp_path: Path, published: RecordingPublisher) -> Iterator[TestClient]:
    with api_client(db, tmp_path, published, secret_cache_s=0, auth_failures_per_minute=1000) as c:
        yield c



def _body(*raws: bytes) -> bytes:
    return join_envelopes(raws)


def _ingest(client: TestClient, creds: dict[str, Any], *raws: bytes) -> Any:
    r = client.post("/api/v1/ingest", content=_body(*raws),
                    headers={"Authorization": f"Bearer {creds['device_id']}:{creds['token']}",
                             "Content-Type": "application/octet-stream"})  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json()


def _routes(app: Any) -> list[tuple[str, set[str]]]:
    contexts = fastapi.routing.iter_route_contexts(app.routes)
    return [(c.path, set(c.methods or ())) for c in contexts if isinstance(c.route, fastapi.routing.APIRoute)]


# Public by design: health, the console's page and its sign-in form (303 back to the page).
PUBLIC = {"/health": 200, "/": 200, "/console/login": 303}


def test_every_endpoint_but_health_needs_a_token(client: TestClient) -> None:
    routes = _routes(client.app)
    assert len(routes) >= 20
    for path, methods in routes:
        url = path.replace("{device_id}", "cam-1").replace("{command_id}", "x")
        for method in methods:
            r = client.request(method, url, headers={"Authorization": "Bearer wrong-token"}, follow_redirects=False)
            r2 = client.request(method, url, follow_redirects=False)
            if path in PUBLIC:
                assert r2.status_code == PUBLIC[path], f"{method} {path}"
            else:
                assert (r.status_code, r2.status_code) == (401, 401), f"{method} {path}"
    assert client.get("/openapi.json", headers=H).status_code == 200


def test_enrol_list_revoke(client: TestClient) -> None:
    _dev, creds = enrol(client)
    assert len(base64.b64decode(creds["secret"])) == 32
    assert creds["topics"]["up"] == "edgesight/v1/d/cam-1/up"
    assert client.post("/api/v1/devices", json={"device_id": "cam-1"}, headers=H).status_code == 409
    assert client.post("/api/v1/devices", json={"device_id": "bad/id"}, headers=H).status_code == 422
    assert [d["id"] for d in client.get("/api/v1/devices?site=s1", headers=H).json()] == ["cam-1"]
    assert client.get("/api/v1/devices/nope", headers=H).status_code == 404
    assert client.post("/api/v1/devices/cam-1/revoke", headers=H).json()["revoked_at"] is not None
    r = client.post("/api/v1/ingest", content=b"", headers={"Authorization": f"Bearer cam-1:{creds['token']}"})
    assert r.status_code == 401


def test_http_ingest_outcomes_and_queries(client: TestClient) -> None:
    dev, creds = enrol(client)
    _other, other_creds = enrol(client, "cam-2")
    t0 = 1_750_000_000.0
    ev = dev.event(EventType.ZONE_COUNT, "till", timestamp=t0, trigger="interval", count=3,
                   counts_by_class={"person": 3})  # fmt: skip
    frames, events = dev.frames(2), dev.events([ev])
    out = _ingest(client, creds, frames, events, frames, b"garbage-garbage-garbage")
    assert [o["status"] for o in out["outcomes"]] == ["stored", "stored", "duplicate", "bad_magic"]
    assert out["stored_through"] == 2
    # cam-1's envelopes under cam-2's token: device_mismatch
    assert _ingest(client, other_creds, dev.frames(1))["outcomes"][0]["status"] == "device_mismatch"
    got = client.get("/api/v1/events", params={"device": "cam-1", "from": t0 - 1, "to": t0 + 1}, headers=H).json()
    assert [e["id"] for e in got] == [ev.id]
    assert client.get("/api/v1/events", params={"site": "elsewhere"}, headers=H).json() == []
    fr = client.get("/api/v1/frames", params={"device": "cam-1"}, headers=H).json()
    assert [f["frame_index"] for f in fr] == [1, 2] and fr[0]["n_detections"] == 6
    agg = client.get("/api/v1/aggregates", params={"rule": "till", "bucket": "hour"}, headers=H).json()
    assert agg[0]["bucket"] == int(t0 // 3600 * 3600) and agg[0]["max"] == 3.0
    counts = client.get("/api/v1/counts", params={"from": t0 - 60, "to": t0 + 60}, headers=H).json()
    assert counts["zone_counts"][0]["max"] == 3.0
    r = client.post("/api/v1/ingest", content=b"\0\0\0\x09abc",
                    headers={"Authorization": f"Bearer cam-1:{creds['token']}"})  # fmt: skip
    assert r.status_code == 400 and "claims 9 bytes" in r.json()["detail"]
    metrics = client.get("/metrics", headers=H).text
    assert 'edgesight_hub_rejected_total{reason="device_mismatch"} 1.0' in metrics
    assert "edgesight_hub_ingest_latency_seconds_bucket" in metrics


def test_http_ingest_of_poison_is_a_rejection_not_a_503(client: TestClient, db: Database) -> None:
    """Issue 8 item 1 over HTTP: a NUL in a heartbeat and a message the database refuses are
    answered as permanent rejections (no SQL in the answer), the rest of the body is stored."""
    from test_ingest_poison import crossing, nul_heartbeat, refuse_rule

    refuse_rule(db, "poison")
    dev, creds = enrol(client)
    r = client.post("/api/v1/ingest", content=_body(dev.frames(1), nul_heartbeat(dev), crossing(dev, "poison"),
                                                    crossing(dev, "door")),
                    headers={"Authorization": f"Bearer {creds['device_id']}:{creds['token']}",
                             "Content-Type": "application/octet-stream"})  # fmt: skip
    assert r.status_code == 200, r.text
    out = r.json()
    assert [o["status"] for o in out["outcomes"]] == ["stored", "bad_payload", "unstorable", "stored"]
    assert out["stored_through"] == 4
    assert "INSERT" not in r.text and "poison rule" not in r.text and "no_poison" not in r.text


def test_twin_versions_commands_and_privacy(client: TestClient, published: RecordingPublisher) -> None:
    dev, creds = enrol(client)
    twin = client.get("/api/v1/devices/cam-1/twin", headers=H).json()
    assert twin["desired_version"] == 1 and twin["desired"]["privacy"]["allow_images"] is False
    r = client.post("/api/v1/devices/cam-1/commands", json={"name": "snapshot"}, headers=H)
    assert r.status_code == 403 and "allow_images" in r.json()["detail"]
    patch = {"patch": {"upload": {"enabled": True, "interval_s": 5}, "privacy": {"allow_images": True}}}
    twin = client.patch("/api/v1/devices/cam-1/twin/desired", json=patch, headers=H).json()
    assert twin["desired_version"] == 2 and twin["desired"]["upload"]["interval_s"] == 5
    twin = client.patch("/api/v1/devices/cam-1/twin/desired", json={"patch": {"upload": None}}, headers=H).json()
    assert twin["desired_version"] == 3 and "upload" not in twin["desired"]
    topic, raw, retained = published.sent[-1]
    assert topic == "edgesight/v1/d/cam-1/down/desired" and retained
    env = open_envelope(raw, lambda _d: dev.secret)
    assert env.kind is Kind.DESIRED and json.loads(env.payload)["version"] == 3
    cmd = client.post("/api/v1/devices/cam-1/commands", json={"name": "snapshot", "args": {"roi": 1}}, headers=H)
    assert cmd.status_code == 202
    command_id = cmd.json()["id"]
    topic, raw, retained = published.sent[-1]
    env = open_envelope(raw, lambda _d: dev.secret)
    assert topic.endswith("/down/command") and not retained and Command.from_bytes(env.payload).command_id == command_id
    assert [open_envelope(r, lambda _d: dev.secret).seq for _t, r, _ in published.sent] == [1, 2, 3]
    out = _ingest(client, creds, dev.send(ReportedTwin(3, {"fps": 10})), dev.send(CommandResult(command_id, True, "sent")))
    assert [o["status"] for o in out["outcomes"]] == ["stored", "stored"]
    twin = client.get("/api/v1/devices/cam-1/twin", headers=H).json()
    assert twin["reported_version"] == 3 and twin["reported"] == {"fps": 10}
    assert client.get(f"/api/v1/commands/{command_id}", headers=H).json()["status"] == "ok"


def test_exports(client: TestClient) -> None:
    dev, creds = enrol(client)
    evs = [dev.event(EventType.LINE_CROSSING, "door", timestamp=1_750_000_000.0 + i, class_name="person",
                     track_ids=(i,), direction="in", status="CrossRight", crossed_frame_index=i,
                     point=[0.5, 0.5]) for i in range(7)]  # fmt: skip
    _ingest(client, creds, dev.events(evs))
    text = client.get("/api/v1/export/events.csv", headers=H).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["id"] for r in rows] == [e.id for e in evs]
    assert json.loads(rows[0]["properties"])["direction"] == "in"
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(client.get("/api/v1/export/events.parquet", headers=H).content))
    assert table.num_rows == 7 and table.column("rule").to_pylist() == ["door"] * 7


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []  # noqa: RUF012
    fail_first = 1

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if _Hook.fail_first > 0:  # the first attempt fails: delivery must retry
            _Hook.fail_first -= 1
            self.send_response(503)
        else:
            _Hook.received.append(body)
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


def test_rules_raise_alerts_to_webhook_and_mqtt(client: TestClient, published: RecordingPublisher) -> None:
    _Hook.received, _Hook.fail_first = [], 1
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dev, creds = enrol(client)
        rule = {"name": "crowd", "event_type": "zone_count",
                "condition": {"rule": "till", "property": "count", "op": ">=", "value": 5},
                "webhook_url": f"http://127.0.0.1:{server.server_port}/hook", "mqtt_topic": "alerts/crowd"}  # fmt: skip
        assert client.post("/api/v1/rules", json=rule, headers=H).status_code == 201
        assert client.post("/api/v1/rules", json=rule, headers=H).status_code == 409
        evs = [dev.event(EventType.ZONE_COUNT, "till", trigger="interval", count=c, counts_by_class={"person": c})
               for c in (2, 7, 4)]  # fmt: skip
        _ingest(client, creds, dev.events(evs))
        import time

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            alerts = client.get("/api/v1/alerts", headers=H).json()
            if alerts and alerts[0]["delivered"] != "pending":
                break
            time.sleep(0.05)
        assert [a["event_id"] for a in alerts] == [evs[1].id] and alerts[0]["delivered"] == "delivered"
        assert _Hook.received[0]["event"]["properties"]["count"] == 7
        assert [t for t, _p, _r in published.sent] == ["alerts/crowd"]
    finally:
        server.shutdown()


def test_insights(client: TestClient) -> None:
    dev, creds = enrol(client, "cam-q", "store-7")
    evs = [dev.event(EventType.QUEUE_ADVICE, "tills", counters=n, mean_wait_s=30.0) for n in (2, 3)]
    evs += [dev.event(EventType.RESTOCK, "shelf-a", state="alert", time_to_empty_s=600.0, level=0.2),
            dev.event(EventType.RESTOCK, "shelf-b", state="alert", time_to_empty_s=60.0, level=0.1),
            dev.event(EventType.RESTOCK, "shelf-c", state="alert", time_to_empty_s=50.0, level=0.1),
            dev.event(EventType.RESTOCK, "shelf-c", state="cleared", level=1.0)]  # fmt: skip
    _ingest(client, creds, dev.events(evs))
    staffing = client.get("/api/v1/insights/staffing", params={"site": "store-7"}, headers=H).json()
    assert [p["counters"] for p in staffing] == [2, 3]
    shelves = client.get("/api/v1/insights/restock", params={"site": "store-7"}, headers=H).json()
    assert [(s["shelf"], s["time_to_empty_s"]) for s in shelves] == [("shelf-b", 60.0), ("shelf-a", 600.0)]
