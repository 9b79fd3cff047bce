"""A muted rule raises no alert until its time passes or it is unmuted, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from edgesight.core.errors import StorageError
from edgesight.hub.metrics import HubMetrics
from edgesight.hub.rules import RuleEngine
from edgesight.hub.storage import Database
from edgesight.hub.storage import rules as rule_store


def _event(n: int, count: int) -> dict[str, Any]:
    return {"id": f"ev-{n}", "device_id": "cam-1", "type": "zone_count", "rule": "till", "timestamp": time.time(),
            "class_name": None, "properties": {"count": count}}  # fmt: skip


def _fire(engine: RuleEngine, db: Database, n: int) -> None:
    with db.begin() as conn:
        engine.evaluate(conn, [_event(n, 5)])
    engine.flush(committed=False)  # no delivery thread: only the stored alerts matter here


@pytest.mark.parametrize("until", [lambda: time.time() + 3600, lambda: math.inf])
def test_a_muted_rule_is_skipped_and_counted_until_unmuted(db: Database, until: Any) -> None:
    rule = rule_store.create_rule(db, "busy till", "zone_count", {"rule": "till", "property": "count", "op": ">=",
                                                                  "value": 3}, None, "store/alerts")  # fmt: skip
    engine = RuleEngine(db, HubMetrics(), refresh_s=3600)
    _fire(engine, db, 1)
    muted = rule_store.mute_rule(db, rule["id"], until())
    assert muted["muted_until"] > time.time() + 3000  # inf round-trips through both backends
    engine.invalidate()
    _fire(engine, db, 2)
    _fire(engine, db, 3)
    assert [a["event_id"] for a in rule_store.list_alerts(db)] == ["ev-1"]
    skipped = engine.metrics.registry.get_sample_value("edgesight_hub_alerts_muted_total", {"rule": "busy till"})
    assert skipped == 2
    assert rule_store.mute_rule(db, rule["id"], None)["muted_until"] is None
    engine.invalidate()
    _fire(engine, db, 4)
    assert [a["event_id"] for a in rule_store.list_alerts(db)] == ["ev-1", "ev-4"]


def test_a_mute_whose_time_passed_no_longer_skips(db: Database) -> None:
    rule = rule_store.create_rule(db, "any till", "zone_count", {}, None, "t")
    rule_store.mute_rule(db, rule["id"], time.time() - 1)
    engine = RuleEngine(db, HubMetrics())
    _fire(engine, db, 1)
    assert [a["event_id"] for a in rule_store.list_alerts(db)] == ["ev-1"]
    with pytest.raises(StorageError, match="rule 999 does not exist"):
        rule_store.mute_rule(db, 999, None)
