"""Saving the zone and line editor: validated with the device config's own rules, written to the desired twin."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgesight.core.config import AnalyticsConfig, config_error_message
from edgesight.core.twin import merge_patch
from edgesight.hub.downlink import send_desired
from edgesight.hub.service import HubService
from edgesight.hub.storage import devices
from edgesight.hub.storage.devices import TwinState

__all__ = ["ShapesBody", "check_shapes", "save_shapes"]


class ShapesBody(BaseModel):
    """The editor's zones and lines as ``analytics.zones`` / ``analytics.lines`` items (checked later)."""

    model_config = ConfigDict(extra="forbid")

    zones: list[dict[str, Any]] = Field(default_factory=list, max_length=64)
    lines: list[dict[str, Any]] = Field(default_factory=list, max_length=64)


def check_shapes(current: dict[str, Any], body: ShapesBody, source: str) -> dict[str, Any]:
    """The analytics overrides with the new zones and lines, validated as an ``AnalyticsConfig``.

    Raises:
        HTTPException: 422 whose detail is the config's own message.

    Example:
        >>> body = ShapesBody(lines=[{"name": "door", "start": [0.2, 0.5], "end": [0.2, 0.5]}])
        >>> check_shapes({}, body, "cam-1")
        Traceback (most recent call last):
        ...
        fastapi.exceptions.HTTPException: 422: cam-1: lines.0: Value error, start == end == [0.2, 0.5]: the line has zero length
    """
    merged = merge_patch(current, {"zones": body.zones, "lines": body.lines})
    try:
        AnalyticsConfig.model_validate(merged)
    except ValidationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, config_error_message(exc, source)) from None
    return merged


def save_shapes(hub: HubService, device_id: str, body: ShapesBody) -> TwinState:
    """Replace the desired zones and lines (after :func:`check_shapes`) and publish the twin."""
    twin = devices.get_twin(hub.db, device_id)
    current = dict((twin.desired if twin else {}).get("analytics") or {})
    check_shapes(current, body, f"device {device_id} analytics")
    state = devices.patch_desired(hub.db, device_id, {"analytics": {"zones": body.zones, "lines": body.lines}})
    send_desired(hub.db, hub.publisher, device_id)
    return state
