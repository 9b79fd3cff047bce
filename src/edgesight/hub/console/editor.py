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

__all__ = ["ShapesBody", "check_shapes", "running_analytics", "save_shapes"]


class ShapesBody(BaseModel):
    """The editor's zones and/or lines as ``analytics.zones`` / ``analytics.lines`` items (checked later).

    A list left out (None) is not changed: the device keeps its own, e.g. the lines of its config
    file that the hub has not heard of yet.
    """

    model_config = ConfigDict(extra="forbid")

    zones: list[dict[str, Any]] | None = Field(None, max_length=64)
    lines: list[dict[str, Any]] | None = Field(None, max_length=64)

    def patch(self) -> dict[str, Any]:
        """The merge patch of ``analytics``: only the lists given."""
        return {k: v for k, v in (("zones", self.zones), ("lines", self.lines)) if v is not None}


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
    merged = merge_patch(current, body.patch())
    try:
        AnalyticsConfig.model_validate(merged)
    except ValidationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, config_error_message(exc, source)) from None
    return merged


def running_analytics(twin: TwinState | None) -> dict[str, Any]:
    """The device's reported ``analytics`` with the desired ``analytics`` overrides merged over it.

    Example:
        >>> t = TwinState("d", {"analytics": {"lines": []}}, 2, {"analytics": {"zones": [1], "lines": [2]}}, 1, 0.0)
        >>> running_analytics(t)
        {'zones': [1], 'lines': []}
    """
    if twin is None:
        return {}
    return merge_patch(dict(twin.reported.get("analytics") or {}), dict(twin.desired.get("analytics") or {}))


def save_shapes(hub: HubService, device_id: str, body: ShapesBody) -> TwinState:
    """Replace the desired zones and lines (after :func:`check_shapes`) and publish the twin.

    They are checked in the analytics the device would run: what it last reported running (its
    file plus the desired state it applied) with the desired overrides over it.
    """
    twin = devices.get_twin(hub.db, device_id)
    current = running_analytics(twin)
    check_shapes(current, body, f"device {device_id} analytics")
    state = devices.patch_desired(hub.db, device_id, {"analytics": body.patch()})
    send_desired(hub.db, hub.publisher, device_id)
    return state
