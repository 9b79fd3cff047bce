"""Helpers of the hub tests: service probes, throwaway PostgreSQL databases, the API in-process."""

from __future__ import annotations

import base64
import socket
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

import support
from edgesight.hub.api import create_app
from edgesight.hub.downlink import Publisher, RecordingPublisher
from edgesight.hub.service import HubService
from edgesight.hub.settings import HubSettings
from edgesight.hub.storage import Database
from edgesight.testing import FakeDevice

ADMIN = "admin-token-for-tests-0123456789"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}

MQTT = ("127.0.0.1", 1883)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def pg_up() -> bool:
    return port_open("127.0.0.1", 5432)


def mqtt_up() -> bool:
    return port_open(*MQTT)


def pg_database() -> AbstractContextManager[str]:
    """A fresh PostgreSQL database ``edgesight_test_<random>``, dropped afterwards; yields its URL."""
    return support.pg_database("edgesight_test")


def api_client(
    db: Database, data_dir: Path, publisher: Publisher | None = None, *, raise_server_exceptions: bool = True,
    **settings: Any,
) -> TestClient:
    """The hub's API in this process on ``db`` (MQTT off, admin token :data:`ADMIN`); ``settings``
    override the hub's (e.g. ``secret_cache_s=0``). Use it as a context manager."""
    s = HubSettings(db_url=db.url, data_dir=data_dir, admin_token=ADMIN, mqtt_host=None, **settings)
    service = HubService(s, publisher if publisher is not None else RecordingPublisher(), run_mqtt=False)
    return TestClient(create_app(s, service), raise_server_exceptions=raise_server_exceptions)


def enrol(client: TestClient, device_id: str = "cam-1", site: str = "s1") -> tuple[FakeDevice, dict[str, Any]]:
    """Enrol a device through the admin API: a fake device holding its secret, and its credentials."""
    r = client.post("/api/v1/devices", json={"device_id": device_id, "site": site}, headers=ADMIN_HEADERS)
    assert r.status_code == 201, r.text
    creds: dict[str, Any] = r.json()
    return FakeDevice(device_id, base64.b64decode(creds["secret"])), creds
