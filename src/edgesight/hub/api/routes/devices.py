"""Device enrolment, listing and revocation."""

from __future__ import annotations

import base64

from fastapi import APIRouter, HTTPException, status

from edgesight.core.errors import ConfigError
from edgesight.core.wire import Leaf, topic
from edgesight.hub.api.deps import AdminDep, HubDep
from edgesight.hub.api.schemas import DeviceCreate, DeviceCredentials, DevicePublic, TagsUpdate, Topics
from edgesight.hub.storage import devices
from edgesight.hub.storage.devices import Enrolment

__all__ = ["device_or_404", "router"]

router = APIRouter(prefix="/api/v1/devices", tags=["devices"], dependencies=[AdminDep])


def credentials(e: Enrolment, broker: str | None) -> DeviceCredentials:
    """What a device is provisioned with (the agent's credentials file is device_id, secret, token, broker)."""
    return DeviceCredentials(
        device_id=e.device_id,
        site=e.site,
        secret=base64.b64encode(e.secret).decode(),
        token=e.token,
        broker=broker,
        topics=Topics(
            up=topic(e.device_id, Leaf.UP), desired=topic(e.device_id, Leaf.DESIRED),
            command=topic(e.device_id, Leaf.COMMAND), ack=topic(e.device_id, Leaf.ACK),
            status=topic(e.device_id, Leaf.STATUS),
        ),
    )  # fmt: skip


def device_or_404(hub: HubDep, device_id: str) -> DevicePublic:
    info = devices.get_device(hub.db, device_id)
    if info is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"device {device_id!r} is not enrolled")
    return DevicePublic.model_validate(info, from_attributes=True)


@router.post("", status_code=status.HTTP_201_CREATED)
def enrol(body: DeviceCreate, hub: HubDep) -> DeviceCredentials:
    """Enrol a device: returns its secret and token (shown only once)."""
    try:
        address = hub.settings.broker()
        broker = None if address is None else address.url if address.tls else f"{address.host}:{address.port}"
        return credentials(devices.enrol(hub.db, body.device_id, body.site, tuple(body.tags)), broker)
    except ConfigError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


@router.get("")
def list_devices(hub: HubDep, site: str | None = None) -> list[DevicePublic]:
    """Every device (optionally of one site) with its latest health."""
    return [DevicePublic.model_validate(d, from_attributes=True) for d in devices.list_devices(hub.db, site)]


@router.get("/{device_id}")
def get_device(device_id: str, hub: HubDep) -> DevicePublic:
    return device_or_404(hub, device_id)


@router.post("/{device_id}/revoke")
def revoke(device_id: str, hub: HubDep) -> DevicePublic:
    """Cut the device off: its messages are rejected as ``revoked`` from now on."""
    device_or_404(hub, device_id)
    devices.revoke(hub.db, device_id)
    hub.ingestor.forget(device_id)
    return device_or_404(hub, device_id)


@router.put("/{device_id}/tags")
def set_tags(device_id: str, body: TagsUpdate, hub: HubDep) -> DevicePublic:
    """Replace the device's tags (deployments target devices by id, tag or site)."""
    device_or_404(hub, device_id)
    try:
        devices.set_tags(hub.db, device_id, body.tags)
    except ConfigError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return device_or_404(hub, device_id)
