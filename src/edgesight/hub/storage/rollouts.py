"""Deployments of registered models to devices, and each device's state in them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update

from edgesight.hub.storage.db import Database
from edgesight.hub.storage.tables import Deployment, DeploymentDevice

__all__ = [
    "ACTIVE",
    "DEFAULT_REPORT_TIMEOUT_S",
    "TIMED_OUT",
    "WAITING",
    "DeploymentInfo",
    "DeviceRollout",
    "active_for_device",
    "create_deployment",
    "devices_of",
    "get_deployment",
    "list_deployments",
    "set_device_state",
    "set_status",
    "time_out",
    "waiting",
]

ACTIVE = ("canary", "rolling")
"""Statuses of a deployment still in progress."""
WAITING = ("sent", "downloading", "verifying", "loading", "running")
"""Device states the hub expects another report after (``pending``: not sent; the rest are final)."""
TIMED_OUT = "timed_out"
"""The hub's own device state: no progress reported within the deployment's ``report_timeout_s``."""
DEFAULT_REPORT_TIMEOUT_S = 600.0
"""How long a deployment waits for a device's next report unless it says otherwise."""


@dataclass(frozen=True, slots=True)
class DeploymentInfo:
    id: str
    model_id: str
    model_version: str
    target: dict[str, Any]
    health: dict[str, Any]
    status: str
    detail: str | None
    created_at: float
    updated_at: float
    report_timeout_s: float = DEFAULT_REPORT_TIMEOUT_S


@dataclass(frozen=True, slots=True)
class DeviceRollout:
    deployment_id: str
    device_id: str
    canary: bool
    state: str
    detail: str | None
    previous: dict[str, Any] | None
    updated_at: float


_DEPLOYMENT = (Deployment.id, Deployment.model_id, Deployment.model_version, Deployment.target, Deployment.health,
               Deployment.status, Deployment.detail, Deployment.created_at, Deployment.updated_at,
               Deployment.report_timeout_s)  # fmt: skip
_DEVICE = (DeploymentDevice.deployment_id, DeploymentDevice.device_id, DeploymentDevice.canary,
           DeploymentDevice.state, DeploymentDevice.detail, DeploymentDevice.previous,
           DeploymentDevice.updated_at)  # fmt: skip


def create_deployment(
    db: Database, info: DeploymentInfo, members: list[tuple[str, bool, dict[str, Any] | None]]
) -> None:
    """Store a deployment and its devices ``(device_id, canary, previous desired model)``, all pending."""
    now = time.time()
    with db.begin() as conn:
        conn.execute(insert(Deployment).values(dict(zip([c.key for c in _DEPLOYMENT], _astuple(info), strict=True))))
        conn.execute(
            insert(DeploymentDevice),
            [{"deployment_id": info.id, "device_id": d, "canary": c, "state": "pending", "detail": None,
              "previous": p, "updated_at": now} for d, c, p in members],
        )  # fmt: skip


def _astuple(info: DeploymentInfo) -> tuple[Any, ...]:
    return (info.id, info.model_id, info.model_version, info.target, info.health, info.status, info.detail,
            info.created_at, info.updated_at, info.report_timeout_s)  # fmt: skip


def get_deployment(db: Database, deployment_id: str) -> DeploymentInfo | None:
    with db.begin() as conn:
        row = conn.execute(select(*_DEPLOYMENT).where(Deployment.id == deployment_id)).first()
    return None if row is None else DeploymentInfo(*row)


def list_deployments(db: Database, active_only: bool = False) -> list[DeploymentInfo]:
    """Deployments, newest first."""
    query = select(*_DEPLOYMENT).order_by(Deployment.created_at.desc())
    if active_only:
        query = query.where(Deployment.status.in_(ACTIVE))
    with db.begin() as conn:
        return [DeploymentInfo(*r) for r in conn.execute(query).all()]


def devices_of(db: Database, deployment_id: str) -> list[DeviceRollout]:
    """The deployment's devices, canaries first."""
    with db.begin() as conn:
        rows = conn.execute(
            select(*_DEVICE)
            .where(DeploymentDevice.deployment_id == deployment_id)
            .order_by(DeploymentDevice.canary.desc(), DeploymentDevice.device_id)
        ).all()
    return [DeviceRollout(*r) for r in rows]


def active_for_device(db: Database, device_id: str) -> list[tuple[DeploymentInfo, DeviceRollout]]:
    """The device's rows in deployments still in progress."""
    with db.begin() as conn:
        rows = conn.execute(
            select(*_DEPLOYMENT, *_DEVICE)
            .join(DeploymentDevice, DeploymentDevice.deployment_id == Deployment.id)
            .where(DeploymentDevice.device_id == device_id, Deployment.status.in_(ACTIVE))
        ).all()
    n = len(_DEPLOYMENT)
    return [(DeploymentInfo(*r[:n]), DeviceRollout(*r[n:])) for r in rows]


def set_device_state(db: Database, deployment_id: str, device_id: str, state: str, detail: str | None) -> bool:
    """Record a device's state; False when it was already that (nothing changed)."""
    with db.begin() as conn:
        result = conn.execute(
            update(DeploymentDevice)
            .where(
                DeploymentDevice.deployment_id == deployment_id,
                DeploymentDevice.device_id == device_id,
                (DeploymentDevice.state != state) | (DeploymentDevice.detail.is_distinct_from(detail)),
            )
            .values(state=state, detail=detail, updated_at=time.time())
        )
    return bool(result.rowcount)


def set_status(db: Database, deployment_id: str, status: str, detail: str | None, *, was: tuple[str, ...]) -> bool:
    """Move a deployment to ``status`` if it is in one of ``was``; True if this call moved it (so,
    with several hub workers, exactly one of them acts on the change)."""
    with db.begin() as conn:
        result = conn.execute(
            update(Deployment)
            .where(Deployment.id == deployment_id, Deployment.status.in_(was))
            .values(status=status, detail=detail, updated_at=time.time())
        )
    return bool(result.rowcount)


def waiting(db: Database) -> list[tuple[DeploymentInfo, DeviceRollout]]:
    """Devices of deployments in progress that the hub expects a report from (state in :data:`WAITING`)."""
    with db.begin() as conn:
        rows = conn.execute(
            select(*_DEPLOYMENT, *_DEVICE)
            .join(DeploymentDevice, DeploymentDevice.deployment_id == Deployment.id)
            .where(Deployment.status.in_(ACTIVE), DeploymentDevice.state.in_(WAITING))
        ).all()
    n = len(_DEPLOYMENT)
    return [(DeploymentInfo(*r[:n]), DeviceRollout(*r[n:])) for r in rows]


def time_out(db: Database, row: DeviceRollout, detail: str) -> bool:
    """Mark the device :data:`TIMED_OUT` if it has reported nothing since ``row`` was read; True if
    this call marked it (a report that lands meanwhile wins, and so does another hub worker)."""
    with db.begin() as conn:
        result = conn.execute(
            update(DeploymentDevice)
            .where(
                DeploymentDevice.deployment_id == row.deployment_id,
                DeploymentDevice.device_id == row.device_id,
                DeploymentDevice.state == row.state,
                DeploymentDevice.updated_at == row.updated_at,
            )
            .values(state=TIMED_OUT, detail=detail, updated_at=time.time())
        )
    return bool(result.rowcount)
