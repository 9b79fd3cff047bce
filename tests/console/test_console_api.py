"""The console's sign-in, roles, CSRF, editor validation and backgrounds through its HTTP API (no browser)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from edgesight.cli.hub import hub_app
from edgesight.core.errors import ConfigError
from edgesight.core.events import EventType
from edgesight.core.wire import join_envelopes, open_envelope
from edgesight.hub.api import create_app
from edgesight.hub.console import accounts, routes
from edgesight.hub.console.accounts import Role
from edgesight.hub.downlink import RecordingPublisher
from edgesight.hub.service import HubService
from edgesight.hub.settings import HubSettings
from edgesight.hub.storage import Database
from edgesight.testing import FakeDevice

ADMIN = "admin-token-for-console-tests-0123"
ZONE = {"name": "till", "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.6]]}


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[TestClient, HubService, RecordingPublisher]]:
    settings = HubSettings(data_dir=tmp_path, admin_token=ADMIN, mqtt_host=None, auth_failures_per_minute=3)
    published = RecordingPublisher()
    service = HubService(settings, published, run_mqtt=False)
    with TestClient(create_app(settings, service)) as client:
        r = client.post("/api/v1/devices", json={"device_id": "cam-1", "site": "s1"},
                        headers={"Authorization": f"Bearer {ADMIN}"})  # fmt: skip
        assert r.status_code == 201
        client.app.state.device_secret = base64.b64decode(r.json()["secret"])  # type: ignore[attr-defined]
        client.app.state.device_token = r.json()["token"]  # type: ignore[attr-defined]
        yield client, service, published


def sign_in(client: TestClient, name: str, password: str) -> str:
    """Signs in; returns the session's CSRF token."""
    r = client.post("/console/login", data={"name": name, "password": password}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/"), r.headers
    me = client.get("/console/api/me").json()
    assert me["user"] == name
    return str(me["csrf"])


def test_wrong_password_gets_no_session(hub: tuple[TestClient, HubService, RecordingPublisher]) -> None:
    client, _service, _ = hub
    r = client.post("/console/login", data={"name": "admin", "password": ADMIN + "x"}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/?login=failed")
    assert "set-cookie" not in r.headers
    assert client.get("/console/api/fleet").status_code == 401


def test_failed_sign_ins_are_limited_per_address(hub: tuple[TestClient, HubService, RecordingPublisher]) -> None:
    client, _service, _ = hub
    wrong = {"name": "admin", "password": "guess-" + "x" * 20}
    locations = [client.post("/console/login", data=wrong, follow_redirects=False).headers["location"]
                 for _ in range(4)]  # fmt: skip
    assert locations[:3] == ["/?login=failed"] * 3
    assert locations[3].startswith("/?login=wait&retry=")
    right = client.post("/console/login", data={"name": "admin", "password": ADMIN}, follow_redirects=False)
    assert right.headers["location"].startswith("/?login=wait") and "set-cookie" not in right.headers
    # the same limit guards the bearer API
    assert client.get("/api/v1/devices", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 429


def test_cookie_is_httponly_strict_and_secure_over_tls(hub: tuple[TestClient, HubService, RecordingPublisher]) -> None:
    client, _service, _ = hub
    plain = client.post("/console/login", data={"name": "admin", "password": ADMIN}, follow_redirects=False)
    cookie = plain.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    tls = client.post("https://testserver/console/login", data={"name": "admin", "password": ADMIN},
                      follow_redirects=False)  # fmt: skip
    assert "; secure" in tls.headers["set-cookie"].lower()
    assert ADMIN not in client.get("/console/api/me").text


def test_admin_saves_shapes_with_csrf_and_the_twin_is_published(
    hub: tuple[TestClient, HubService, RecordingPublisher],
) -> None:
    client, _service, published = hub
    csrf = sign_in(client, "admin", ADMIN)
    url = "/console/api/devices/cam-1/analytics"
    assert client.put(url, json={"zones": [ZONE]}).status_code == 403  # no CSRF header
    assert client.put(url, json={"zones": [ZONE]}, headers={"X-CSRF-Token": "forged"}).status_code == 403
    r = client.put(url, json={"zones": [ZONE]}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    assert r.json()["desired_version"] == 2
    topic, payload, retain = published.sent[-1]
    assert topic.endswith("/cam-1/down/desired") and retain
    secret = client.app.state.device_secret  # type: ignore[attr-defined]
    desired = json.loads(open_envelope(payload, lambda _d: secret).payload)
    assert desired["config"]["analytics"]["zones"] == [ZONE]
    assert client.get("/console/api/devices/cam-1").json()["zones"] == [ZONE]


def test_invalid_shapes_are_refused_with_the_configs_message(
    hub: tuple[TestClient, HubService, RecordingPublisher],
) -> None:
    client, _service, published = hub
    csrf = sign_in(client, "admin", ADMIN)
    bowtie = {"name": "bow", "polygon": [[0, 0], [1, 1], [1, 0], [0, 1]]}
    r = client.put("/console/api/devices/cam-1/analytics", json={"zones": [bowtie]}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("device cam-1 analytics: zones.0.polygon:")
    assert "self-intersecting" in r.json()["detail"]
    twice = {"zones": [ZONE, ZONE]}
    r = client.put("/console/api/devices/cam-1/analytics", json=twice, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422 and "till" in r.json()["detail"]
    assert published.sent == []
    assert client.get("/console/api/devices/cam-1").json()["desired_version"] == 1


def test_a_viewer_reads_but_cannot_change(hub: tuple[TestClient, HubService, RecordingPublisher]) -> None:
    client, service, _ = hub
    password = accounts.add_user(service.db, "vera", Role.VIEWER)
    csrf = sign_in(client, "vera", password)
    assert [d["id"] for d in client.get("/console/api/fleet").json()] == ["cam-1"]
    r = client.put("/console/api/devices/cam-1/analytics", json={"zones": [ZONE]}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403 and "viewer" in r.json()["detail"]
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
    r = client.put("/console/api/devices/cam-1/background", content=png, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403
    # The bearer API stays closed to a console session.
    assert client.get("/api/v1/devices").status_code == 401


def test_sign_out_ends_the_session(hub: tuple[TestClient, HubService, RecordingPublisher]) -> None:
    client, _service, _ = hub
    sign_in(client, "admin", ADMIN)
    cookie = client.cookies.get("edgesight_session")
    assert client.post("/console/api/logout").status_code == 204
    client.cookies.set("edgesight_session", str(cookie))
    assert client.get("/console/api/me").status_code == 401


def test_sessions_expire_and_names_are_checked(hub: tuple[TestClient, HubService, RecordingPublisher]) -> None:
    _client, service, _ = hub
    token, session = accounts.start_session(service.db, "vera", Role.VIEWER, now=1000.0)
    assert accounts.find_session(service.db, token, now=1001.0) == session
    assert accounts.find_session(service.db, token, now=1000.0 + accounts.SESSION_TTL_S) is None
    with pytest.raises(ConfigError, match="reserved"):
        accounts.add_user(service.db, "admin", Role.ADMIN)
    with pytest.raises(ConfigError, match="'a b'"):
        accounts.add_user(service.db, "a b", Role.VIEWER)
    accounts.add_user(service.db, "vera", Role.VIEWER)
    with pytest.raises(ConfigError, match="already exists"):
        accounts.add_user(service.db, "vera", Role.ADMIN)


def test_only_png_or_jpeg_backgrounds_are_stored(hub: tuple[TestClient, HubService, RecordingPublisher]) -> None:
    client, _service, _ = hub
    csrf = sign_in(client, "admin", ADMIN)
    url = "/console/api/devices/cam-1/background"
    assert client.get(url).status_code == 404
    r = client.put(url, content=b"<svg onload=alert(1)>", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 400 and "only PNG or JPEG" in r.json()["detail"]
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
    assert client.put(url, content=png, headers={"X-CSRF-Token": csrf}).status_code == 204
    got = client.get(url)
    assert (got.headers["content-type"], got.content) == ("image/png", png)
    assert client.get("/console/api/devices/cam-1").json()["has_background"] is True


def test_the_page_forbids_inline_and_foreign_scripts(hub: tuple[TestClient, HubService, RecordingPublisher]) -> None:
    client, _service, _ = hub
    r = client.get("/")
    assert r.status_code == 200 and '<form method="post" action="/console/login">' in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "http" not in r.text.split("<body>")[0]  # no CDN: every asset is served by the hub


def test_user_add_cli_prints_a_password_that_signs_in(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(hub_app, ["user", "add", "olga", "--role", "admin", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    password = result.stdout.strip().rsplit(" ", 1)[-1]
    db = Database(f"sqlite:///{tmp_path / 'hub.sqlite3'}")
    assert accounts.authenticate(db, "olga", password, ADMIN) is Role.ADMIN
    assert accounts.authenticate(db, "olga", password + "x", ADMIN) is None
    db.close()
    bad = runner.invoke(hub_app, ["user", "add", "pat", "--role", "owner", "--data-dir", str(tmp_path)])
    assert bad.exit_code != 0 and isinstance(bad.exception, ConfigError)
    assert "--role: expected admin or viewer, got 'owner'" in str(bad.exception)


def _sse_messages(body: str) -> list[dict[str, str]]:
    messages = []
    for block in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            messages.append(fields)
    return messages


def test_live_stream_sends_counts_and_events_and_resumes_after_the_last_one(
    hub: tuple[TestClient, HubService, RecordingPublisher], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _service, _ = hub
    monkeypatch.setattr(routes, "LIVE_STREAM_S", 0.3)  # streams end soon, as they do every 30 s
    monkeypatch.setattr(routes, "LIVE_POLL_S", 0.05)
    dev = FakeDevice("cam-1", client.app.state.device_secret)  # type: ignore[attr-defined]
    crossings = [dev.event(EventType.LINE_CROSSING, "door", class_name="person", track_ids=(i,), direction="in",
                           status="CrossRight", crossed_frame_index=i, point=[0.5, 0.5]) for i in range(3)]  # fmt: skip
    auth = {"Authorization": f"Bearer cam-1:{client.app.state.device_token}"}  # type: ignore[attr-defined]
    assert client.post("/api/v1/ingest", content=join_envelopes([dev.events(crossings)]), headers=auth).status_code == 200
    sign_in(client, "admin", ADMIN)
    first = _sse_messages(client.get("/console/api/devices/cam-1/live").text)
    kinds = [m["event"] for m in first]
    assert kinds[:3] == ["counts", "health", "twin"] and kinds.count("event") == 3
    assert json.loads(first[0]["data"])["lines"] == {"door": {"in": 3}}
    events = [m for m in first if m["event"] == "event"]
    assert [json.loads(m["data"])["id"] for m in events] == [e.id for e in crossings]  # oldest first
    # The browser reconnects with the id of the last event it got: nothing is sent twice.
    more = [dev.event(EventType.LINE_CROSSING, "door", class_name="person", track_ids=(9,), direction="out",
                      status="CrossLeft", crossed_frame_index=9, point=[0.5, 0.5])]  # fmt: skip
    assert client.post("/api/v1/ingest", content=join_envelopes([dev.events(more)]), headers=auth).status_code == 200
    again = _sse_messages(client.get("/console/api/devices/cam-1/live",
                                     headers={"Last-Event-ID": events[-1]["id"]}).text)  # fmt: skip
    assert [json.loads(m["data"])["id"] for m in again if m["event"] == "event"] == [more[0].id]
    assert json.loads(again[0]["data"])["lines"] == {"door": {"in": 3, "out": 1}}
