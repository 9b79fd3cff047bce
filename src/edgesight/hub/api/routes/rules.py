"""Alert rules and alerts."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException, status

from edgesight.core.errors import ConfigError
from edgesight.hub.api.deps import AdminDep, HubDep
from edgesight.hub.api.params import LimitQuery, RowIdQuery
from edgesight.hub.api.schemas import AlertPublic, RuleCreate, RulePublic
from edgesight.hub.storage import rules as rule_store

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["rules"], dependencies=[AdminDep])


@router.post("/rules", status_code=status.HTTP_201_CREATED)
def create_rule(body: RuleCreate, hub: HubDep) -> RulePublic:
    """A rule: events of ``event_type`` meeting ``condition`` raise alerts sent to the targets."""
    if body.webhook_url is None and body.mqtt_topic is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "a rule needs webhook_url and/or mqtt_topic")
    try:
        row = rule_store.create_rule(
            hub.db, body.name, body.event_type.value, body.condition.model_dump(exclude_none=True),
            None if body.webhook_url is None else str(body.webhook_url), body.mqtt_topic,
        )  # fmt: skip
    except ConfigError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    hub.rules.invalidate()
    return RulePublic.model_validate(rule_store.public_mute(row, time.time()))


@router.get("/rules")
def list_rules(hub: HubDep) -> list[RulePublic]:
    now = time.time()
    return [RulePublic.model_validate(rule_store.public_mute(r, now)) for r in rule_store.list_rules(hub.db)]


@router.get("/alerts")
def list_alerts(hub: HubDep, rule_id: RowIdQuery = None, limit: LimitQuery = 1000) -> list[AlertPublic]:
    """Alerts, oldest first, with their delivery status (``pending``, ``delivered``, ``failed``)."""
    return [AlertPublic.model_validate(a) for a in rule_store.list_alerts(hub.db, rule_id, limit)]
