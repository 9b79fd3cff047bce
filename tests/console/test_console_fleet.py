"""The console's tags, model rollout state and deployments through its HTTP API (no browser).

Devices report their model rollout as the agent does: a signed reported twin on ``/api/v1/ingest``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from edgesight.core.wire import Kind, ModelReport, ModelState, ModelTarget, ReportedTwin, join_envelopes
from edgesight.hub.api import create_app
from edgesight.hub.console import accounts
from edgesight.hub.console.accounts import Role
from edgesight.hub.downlink import RecordingPublisher
from edgesight.hub.service import HubService
from edgesight.hub.settings import HubSettings
from edgesight.testing import FakeDevice
from modelkit import new_key, package

ADMIN = "admin-token-for-console-fleet-0123456"
BEARER = {"Authorization": f"Bearer {ADMIN}"}


class Hub:
    def __init__(self, client: TestClient, service: HubService, package: Path) -> None:
        self.client, self.service, self.package = client, service, package
        self.devices: dict[str, tuple[FakeDevice, str]] = {}

    def enrol(self, device_id: str, site: str, tags: list[str]) -> None:
        r = self.client.post("/api/v1/devices", json={"device_id": device_id, "site": site, "tags": tags},
                             headers=BEARER)  # fmt: skip
        assert r.status_code == 201, r.text
        self.devices[device_id] = (FakeDevice(device_id, base64.b64decode(r.json()["secret"])), r.json()["token"])

    def report(self, device_id: str, report: ModelReport) -> None:
        device, token = self.devices[device_id]
        twin = self.client.get(f"/api/v1/devices/{device_id}/twin", headers=BEARER).json()
        payload = ReportedTwin(twin["desired_version"], {"model": report.to_dict()}).to_bytes()
        r = self.client.post("/api/v1/ingest", content=join_envelopes([device.seal(Kind.REPORTED, payload)]),
                             headers={"Authorization": f"Bearer {device_id}:{token}"})  # fmt: skip
        assert r.status_code == 200 and r.json()["outcomes"][0]["status"] == "stored", r.text

    def target(self, device_id: str) -> ModelTarget:
        return ModelTarget.from_dict(
            self.client.get(f"/api/v1/devices/{device_id}/twin", headers=BEARER).json()["desired"]["model"])

    def sign_in(self, name: str, password: str) -> dict[str, str]:
        r = self.client.post("/console/login", data={"name": name, "password": password}, follow_redirects=False)
        assert r.headers["location"] == "/", r.headers
        return {"X-CSRF-Token": str(self.client.get("/console/api/me").json()["csrf"])}


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    key, key_text = new_key()
    return package(tmp_path_factory.mktemp("packages"), "2.0.0", key), key_text


@pytest.fixture
def hub(tmp_path: Path, signed: tuple[Path, str]) -> Iterator[Hub]:
    settings = HubSettings(data_dir=tmp_path, admin_token=ADMIN, mqtt_host=None, secret_cache_s=0,
                           trusted_model_keys=(signed[1],))  # fmt: skip
    service = HubService(settings, RecordingPublisher(), run_mqtt=False)
    with TestClient(create_app(settings, service)) as client:
        yield Hub(client, service, signed[0])


def test_the_fleet_shows_tags_and_an_admin_edits_them_with_the_session(hub: Hub) -> None:
    hub.enrol("cam-1", "store-1", ["lobby"])
    hub.enrol("cam-2", "store-2", [])
    client = hub.client
    csrf = hub.sign_in("admin", ADMIN)
    assert {r["id"]: r["tags"] for r in client.get("/console/api/fleet").json()} == {"cam-1": ["lobby"], "cam-2": []}
    assert client.put("/console/api/devices/cam-2/tags", json={"tags": ["beta"]}).status_code == 403  # no CSRF
    r = client.put("/console/api/devices/cam-2/tags", json={"tags": ["lobby", "beta"]}, headers=csrf)
    assert (r.status_code, r.json()["tags"]) == (200, ["beta", "lobby"])
    r = client.put("/console/api/devices/cam-2/tags", json={"tags": ["no spaces"]}, headers=csrf)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "tags", 0]  # names the bad tag
    assert client.put("/console/api/devices/nope/tags", json={"tags": []}, headers=csrf).status_code == 404
    viewer = hub.sign_in("vera", accounts.add_user(hub.service.db, "vera", Role.VIEWER))
    r = client.put("/console/api/devices/cam-2/tags", json={"tags": []}, headers=viewer)
    assert r.status_code == 403 and "viewer" in r.text
    assert client.get("/console/api/devices/cam-2").json()["tags"] == ["beta", "lobby"]  # the viewer changed nothing
    # the hub's own API sees the console's edit: deployments target these tags
    assert client.get("/api/v1/devices", headers=BEARER).json()[1]["tags"] == ["beta", "lobby"]


def test_the_device_page_follows_its_model_rollout_and_deployments_are_listed(hub: Hub) -> None:
    hub.enrol("cam-a", "store-1", ["lobby"])
    hub.enrol("cam-b", "store-1", ["lobby"])
    client = hub.client
    assert client.post("/api/v1/models", content=hub.package.read_bytes(), headers=BEARER).status_code == 201
    r = client.post("/api/v1/deployments", json={"model_id": "acme-people", "version": "2.0.0", "tags": ["lobby"],
                                                 "canaries": ["cam-a"]}, headers=BEARER)  # fmt: skip
    assert r.status_code == 201, r.text
    deployment = r.json()["id"]
    hub.sign_in("vera", accounts.add_user(hub.service.db, "vera", Role.VIEWER))  # read-only pages: a viewer sees them
    assert client.get("/console/api/devices/cam-a").json()["rollout"] is None  # nothing reported yet
    target = hub.target("cam-a")
    hub.report("cam-a", ModelReport(ModelState.DOWNLOADING, ("nanodet", "1.0.0"), target))
    rollout = client.get("/console/api/devices/cam-a").json()["rollout"]
    assert rollout == {"state": "downloading", "running": "nanodet@1.0.0", "target": "acme-people@2.0.0",
                       "deployment": deployment, "check": None, "reason": None, "detail": None, "fps": None}  # fmt: skip
    hub.report("cam-a", ModelReport(ModelState.ROLLED_BACK, ("nanodet", "1.0.0"), target, reason="fps",
                                    detail="3.1 fps, below half of the old 9.6", fps=3.1))  # fmt: skip
    rollout = client.get("/console/api/devices/cam-a").json()["rollout"]
    assert (rollout["state"], rollout["reason"], rollout["fps"]) == ("rolled_back", "fps", 3.1)
    listed: list[dict[str, Any]] = client.get("/console/api/deployments").json()
    assert [(d["id"], d["status"]) for d in listed] == [(deployment, "halted")]
    assert {d["device_id"]: (d["canary"], d["state"]) for d in listed[0]["devices"]} == {
        "cam-a": (True, "rolled_back"), "cam-b": (False, "pending")}  # fmt: skip
    assert "below half" in listed[0]["detail"]
    client.post("/console/api/logout", headers={"X-CSRF-Token": client.get("/console/api/me").json()["csrf"]})
    assert client.get("/console/api/deployments").status_code == 401
