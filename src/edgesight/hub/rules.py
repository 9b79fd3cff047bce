"""Alert rules: events that match a rule's condition raise alerts, delivered to webhooks and MQTT.

Alerts are written in the ingest transaction (so an event raises its alert exactly once) and
delivered after the commit by a background thread: webhooks by HTTP POST with retries, MQTT by
publishing on the rule's topic. Delivery results are counted in the hub metrics.
"""

from __future__ import annotations

import json
import logging
import operator
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Connection

from edgesight.hub.downlink import NullPublisher, Publisher
from edgesight.hub.metrics import HubMetrics
from edgesight.hub.storage import rules as rule_store
from edgesight.hub.storage.db import Database

__all__ = ["OPERATORS", "RuleEngine", "matches"]

log = logging.getLogger(__name__)

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq,
    "!=": operator.ne,
}  # fmt: skip


def matches(rule: dict[str, Any], event: dict[str, Any]) -> bool:
    """Does ``event`` (a stored event row) fire ``rule``?

    The condition may name the event's ``rule`` (zone or line name) and a ``property`` compared with
    ``op`` to ``value``; an empty condition fires on every event of the type.

    Example:
        >>> r = {"event_type": "zone_count", "condition": {"property": "count", "op": ">=", "value": 5}}
        >>> matches(r, {"type": "zone_count", "rule": "till", "properties": {"count": 6}})
        True
    """
    if event["type"] != rule["event_type"]:
        return False
    cond = rule["condition"] or {}
    if cond.get("rule") is not None and event["rule"] != cond["rule"]:
        return False
    name = cond.get("property")
    if name is None:
        return True
    value = event["properties"].get(name)
    if value is None:
        return False
    try:
        return bool(OPERATORS[cond.get("op", ">=")](value, cond.get("value")))
    except TypeError:
        return False


@dataclass(frozen=True, slots=True)
class _Delivery:
    alert_id: int
    webhook_url: str | None
    mqtt_topic: str | None
    body: dict[str, Any]


class RuleEngine:
    """Evaluates rules on new events and delivers the alerts.

    A muted rule (``muted_until`` in the future) raises no alert; the events it would have fired on
    are counted in ``edgesight_hub_alerts_muted``.

    Use as a context manager (starts and stops the delivery thread).
    """

    def __init__(
        self,
        db: Database,
        metrics: HubMetrics,
        publisher: Publisher | None = None,
        retries: int = 3,
        refresh_s: float = 2.0,
    ) -> None:
        self.db = db
        self.metrics = metrics
        self.publisher: Publisher = publisher or NullPublisher()
        self.retries = retries
        self.refresh_s = refresh_s
        self._rules: list[dict[str, Any]] = []
        self._loaded_at = -1e9
        self._pending = threading.local()
        self._queue: queue.Queue[_Delivery | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> RuleEngine:
        self._thread = threading.Thread(target=self._deliver_loop, name="alert-delivery", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def invalidate(self) -> None:
        """Reload the rules before the next evaluation (call after creating one)."""
        self._loaded_at = -1e9

    def evaluate(self, conn: Connection, events: list[dict[str, Any]]) -> None:
        """Insert alerts for matching events (inside the ingest transaction); delivery waits for flush()."""
        if time.monotonic() - self._loaded_at > self.refresh_s:
            self._rules = rule_store.list_rules(self.db)
            self._loaded_at = time.monotonic()
        if not self._rules:
            return
        rows, targets = [], []
        now = time.time()
        for event in events:
            for rule in self._rules:
                if matches(rule, event):
                    if rule["muted_until"] is not None and now < rule["muted_until"]:
                        self.metrics.muted.labels(rule["name"]).inc()
                        continue
                    detail = {"rule": rule["name"], "event": _event_body(event)}
                    rows.append({"rule_id": rule["id"], "event_id": event["id"], "device_id": event["device_id"],
                                 "created_at": now, "detail": detail, "delivered": "pending"})  # fmt: skip
                    targets.append(rule)
        if not rows:
            return
        ids = rule_store.insert_alerts(conn, rows)
        pending = self._pending.__dict__.setdefault("items", [])
        for alert_id, row, rule in zip(ids, rows, targets, strict=True):
            body = {"alert_id": alert_id, **row["detail"]}
            pending.append(_Delivery(alert_id, rule["webhook_url"], rule["mqtt_topic"], body))

    def flush(self, committed: bool = True) -> None:
        """Queue the deliveries of this thread's last transaction (drop them if it rolled back)."""
        items: list[_Delivery] = self._pending.__dict__.pop("items", [])
        if committed:
            for item in items:
                self._queue.put(item)

    def _deliver_loop(self) -> None:
        with httpx.Client(timeout=5.0) as client:
            while (item := self._queue.get()) is not None:
                ok = True
                if item.webhook_url:
                    ok = self._post(client, item) and ok
                if item.mqtt_topic:
                    try:
                        self.publisher.publish(item.mqtt_topic, json.dumps(item.body).encode())
                        self.metrics.alerts.labels("mqtt", "ok").inc()
                    except (OSError, RuntimeError, ValueError) as exc:
                        log.warning("alert %d: MQTT publish to %s failed: %s", item.alert_id, item.mqtt_topic, exc)
                        self.metrics.alerts.labels("mqtt", "failed").inc()
                        ok = False
                try:
                    rule_store.mark_alert(self.db, item.alert_id, "delivered" if ok else "failed")
                except Exception:  # the hub must keep delivering even if one status write fails
                    log.exception("alert %d: could not record its delivery", item.alert_id)

    def _post(self, client: httpx.Client, item: _Delivery) -> bool:
        assert item.webhook_url is not None
        for attempt in range(self.retries):
            try:
                response = client.post(item.webhook_url, json=item.body)
                if response.status_code < 500:
                    ok = response.is_success
                    self.metrics.alerts.labels("webhook", "ok" if ok else "refused").inc()
                    if not ok:
                        log.warning("alert %d: webhook %s answered %d", item.alert_id, item.webhook_url,
                                    response.status_code)  # fmt: skip
                    return ok
            except httpx.HTTPError as exc:
                log.warning("alert %d: webhook %s attempt %d failed: %s", item.alert_id, item.webhook_url,
                            attempt + 1, exc)  # fmt: skip
            time.sleep(0.2 * 2**attempt)
        self.metrics.alerts.labels("webhook", "failed").inc()
        return False


def _event_body(event: dict[str, Any]) -> dict[str, Any]:
    return {k: event[k] for k in ("id", "device_id", "type", "rule", "timestamp", "class_name", "properties")}
