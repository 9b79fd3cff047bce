"""Alert rules and the alerts they raise."""

from __future__ import annotations

import math
import time
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from edgesight.core.errors import ConfigError, StorageError
from edgesight.hub.storage.db import Database
from edgesight.hub.storage.tables import Alert, Rule

__all__ = [
    "alert_totals", "create_rule", "insert_alerts", "list_alerts", "list_rules", "mark_alert", "mute_rule",
    "public_mute", "recent_alerts", "update_rule",
]

_RULE_COLUMNS = (Rule.id, Rule.name, Rule.event_type, Rule.condition, Rule.webhook_url, Rule.mqtt_topic,
                 Rule.created_at, Rule.muted_until)  # fmt: skip


def create_rule(db: Database, name: str, event_type: str, condition: dict[str, Any],
                webhook_url: str | None, mqtt_topic: str | None) -> dict[str, Any]:  # fmt: skip
    """Store a rule; refuses a name already taken."""
    with db.begin() as conn:
        if conn.execute(select(Rule.id).where(Rule.name == name)).first() is not None:
            raise ConfigError(f"rule {name!r} already exists")
        conn.execute(insert(Rule).values(name=name, event_type=event_type, condition=condition,
                                         webhook_url=webhook_url, mqtt_topic=mqtt_topic,
                                         created_at=time.time()))  # fmt: skip
        row = conn.execute(select(*_RULE_COLUMNS).where(Rule.name == name)).one()
    return dict(row._mapping)


def update_rule(db: Database, rule_id: int, name: str, event_type: str, condition: dict[str, Any],
                webhook_url: str | None, mqtt_topic: str | None) -> dict[str, Any]:  # fmt: skip
    """Replace a rule's fields (its id, creation time and alerts stay).

    Raises:
        StorageError: no rule has this id.
        ConfigError: another rule has the name.
    """
    with db.begin() as conn:
        if conn.execute(select(Rule.id).where(Rule.id == rule_id)).first() is None:
            raise StorageError(f"rule {rule_id} does not exist")
        if conn.execute(select(Rule.id).where(Rule.name == name, Rule.id != rule_id)).first() is not None:
            raise ConfigError(f"rule {name!r} already exists")
        conn.execute(update(Rule).where(Rule.id == rule_id).values(
            name=name, event_type=event_type, condition=condition, webhook_url=webhook_url, mqtt_topic=mqtt_topic))  # fmt: skip
        row = conn.execute(select(*_RULE_COLUMNS).where(Rule.id == rule_id)).one()
    return dict(row._mapping)


def mute_rule(db: Database, rule_id: int, until: float | None) -> dict[str, Any]:
    """Mute a rule until ``until`` (epoch seconds; ``math.inf``: until unmuted), or unmute it (``None``).

    Raises:
        StorageError: no rule has this id.
    """
    with db.begin() as conn:
        if conn.execute(update(Rule).where(Rule.id == rule_id).values(muted_until=until)).rowcount == 0:
            raise StorageError(f"rule {rule_id} does not exist")
        row = conn.execute(select(*_RULE_COLUMNS).where(Rule.id == rule_id)).one()
    return dict(row._mapping)


def public_mute(rule: dict[str, Any], now: float) -> dict[str, Any]:
    """The rule as shown to people and APIs: ``muted`` (muted at ``now``) and ``muted_until`` (when the
    mute ends; None when not muted or muted until unmuted, which is stored as infinity, not JSON).

    Example:
        >>> public_mute({"id": 1, "muted_until": float("inf")}, now=0.0)
        {'id': 1, 'muted_until': None, 'muted': True}
        >>> public_mute({"id": 1, "muted_until": 10.0}, now=20.0)["muted"]
        False
    """
    until: float | None = rule.get("muted_until")
    muted = until is not None and until > now
    shown = until if until is not None and muted and math.isfinite(until) else None
    return {**rule, "muted_until": shown, "muted": muted}


def list_rules(db: Database) -> list[dict[str, Any]]:
    with db.begin() as conn:
        return [dict(r._mapping) for r in conn.execute(select(*_RULE_COLUMNS).order_by(Rule.id))]


def insert_alerts(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert alerts inside the ingest transaction; returns their ids in order."""
    return [int(conn.execute(insert(Alert).values(**row).returning(Alert.id)).scalar_one()) for row in rows]


def mark_alert(db: Database, alert_id: int, delivered: str) -> None:
    with db.begin() as conn:
        conn.execute(update(Alert).where(Alert.id == alert_id).values(delivered=delivered))


def list_alerts(db: Database, rule_id: int | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    query = select(Alert.id, Alert.rule_id, Alert.event_id, Alert.device_id, Alert.created_at, Alert.detail,
                   Alert.delivered).order_by(Alert.id).limit(limit)  # fmt: skip
    if rule_id is not None:
        query = query.where(Alert.rule_id == rule_id)
    with db.begin() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def recent_alerts(db: Database, limit: int = 100) -> list[dict[str, Any]]:
    """The newest alerts first, at most ``limit``."""
    query = select(Alert.id, Alert.rule_id, Alert.event_id, Alert.device_id, Alert.created_at, Alert.detail,
                   Alert.delivered).order_by(Alert.id.desc()).limit(limit)  # fmt: skip
    with db.begin() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def alert_totals(db: Database) -> dict[int, tuple[int, float]]:
    """``{rule_id: (alerts raised, time of the last one)}`` of every rule that raised any."""
    query = select(Alert.rule_id, func.count(), func.max(Alert.created_at)).group_by(Alert.rule_id)
    with db.begin() as conn:
        return {int(r[0]): (int(r[1]), float(r[2])) for r in conn.execute(query)}
