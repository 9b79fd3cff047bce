"""Schemathesis against the hub's OpenAPI on SQLite and PostgreSQL: no 5xx, no traceback, ever.

Every operation of the schema gets ``EDGESIGHT_FUZZ_EXAMPLES`` (default 75) generated requests
plus schemathesis' coverage cases (valid and invalid parameters, bodies and paths), sent with the
admin token (a device token for ingest) through the real app and database. Figures: docs/security.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from edgesight.hub.api import create_app
from edgesight.hub.downlink import RecordingPublisher
from edgesight.hub.service import HubService
from edgesight.hub.settings import HubSettings
from edgesight.hub.storage import Database

ADMIN = "admin-token-for-fuzzing-01234567"
EXAMPLES = int(os.environ.get("EDGESIGHT_FUZZ_EXAMPLES", "75"))
SCHEMA = schemathesis.openapi.from_dict(
    create_app(HubSettings(mqtt_host=None, admin_token=ADMIN, public_docs=True)).openapi()
)


@pytest.fixture
def client(db: Database, tmp_path: Path) -> Iterator[TestClient]:
    s = HubSettings(db_url=db.url, data_dir=tmp_path, admin_token=ADMIN, mqtt_host=None,
                    auth_failures_per_minute=1_000_000)  # fmt: skip
    app = create_app(s, HubService(s, RecordingPublisher(), run_mqtt=False))
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/api/v1/devices", json={"device_id": "fuzz-1", "site": "s"},
                   headers={"Authorization": f"Bearer {ADMIN}"})  # fmt: skip
        assert r.status_code == 201, r.text
        c.headers["X-Device-Token"] = f"fuzz-1:{r.json()['token']}"
        yield c


@SCHEMA.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])  # fmt: skip
def test_no_server_error(case: schemathesis.Case, client: TestClient) -> None:
    token = client.headers["X-Device-Token"] if case.path == "/api/v1/ingest" else ADMIN
    kwargs: dict[str, Any] = case.as_transport_kwargs(headers={"Authorization": f"Bearer {token}"})
    kwargs["url"] = kwargs["url"].removeprefix("http://localhost")
    if not kwargs.get("cookies"):
        kwargs.pop("cookies", None)
    if isinstance(kwargs.get("data"), bytes | str):  # a raw body (the schema's octet-stream ingest)
        kwargs["content"] = kwargs.pop("data")
    response = client.request(**kwargs)
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
    assert "Traceback" not in response.text
