"""Client errors are 4xx with a message; no error body shows SQL, parameters, secrets or hashes.

Regression tests of issue 8 items 6 and 9, on SQLite and PostgreSQL through the real app.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from edgesight.core.wire import MAX_PAYLOAD
from edgesight.hub.api import create_app
from edgesight.hub.downlink import RecordingPublisher
from edgesight.hub.service import HubService
from edgesight.hub.settings import HubSettings
from edgesight.hub.storage import Database

ADMIN = "admin-token-for-error-tests-0123"
H = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def published() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def client(db: Database, tmp_path: Path, published: RecordingPublisher) -> Iterator[TestClient]:
    settings = HubSettings(db_url=db.url, data_dir=tmp_path, admin_token=ADMIN, mqtt_host=None)
    app = create_app(settings, HubService(settings, published, run_mqtt=False))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _enrol(client: TestClient, device_id: str = "cam-1") -> dict[str, Any]:
    r = client.post("/api/v1/devices", json={"device_id": device_id, "site": "s1"}, headers=H)
    assert r.status_code == 201, r.text
    creds: dict[str, Any] = r.json()
    return creds


def _assert_clean(body: str, creds: dict[str, Any]) -> None:
    for leak in ("SELECT", "INSERT", "UPDATE", "[parameters", "Traceback", "token_hash", creds["token"],
                 creds["secret"][:8]):  # fmt: skip
        assert leak not in body, f"error body leaks {leak!r}: {body}"


# ---------------------------------------------------------------------------------- item 6


def test_desired_twin_over_the_message_limit_is_refused_before_commit(
    client: TestClient, published: RecordingPublisher
) -> None:
    _enrol(client)
    url = "/api/v1/devices/cam-1/twin/desired"
    before = client.get("/api/v1/devices/cam-1/twin", headers=H).json()
    sent = len(published.sent)
    r = client.patch(url, json={"patch": {"note": "x" * MAX_PAYLOAD}}, headers=H)
    assert r.status_code == 413
    assert f"over the limit of {MAX_PAYLOAD} bytes" in r.json()["detail"]
    assert client.get("/api/v1/devices/cam-1/twin", headers=H).json() == before
    assert len(published.sent) == sent
    r = client.patch(url, json={"patch": {"upload": {"frames": False}}}, headers=H)  # later patches still work
    assert r.status_code == 200, r.text
    assert r.json()["desired_version"] == before["desired_version"] + 1
    assert published.sent[-1][0] == "edgesight/v1/d/cam-1/down/desired"


# ---------------------------------------------------------------------------------- item 9


@pytest.mark.parametrize("path", ["/api/v1/counts", "/api/v1/aggregates", "/api/v1/events", "/api/v1/frames",
                                  "/api/v1/insights/staffing", "/api/v1/export/events.csv"])  # fmt: skip
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "nan"}, "finite number"),
        ({"to": "inf"}, "finite number"),
        ({"from": "-Infinity"}, "finite number"),
        ({"from": "1e300"}, "less than or equal to"),
        ({"to": "-1"}, "greater than or equal to 0"),
    ],
)
def test_non_finite_and_out_of_range_times_are_422(
    client: TestClient, path: str, params: dict[str, str], message: str
) -> None:
    r = client.get(path, params=params, headers=H)
    assert r.status_code == 422, r.text
    assert message in json.dumps(r.json())


@pytest.mark.parametrize(
    "params", [{"rule_id": str(2**70)}, {"rule_id": "0"}, {"limit": "-1"}, {"limit": str(10**20)}, {"limit": "nan"}]
)
def test_alert_query_numbers_out_of_range_are_422(client: TestClient, params: dict[str, str]) -> None:
    r = client.get("/api/v1/alerts", params=params, headers=H)
    assert r.status_code == 422, r.text


def test_events_limit_out_of_range_is_422(client: TestClient) -> None:
    assert client.get("/api/v1/events", params={"limit": str(2**64)}, headers=H).status_code == 422


def test_nul_in_a_device_site_is_refused_and_nothing_is_stored(client: TestClient) -> None:
    r = client.post("/api/v1/devices", json={"device_id": "cam-9", "site": "store\u00001"}, headers=H)
    assert r.status_code == 422
    assert "NUL character" in r.text
    assert client.get("/api/v1/devices/cam-9", headers=H).status_code == 404


@pytest.mark.parametrize(
    "url",
    ["/api/v1/devices?site=a%00b", "/api/v1/events?device=%00", "/api/v1/devices/cam%001",
     "/api/v1/devices/cam-1%00/twin", "/api/v1/commands/x%00y"],
)  # fmt: skip
def test_nul_in_the_url_is_400(client: TestClient, url: str) -> None:
    _enrol(client)
    r = client.get(url, headers=H)
    assert r.status_code == 400
    assert "NUL character" in r.json()["detail"]


@pytest.mark.parametrize(
    "patch", [{"note": "a\u0000"}, {"a\u0000": 1}, {"nested": [{"deep": "\u0000"}]}],
)
def test_nul_in_a_twin_patch_is_422_and_not_stored(client: TestClient, patch: dict[str, Any]) -> None:
    _enrol(client)
    r = client.patch("/api/v1/devices/cam-1/twin/desired", json={"patch": patch}, headers=H)
    assert r.status_code == 422
    assert client.get("/api/v1/devices/cam-1/twin", headers=H).json()["desired_version"] == 1


def test_nan_in_a_json_body_is_422(client: TestClient) -> None:
    _enrol(client)
    body = '{"patch": {"gain": NaN}}'  # Python's JSON parser accepts NaN; PostgreSQL's JSON does not
    r = client.patch("/api/v1/devices/cam-1/twin/desired", content=body,
                     headers={**H, "Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 422
    assert "not a finite number" in r.text


def test_database_failure_is_503_without_sql_or_parameters(client: TestClient, db: Database) -> None:
    creds = _enrol(client)
    with db.engine.begin() as conn:  # the twin table disappears behind the hub's back
        conn.execute(text("DROP TABLE twins" + (" CASCADE" if db.dialect == "postgresql" else "")))
    r = client.get("/api/v1/devices/cam-1/twin", headers=H)
    assert r.status_code == 503
    assert "ref " in r.json()["detail"]
    _assert_clean(r.text, creds)
    assert "twins" not in r.text and "cam-1" not in r.text


def test_unexpected_error_is_a_safe_500(client: TestClient, db: Database) -> None:
    if db.dialect != "sqlite":
        pytest.skip("only SQLite lets a row hold invalid JSON")
    creds = _enrol(client)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE twins SET desired = '{broken' WHERE device_id = 'cam-1'"))
    r = client.get("/api/v1/devices/cam-1/twin", headers=H)
    assert r.status_code == 500
    assert r.json()["detail"].startswith("internal error (ref ")
    _assert_clean(r.text, creds)
