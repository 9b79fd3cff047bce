"""The console's alert rules and fired alerts: list for any session; create, edit, mute for an admin (CSRF).

The rules are the hub's own (:mod:`edgesight.hub.rules`): the same checks as ``/api/v1/rules``, and
the rule engine reloads them after every change, so an edited rule fires on the next event.
"""

from __future__ import annotations

import math
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict

from edgesight.core.errors import ConfigError, StorageError
from edgesight.hub.api.deps import HubDep
from edgesight.hub.api.schemas import RuleCreate
from edgesight.hub.console.auth import EditorDep, SessionDep
from edgesight.hub.storage import rules as rule_store

__all__ = ["router"]

router = APIRouter(prefix="/console/api", tags=["console"])

MUTE_HOURS = {"1h": 1.0, "8h": 8.0, "24h": 24.0, "unmuted": math.inf}
"""The console's mute choices: for 1, 8 or 24 hours, or until an admin unmutes the rule."""


class MuteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    until: Literal["1h", "8h", "24h", "unmuted"]


def _public(rule: dict[str, Any]) -> dict[str, Any]:
    return rule_store.public_mute(rule, time.time())


def _fields(body: RuleCreate) -> tuple[str, str, dict[str, Any], str | None, str | None]:
    if body.webhook_url is None and body.mqtt_topic is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "a rule needs webhook_url and/or mqtt_topic")
    url = None if body.webhook_url is None else str(body.webhook_url)
    return body.name, body.event_type.value, body.condition.model_dump(exclude_none=True), url, body.mqtt_topic


@router.get("/rules")
def list_rules(session: SessionDep, hub: HubDep) -> list[dict[str, Any]]:
    """Every rule with the number of alerts it raised and when it last did."""
    totals = rule_store.alert_totals(hub.db)
    return [{**_public(r), "alerts": totals.get(r["id"], (0, None))[0],
             "last_alert_at": totals.get(r["id"], (0, None))[1]} for r in rule_store.list_rules(hub.db)]  # fmt: skip


@router.post("/rules", status_code=status.HTTP_201_CREATED)
def create_rule(body: RuleCreate, session: EditorDep, hub: HubDep) -> dict[str, Any]:
    """A new rule (admin only); 409 when the name is taken."""
    try:
        row = rule_store.create_rule(hub.db, *_fields(body))
    except ConfigError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    hub.rules.invalidate()
    return _public(row)


@router.put("/rules/{rule_id}")
def edit_rule(rule_id: int, body: RuleCreate, session: EditorDep, hub: HubDep) -> dict[str, Any]:
    """Replace a rule's name, event type, condition and targets (admin only)."""
    try:
        row = rule_store.update_rule(hub.db, rule_id, *_fields(body))
    except StorageError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except ConfigError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    hub.rules.invalidate()
    return _public(row)


def _mute(hub: HubDep, rule_id: int, until: float | None) -> dict[str, Any]:
    try:
        row = rule_store.mute_rule(hub.db, rule_id, until)
    except StorageError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    hub.rules.invalidate()  # the rule engine skips (or fires) the rule from the next event on
    return _public(row)


@router.put("/rules/{rule_id}/mute")
def mute_rule(rule_id: int, body: MuteRequest, session: EditorDep, hub: HubDep) -> dict[str, Any]:
    """Mute a rule for 1, 8 or 24 hours, or until unmuted (admin only): it raises no alert meanwhile."""
    return _mute(hub, rule_id, time.time() + MUTE_HOURS[body.until] * 3600.0)


@router.delete("/rules/{rule_id}/mute")
def unmute_rule(rule_id: int, session: EditorDep, hub: HubDep) -> dict[str, Any]:
    """Unmute a rule (admin only)."""
    return _mute(hub, rule_id, None)


@router.get("/alerts")
def recent_alerts(session: SessionDep, hub: HubDep,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:  # fmt: skip
    """The newest alerts first: rule, device, the event that fired it, delivery status."""
    return rule_store.recent_alerts(hub.db, limit)
