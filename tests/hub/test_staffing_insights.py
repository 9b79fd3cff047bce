"""Counters advised against counters open, per queue event and per store and hour, on SQLite and PostgreSQL.

Events reach the hub as devices send them (signed envelopes on ``/api/v1/ingest``); queues that
declare counters report ``open_counters``, others send null.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hubkit import ADMIN_HEADERS, api_client, enrol

from edgesight.core.events import EventType
from edgesight.core.wire import join_envelopes
from edgesight.hub.console import panels
from edgesight.hub.storage import Database

H = ADMIN_HEADERS


@pytest.fixture
def client(db: Database, tmp_path: Path) -> Iterator[TestClient]:
    with api_client(db, tmp_path, secret_cache_s=0, auth_failures_per_minute=1000) as c:
        yield c


def _send(client: TestClient, device_id: str, site: str, advice: list[tuple[float, int, int | None]]) -> None:
    """Enrol ``device_id`` at ``site`` and send its ``(timestamp, counters, open_counters)`` advice."""
    dev, creds = enrol(client, device_id, site)
    events = [dev.event(EventType.QUEUE_ADVICE, "checkout", timestamp=t, counters=c, previous_counters=None,
                        queue_length=2, wait_s=30.0, open_counters=o,
                        open_counter_names=None if o is None else [f"till-{i + 1}" for i in range(o)])
              for t, c, o in advice]  # fmt: skip
    auth = f"Bearer {device_id}:{creds['token']}"
    r = client.post("/api/v1/ingest", content=join_envelopes([dev.events(events)]),
                    headers={"Authorization": auth, "Content-Type": "application/octet-stream"})  # fmt: skip
    assert r.status_code == 200 and all(o["status"] == "stored" for o in r.json()["outcomes"]), r.text


def test_advised_against_open_counters_per_event_and_per_store_hour(client: TestClient, db: Database) -> None:
    now = time.time()
    start = (now // 3600 + 1) * 3600 - 24 * 3600  # the first of the 24 hours
    h20, h21 = start + 20 * 3600, start + 21 * 3600
    _send(client, "cam-a", "store-1", [(h20 + 600, 3, 2), (h20 + 1800, 3, 3), (h21 + 100, 4, 2)])
    _send(client, "cam-b", "store-1", [(h20 + 100, 1, None)])  # declares no counters
    _send(client, "cam-c", "store-2", [(start - 7200, 2, 2)])  # in force all day

    points: list[dict[str, Any]] = client.get("/api/v1/insights/staffing", params={"site": "store-1"},
                                              headers=H).json()  # fmt: skip
    assert [(p["device_id"], p["counters"], p["open_counters"], p["gap"]) for p in points] == [
        ("cam-b", 1, None, None), ("cam-a", 3, 2, 1), ("cam-a", 3, 3, 0), ("cam-a", 4, 2, 2)]  # fmt: skip

    stores = {s["site"]: s for s in panels.store_staffing(db, now)}
    hours = stores["store-1"]["hours"]
    assert [(h["advised"], h["open"], h["gap"]) for h in hours[:20]] == [(None, None, None)] * 20
    # most in force per hour, summed over the queues; open and gap only over cam-a, which measures
    assert [h["advised"] for h in hours[20:]] == [4, 5, 5, 5]
    assert [h["open"] for h in hours[20:]] == [3, 3, 2, 2]  # 3 in force when hour 21 began, then 2
    assert [h["gap"] for h in hours[20:]] == [0, 1, 2, 2]
    assert [(h["advised"], h["open"], h["gap"]) for h in stores["store-2"]["hours"]] == [(2, 2, 0)] * 24
