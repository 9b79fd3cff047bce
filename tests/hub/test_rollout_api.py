"""The model registry and rollouts through the HTTP API, on SQLite and PostgreSQL.

Devices here are FakeDevices that report through HTTP ingest, the path the MQTT worker also takes:
the reports drive the controller (canary -> rest, or halt) with nothing polling; the report
timeout is the one thing the hub's tick decides, called here at chosen times.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hubkit import ADMIN_HEADERS, api_client

from edgesight.core.wire import (
    Kind,
    ModelReport,
    ModelState,
    ModelTarget,
    ReportedTwin,
    join_envelopes,
)
from edgesight.hub.downlink import RecordingPublisher
from edgesight.hub.storage import Database
from edgesight.testing import FakeDevice
from modelkit import new_key, package, tampered

H = ADMIN_HEADERS


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    vendor, vendor_text = new_key()
    other, _ = new_key()
    return {"vendor": vendor, "vendor_text": vendor_text, "other": other}


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, Any]) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("packages")
    v2 = package(folder, "2.0.0", keys["vendor"])
    return {
        "v2": v2,
        "v3": package(folder, "3.0.0", keys["vendor"]),
        "v1": package(folder, "1.0.0", keys["vendor"]),
        "unsigned": package(folder / "u", "4.0.0", None),
        "other-key": package(folder / "o", "4.0.0", keys["other"]),
        "tampered": tampered(v2, folder / "tampered.espkg"),
    }


@pytest.fixture
def published() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def client(db: Database, tmp_path: Path, published: RecordingPublisher, keys: dict[str, Any]) -> Iterator[TestClient]:
    with api_client(db, tmp_path, published, secret_cache_s=0, auth_failures_per_minute=1000,
                    trusted_model_keys=(keys["vendor_text"],)) as c:  # fmt: skip
        yield c


def _upload(client: TestClient, path: Path) -> Any:
    return client.post("/api/v1/models", content=path.read_bytes(), headers=H)


def _enrol(client: TestClient, device_id: str, tags: list[str]) -> tuple[FakeDevice, dict[str, Any]]:
    r = client.post("/api/v1/devices", json={"device_id": device_id, "site": "s1", "tags": tags}, headers=H)
    assert r.status_code == 201, r.text
    creds = r.json()
    return FakeDevice(device_id, base64.b64decode(creds["secret"])), creds


def _auth(creds: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {creds['device_id']}:{creds['token']}"}


def _report(client: TestClient, dev: FakeDevice, creds: dict[str, Any], report: ModelReport) -> None:
    twin = client.get(f"/api/v1/devices/{dev.device_id}/twin", headers=H).json()
    payload = ReportedTwin(twin["desired_version"], {"model": report.to_dict()}).to_bytes()
    r = client.post("/api/v1/ingest", content=join_envelopes([dev.seal(Kind.REPORTED, payload)]),
                    headers={**_auth(creds), "Content-Type": "application/octet-stream"})  # fmt: skip
    assert r.status_code == 200 and r.json()["outcomes"][0]["status"] == "stored", r.text


def _target(client: TestClient, device_id: str) -> ModelTarget | None:
    raw = client.get(f"/api/v1/devices/{device_id}/twin", headers=H).json()["desired"].get("model")
    return None if raw is None else ModelTarget.from_dict(raw)


def _states(client: TestClient, deployment: str) -> tuple[str, dict[str, str]]:
    info = client.get(f"/api/v1/deployments/{deployment}", headers=H).json()
    return info["status"], {d["device_id"]: d["state"] for d in info["devices"]}


def test_upload_checks_the_package_as_a_device_would(client: TestClient, packages: dict[str, Path]) -> None:
    r = _upload(client, packages["v2"])
    assert r.status_code == 201, r.text
    info = r.json()
    assert (info["id"], info["version"]) == ("acme-people", "2.0.0")
    assert info["sha256"] == hashlib.sha256(packages["v2"].read_bytes()).hexdigest()
    assert _upload(client, packages["v2"]).status_code == 201  # the same bytes again: harmless
    for name, check in [("unsigned", "unsigned"), ("other-key", "untrusted-key"), ("tampered", "signature")]:
        r = _upload(client, packages[name])
        assert r.status_code == 422 and f"refused ({check})" in r.json()["detail"], (name, r.text)
        assert "/tmp" not in r.json()["detail"]  # the hub's temp file is not named
    r = _upload(client, packages["v1"])
    assert r.status_code == 409 and "refused (downgrade)" in r.json()["detail"]
    assert client.post("/api/v1/models", content=b"not a zip", headers=H).status_code == 422
    assert [m["version"] for m in client.get("/api/v1/models", headers=H).json()] == ["2.0.0"]


def test_canaries_first_then_the_rest_when_healthy(
    client: TestClient, packages: dict[str, Path], published: RecordingPublisher
) -> None:
    assert _upload(client, packages["v2"]).status_code == 201
    fleet = {name: _enrol(client, name, ["lobby"] if name != "cam-c" else ["dock"]) for name in ("cam-a", "cam-b", "cam-c")}
    assert client.put("/api/v1/devices/cam-c/tags", json={"tags": ["lobby", "beta"]}, headers=H).json()["tags"] == [
        "beta", "lobby"]  # fmt: skip
    assert client.put("/api/v1/devices/cam-c/tags", json={"tags": ["no spaces"]}, headers=H).status_code == 422
    assert client.put("/api/v1/devices/nope/tags", json={"tags": []}, headers=H).status_code == 404
    body = {"model_id": "acme-people", "version": "2.0.0", "tags": ["lobby"], "canaries": ["cam-b"],
            "health_window_s": 2}  # fmt: skip
    r = client.post("/api/v1/deployments", json=body, headers=H)
    assert r.status_code == 201, r.text
    dep = r.json()["id"]
    assert _states(client, dep) == ("canary", {"cam-a": "pending", "cam-b": "sent", "cam-c": "pending"})
    target = _target(client, "cam-b")
    assert target is not None and target.deployment == dep and target.health.window_s == 2
    assert _target(client, "cam-a") is None and _target(client, "cam-c") is None
    assert any(t.endswith("/cam-b/down/desired") and retain for t, _p, retain in published.sent)

    # A device downloads only the model its twin names, with its own token.
    dev_b, creds_b = fleet["cam-b"]
    blob = client.get("/api/v1/device/models/acme-people/2.0.0", headers=_auth(creds_b))
    assert blob.status_code == 200 and hashlib.sha256(blob.content).hexdigest() == target.sha256
    assert client.get("/api/v1/device/models/acme-people/2.0.0", headers=_auth(fleet["cam-a"][1])).status_code == 403
    assert client.get("/api/v1/device/models/acme-people/2.0.0").status_code == 401

    # A second deployment may not take devices that are in one already.
    assert client.post("/api/v1/deployments", json={**body, "canaries": []}, headers=H).status_code == 409

    _report(client, dev_b, creds_b, ModelReport(ModelState.RUNNING, ("acme-people", "2.0.0"), target))
    assert _states(client, dep) == ("canary", {"cam-a": "pending", "cam-b": "running", "cam-c": "pending"})
    _report(client, dev_b, creds_b, ModelReport(ModelState.HEALTHY, ("acme-people", "2.0.0"), target))
    assert _states(client, dep) == ("rolling", {"cam-a": "sent", "cam-b": "healthy", "cam-c": "sent"})
    for name in ("cam-a", "cam-c"):
        dev, creds = fleet[name]
        t = _target(client, name)
        assert t == target
        _report(client, dev, creds, ModelReport(ModelState.HEALTHY, ("acme-people", "2.0.0"), t))
    assert _states(client, dep)[0] == "completed"


def test_a_failed_canary_halts_and_gets_its_previous_model_back(client: TestClient, packages: dict[str, Path]) -> None:
    assert _upload(client, packages["v2"]).status_code == 201
    fleet = {name: _enrol(client, name, []) for name in ("cam-a", "cam-b")}
    r = client.post("/api/v1/deployments", json={"model_id": "acme-people", "version": "2.0.0", "site": "s1"},
                    headers=H)  # fmt: skip
    assert r.status_code == 201, r.text
    dep = r.json()["id"]
    assert _states(client, dep) == ("canary", {"cam-a": "sent", "cam-b": "pending"})  # canary_count 1, by id
    dev, creds = fleet["cam-a"]
    target = _target(client, "cam-a")
    assert target is not None
    _report(client, dev, creds, ModelReport(ModelState.REFUSED, ("nanodet", "1.0.0"), target, check="untrusted-key",
                                            detail="x.espkg: refused (untrusted-key): signed by key 0123"))  # fmt: skip
    info = client.get(f"/api/v1/deployments/{dep}", headers=H).json()
    assert info["status"] == "halted" and "cam-a: refused (untrusted-key)" in info["detail"]
    assert info["detail"].count("refused (untrusted-key)") == 1, info["detail"]  # said once
    assert {d["device_id"]: d["state"] for d in info["devices"]} == {"cam-a": "refused", "cam-b": "pending"}
    assert _target(client, "cam-a") is None and _target(client, "cam-b") is None  # the canary's old twin is back
    bad = {"model_id": "acme-people", "version": "9.9.9", "devices": ["cam-b"]}
    assert client.post("/api/v1/deployments", json=bad, headers=H).status_code == 404
    assert client.post("/api/v1/deployments", json={**bad, "version": "2.0.0", "devices": ["nope"]},
                       headers=H).status_code == 409  # fmt: skip


def test_a_silent_canary_times_out_and_halts_naming_it(client: TestClient, packages: dict[str, Path]) -> None:
    assert _upload(client, packages["v2"]).status_code == 201
    fleet = {name: _enrol(client, name, []) for name in ("cam-a", "cam-b", "cam-c")}
    body = {"model_id": "acme-people", "version": "2.0.0", "site": "s1", "canary_count": 2, "health_window_s": 300,
            "report_timeout_s": 60}  # fmt: skip
    r = client.post("/api/v1/deployments", json=body, headers=H)
    assert r.status_code == 201 and r.json()["report_timeout_s"] == 60, r.text
    dep = r.json()["id"]
    rollouts = client.app.state.hub.rollouts  # type: ignore[attr-defined]  # the tick's work, at chosen times
    sent_at = time.time()
    dev, creds = fleet["cam-a"]
    target = _target(client, "cam-a")
    assert target is not None
    _report(client, dev, creds, ModelReport(ModelState.RUNNING, ("acme-people", "2.0.0"), target))
    rollouts.expire(sent_at + 30)
    assert _states(client, dep) == ("canary", {"cam-a": "running", "cam-b": "sent", "cam-c": "pending"})
    rollouts.expire(sent_at + 120)  # cam-b said nothing; cam-a runs the model, its health window counts too
    info = client.get(f"/api/v1/deployments/{dep}", headers=H).json()
    assert info["status"] == "halted" and info["detail"] == "timed out: cam-b reported no progress within 60 s"
    states = {d["device_id"]: (d["state"], d["detail"]) for d in info["devices"]}
    assert states["cam-a"][0] == "running" and states["cam-c"][0] == "pending"
    assert states["cam-b"][0] == "timed_out" and states["cam-b"][1].startswith("timed_out: no report for 1")
    assert "after sent (limit 60 s)" in states["cam-b"][1]
    # The silent canary's desired model goes back (it does not take up a halted model when it returns).
    assert _target(client, "cam-b") is None and _target(client, "cam-c") is None
    # A late report changes nothing: the deployment is over.
    dev_b, creds_b = fleet["cam-b"]
    _report(client, dev_b, creds_b, ModelReport(ModelState.HEALTHY, ("acme-people", "2.0.0"), target))
    assert _states(client, dep) == ("halted", {"cam-a": "running", "cam-b": "timed_out", "cam-c": "pending"})
    rollouts.expire(sent_at + 10_000)  # halted deployments are not looked at again
    assert _states(client, dep)[1]["cam-a"] == "running"


def test_an_operator_halts_a_deployment_and_may_roll_it_back(client: TestClient, packages: dict[str, Path]) -> None:
    assert _upload(client, packages["v2"]).status_code == 201
    for name in ("cam-a", "cam-b", "cam-c"):
        _enrol(client, name, [])

    def deploy() -> str:
        body = {"model_id": "acme-people", "version": "2.0.0", "site": "s1"}
        r = client.post("/api/v1/deployments", json=body, headers=H)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    # Halted without rollback: the canary keeps what it was sent, nobody else gets it.
    first = deploy()
    assert _states(client, first) == ("canary", {"cam-a": "sent", "cam-b": "pending", "cam-c": "pending"})
    r = client.post(f"/api/v1/deployments/{first}/halt", json={"reason": "wrong site"}, headers=H)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "halted" and r.json()["detail"] == "halted by an operator: wrong site"
    target = _target(client, "cam-a")
    assert target is not None and target.name == "acme-people@2.0.0"
    assert _target(client, "cam-b") is None
    again = client.post(f"/api/v1/deployments/{first}/halt", json={}, headers=H)
    assert again.status_code == 409 and "is halted: nothing to halt" in again.json()["detail"]
    # Halted with rollback: the device it reached gets its previous desired model (none) back.
    second = client.post("/api/v1/deployments", json={"model_id": "acme-people", "version": "2.0.0",
                                                      "devices": ["cam-b"]}, headers=H)  # fmt: skip
    assert second.status_code == 201, second.text
    assert _target(client, "cam-b") is not None
    r = client.post(f"/api/v1/deployments/{second.json()['id']}/halt", json={"roll_back": True}, headers=H)
    assert r.json()["detail"] == "halted by an operator: no reason given; rolled back"
    assert _target(client, "cam-b") is None
    assert client.post("/api/v1/deployments/nope/halt", json={}, headers=H).status_code == 404
    bad = client.post(f"/api/v1/deployments/{first}/halt", json={"reason": ""}, headers=H)
    assert bad.status_code == 422 and "reason" in bad.text
    viewer = client.post(f"/api/v1/deployments/{first}/halt", json={})
    assert viewer.status_code == 401
