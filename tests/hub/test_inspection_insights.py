"""Inspection yield, false rejects and escapes per product at the hub, from ingested inspection events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hubkit import ADMIN_HEADERS, api_client, enrol

from edgesight.core.events import Event, EventType
from edgesight.core.wire import join_envelopes
from edgesight.hub.storage import Database
from edgesight.testing import FakeDevice

H = ADMIN_HEADERS


@pytest.fixture
def client(db: Database, tmp_path: Path) -> Iterator[TestClient]:
    with api_client(db, tmp_path, secret_cache_s=0, auth_failures_per_minute=1000) as c:
        yield c


def _device(client: TestClient, device_id: str, site: str) -> tuple[FakeDevice, str]:
    device, creds = enrol(client, device_id, site)
    return device, f"Bearer {device_id}:{creds['token']}"


def _judged(dev: FakeDevice, product: str, part: str, score: float, threshold: float, **extra: Any) -> Event:
    passed = score <= threshold
    return dev.event(
        EventType.INSPECTION, product, product=product, part_id=part, score=score, threshold=threshold,
        passed=passed, region=None if passed else [8, 8, 16, 16], **extra,
    )  # fmt: skip


def test_yield_false_rejects_and_escapes_per_product(client: TestClient) -> None:
    line1, auth1 = _device(client, "line-1", "plant-a")
    line2, auth2 = _device(client, "line-2", "plant-b")
    bracket = [_judged(line1, "bracket", f"b{i}", score, 1.0) for i, score in enumerate((0.4, 0.6, 1.7, 0.9, 2.2))]
    bracket += [
        _judged(line1, "bracket", "b2", 1.7, 1.0, finding="good"),  # rejected, found good: a false reject
        _judged(line1, "bracket", "b2", 1.7, 1.0, finding="good"),  # the same report again: counted once
        _judged(line1, "bracket", "b0", 0.4, 1.0, finding="defect"),  # passed, found defective: an escape
        _judged(line1, "bracket", "b4", 2.2, 1.0, finding="defect"),  # a true reject: neither
    ]
    housing = [_judged(line2, "housing", "h0", 0.2, 0.5), _judged(line2, "housing", "h1", 0.8, 0.6)]
    for dev, auth, events in ((line1, auth1, bracket), (line2, auth2, housing)):
        r = client.post("/api/v1/ingest", content=join_envelopes([dev.events(events)]),
                        headers={"Authorization": auth, "Content-Type": "application/octet-stream"})  # fmt: skip
        assert r.status_code == 200, r.text

    everything = client.get("/api/v1/insights/inspection", headers=H).json()
    assert everything == [
        {"product": "bracket", "inspected": 5, "passed": 3, "rejected": 2, "yield": 0.6,
         "false_rejects": 1, "escapes": 1, "threshold": 1.0},
        {"product": "housing", "inspected": 2, "passed": 1, "rejected": 1, "yield": 0.5,
         "false_rejects": 0, "escapes": 0, "threshold": 0.6},
    ]  # fmt: skip
    by_site = client.get("/api/v1/insights/inspection", params={"site": "plant-b"}, headers=H).json()
    assert [p["product"] for p in by_site] == ["housing"]
    one = client.get("/api/v1/insights/inspection", params={"product": "bracket"}, headers=H).json()
    assert [(p["product"], p["inspected"]) for p in one] == [("bracket", 5)]
    assert client.get("/api/v1/insights/inspection").status_code == 401
