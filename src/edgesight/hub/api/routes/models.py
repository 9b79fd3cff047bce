"""The model registry, deployments (rollouts) and the devices' download of their model.

* ``POST /api/v1/models`` (admin): upload a signed ``.espkg``; the hub checks it as a device
  would (intact, signed by one of ``trusted_model_keys``, not older than a registered version of
  the same id) and refuses it naming the check.
* ``POST /api/v1/deployments`` (admin): deploy a registered model to devices by id, tag or site,
  canaries first; ``GET /api/v1/deployments[/{id}]``: status per device; ``POST
  /api/v1/deployments/{id}/halt`` (admin): an operator stops it, optionally rolling devices back.
* ``GET /api/v1/device/models/{id}/{version}`` (device token): the package bytes, only for the
  model the device's desired twin names.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, Response, status
from packaging.version import InvalidVersion, Version
from starlette.concurrency import run_in_threadpool

from edgesight.core.errors import ConfigError, ModelLoadError, PackageTrustError
from edgesight.core.package import unpack_bytes
from edgesight.core.signing import check_signature, key_id
from edgesight.core.trust import TrustSettings, verify_package
from edgesight.core.wire import HealthLimits
from edgesight.hub.api.deps import AdminDep, DeviceDep, HubDep
from edgesight.hub.api.schemas import (
    DeploymentCreate,
    DeploymentHalt,
    DeploymentPublic,
    DeviceRolloutPublic,
    ModelPublic,
)
from edgesight.hub.rollout import DeploymentRequest
from edgesight.hub.service import HubService
from edgesight.hub.storage import devices, models, rollouts

__all__ = ["MAX_UPLOAD_BYTES", "admin_router", "device_router"]

MAX_UPLOAD_BYTES = 256 << 20
"""Largest package the hub registers (the zoo's largest is 11 MB)."""

admin_router = APIRouter(prefix="/api/v1", tags=["models"], dependencies=[AdminDep])
device_router = APIRouter(prefix="/api/v1/device", tags=["models"])

_OCTETS = {"requestBody": {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


async def _read_capped(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_UPLOAD_BYTES:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"package over {MAX_UPLOAD_BYTES} bytes refused")
        chunks.append(chunk)
    return b"".join(chunks)


def _register(hub: HubService, data: bytes) -> models.ModelInfo:
    """Check ``data`` as a device would and register it; raises HTTPException naming the check."""
    trust = TrustSettings(trusted_keys=hub.settings.trusted_model_keys)
    with tempfile.TemporaryDirectory(prefix="edgesight-upload-") as folder:  # created 0700
        path = Path(folder) / "upload.espkg"
        path.write_bytes(data)
        try:
            verdict = verify_package(path, trust, record=False)
        except PackageTrustError as exc:
            hint = "" if trust.trusted_keys else " (the hub trusts no key: set EDGESIGHT_HUB_TRUSTED_MODEL_KEYS)"
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, _uploaded(str(exc), path) + hint) from exc
        except ModelLoadError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, _uploaded(str(exc), path)) from exc
    package = verdict.package
    signer = check_signature(unpack_bytes(data, "upload"), trust.public_keys(), "upload")
    assert signer is not None  # verify_package refused unsigned packages
    highest = models.highest_version(hub.db, package.id)
    if highest is not None and _older(package.version, highest):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"refused (downgrade): {package.id} version {package.version} is older than version {highest} "
            "already registered",
        )
    info = models.ModelInfo(package.id, package.version, hashlib.sha256(data).hexdigest(), key_id(signer),
                            len(data), 0.0)  # fmt: skip
    try:
        return models.add_model(hub.db, info, data)
    except ConfigError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


def _uploaded(message: str, path: Path) -> str:
    return message.replace(str(path), "uploaded package")


def _older(version: str, than: str) -> bool:
    try:
        return Version(version) < Version(than)
    except InvalidVersion:
        return False  # verify_package has no opinion either; the device's downgrade check will name it


@admin_router.post("/models", status_code=status.HTTP_201_CREATED, openapi_extra=_OCTETS)
async def upload_model(request: Request, hub: HubDep) -> ModelPublic:
    """Register a signed package (the body is the ``.espkg`` file)."""
    data = await _read_capped(request)
    info = await run_in_threadpool(_register, hub, data)
    return ModelPublic.model_validate(info, from_attributes=True)


@admin_router.get("/models")
def list_models(hub: HubDep) -> list[ModelPublic]:
    return [ModelPublic.model_validate(m, from_attributes=True) for m in models.list_models(hub.db)]


def _deployment(hub: HubService, deployment_id: str) -> DeploymentPublic:
    info = rollouts.get_deployment(hub.db, deployment_id)
    if info is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"deployment {deployment_id!r} does not exist")
    rows = []
    for row in rollouts.devices_of(hub.db, deployment_id):
        device = devices.get_device(hub.db, row.device_id)
        health = device.health if device is not None else None
        rows.append(DeviceRolloutPublic(
            device_id=row.device_id, canary=row.canary, state=row.state, detail=row.detail,
            running=None if health is None else health.get("model"), fps=None if health is None else health.get("fps"),
            updated_at=row.updated_at,
        ))  # fmt: skip
    return DeploymentPublic(
        id=info.id, model_id=info.model_id, model_version=info.model_version, target=info.target,
        health=info.health, status=info.status, detail=info.detail, report_timeout_s=info.report_timeout_s,
        created_at=info.created_at, updated_at=info.updated_at, devices=rows,
    )  # fmt: skip


@admin_router.post("/deployments", status_code=status.HTTP_201_CREATED)
def create_deployment(body: DeploymentCreate, hub: HubDep) -> DeploymentPublic:
    """Deploy a registered model: the canaries get it now, the other targets when they are healthy."""
    request = DeploymentRequest(
        model_id=body.model_id, version=body.version, devices=tuple(body.devices), tags=tuple(body.tags),
        site=body.site, canaries=tuple(body.canaries), canary_count=body.canary_count,
        health=HealthLimits(window_s=body.health_window_s, min_fps_ratio=body.min_fps_ratio, min_fps=body.min_fps,
                            max_error_rate=body.max_error_rate),
        report_timeout_s=body.report_timeout_s,
    )  # fmt: skip
    try:
        info = hub.rollouts.deploy(request)
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except ConfigError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return _deployment(hub, info.id)


@admin_router.post("/deployments/{deployment_id}/halt")
def halt_deployment(deployment_id: str, body: DeploymentHalt, hub: HubDep) -> DeploymentPublic:
    """Stop a deployment in progress (409 once it completed or halted); ``roll_back`` also gives every
    device it reached its previous desired model back."""
    try:
        hub.rollouts.halt_deployment(deployment_id, body.reason, body.roll_back)
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except ConfigError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return _deployment(hub, deployment_id)


@admin_router.get("/deployments")
def list_deployments(hub: HubDep) -> list[DeploymentPublic]:
    """Every deployment, newest first, with its devices' states."""
    return [_deployment(hub, d.id) for d in rollouts.list_deployments(hub.db)]


@admin_router.get("/deployments/{deployment_id}")
def get_deployment(deployment_id: str, hub: HubDep) -> DeploymentPublic:
    return _deployment(hub, deployment_id)


@device_router.get("/models/{model_id}/{version}", response_class=Response)
def download_model(model_id: str, version: str, hub: HubDep, device_id: DeviceDep) -> Response:
    """The package the device's desired twin names (403 for any other: a device gets only its own)."""
    twin = devices.get_twin(hub.db, device_id)
    wanted = None if twin is None else twin.desired.get("model")
    if not isinstance(wanted, dict) or (wanted.get("id"), wanted.get("version")) != (model_id, version):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"device {device_id!r} is not asked to run {model_id}@{version}"
        )
    blob = models.model_blob(hub.db, model_id, version)
    if blob is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"model {model_id}@{version} is not registered")
    return Response(blob, media_type="application/octet-stream")
