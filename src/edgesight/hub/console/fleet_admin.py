"""The console's fleet management: an admin edits a device's tags, creates and halts deployments (CSRF);
any session lists deployments and the registered models.

All go through the hub's own API handlers (``PUT /api/v1/devices/{id}/tags``,
``POST``/``GET /api/v1/deployments``, ``POST /api/v1/deployments/{id}/halt``, ``GET /api/v1/models``), so the console applies the same
checks and returns the same bodies (a 422 names the field, a 404 or 409 says why the deployment
cannot start); only the authentication differs: the console session and its CSRF token, never the
admin token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from edgesight.hub.api.deps import HubDep
from edgesight.hub.api.routes import devices as device_routes
from edgesight.hub.api.routes import models as model_routes
from edgesight.hub.api.schemas import (
    DeploymentCreate,
    DeploymentHalt,
    DeploymentPublic,
    DevicePublic,
    TagsUpdate,
)
from edgesight.hub.console.auth import EditorDep, SessionDep

__all__ = ["router"]

router = APIRouter(prefix="/console/api", tags=["console"])

_FORM_DEFAULTS = ("canary_count", "health_window_s", "report_timeout_s")
"""The deployment form's fields whose API defaults the page shows (read from the schema, not repeated)."""


@router.put("/devices/{device_id}/tags")
def set_tags(device_id: str, body: TagsUpdate, session: EditorDep, hub: HubDep) -> DevicePublic:
    """Replace the device's tags (admin only); 422 names a malformed tag, 404 an unknown device."""
    return device_routes.set_tags(device_id, body, hub)


@router.get("/deployments")
def deployments(session: SessionDep, hub: HubDep) -> list[DeploymentPublic]:
    """Every deployment with its status and each device's state."""
    return model_routes.list_deployments(hub)


@router.post("/deployments", status_code=status.HTTP_201_CREATED)
def create_deployment(body: DeploymentCreate, session: EditorDep, hub: HubDep) -> DeploymentPublic:
    """Deploy a registered model (admin only): 404 for an unregistered model, 409 for no or busy targets."""
    return model_routes.create_deployment(body, hub)


@router.get("/deployments/form")
def deployment_form(session: SessionDep, hub: HubDep) -> dict[str, Any]:
    """What the deployment form offers: the registered models and the API's defaults of its fields.

    Any session may read it (a GET carries no CSRF header to tell an admin by), so it gives only
    what deployments already show every viewer, id and version; digests and signers stay with
    ``GET /api/v1/models``, which is admin only.
    """
    fields = DeploymentCreate.model_fields
    models = [{"id": m.id, "version": m.version} for m in model_routes.list_models(hub)]
    return {"models": models, "defaults": {k: fields[k].default for k in _FORM_DEFAULTS}}


@router.post("/deployments/{deployment_id}/halt")
def halt_deployment(deployment_id: str, body: DeploymentHalt, session: EditorDep, hub: HubDep) -> DeploymentPublic:
    """Stop a deployment in progress (admin only), optionally rolling its devices back; 409 once it is over."""
    return model_routes.halt_deployment(deployment_id, body, hub)
