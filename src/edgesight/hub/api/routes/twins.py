"""Device twins (desired and reported state, versioned) and commands."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from edgesight.hub.api.deps import AdminDep, HubDep
from edgesight.hub.api.routes.devices import device_or_404
from edgesight.hub.api.schemas import CommandCreate, CommandPublic, DesiredPatch, TwinPublic
from edgesight.hub.downlink import DesiredTooLargeError, check_desired_fits, send_command, send_desired
from edgesight.hub.storage import devices

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["twins"], dependencies=[AdminDep])


def _twin(hub: HubDep, device_id: str) -> TwinPublic:
    device_or_404(hub, device_id)
    twin = devices.get_twin(hub.db, device_id)
    if twin is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"device {device_id!r} has no twin")
    return TwinPublic.model_validate(twin, from_attributes=True)


@router.get("/devices/{device_id}/twin")
def get_twin(device_id: str, hub: HubDep) -> TwinPublic:
    """Desired state (set here) and reported state (sent by the device), each with its version."""
    return _twin(hub, device_id)


@router.patch("/devices/{device_id}/twin/desired")
def patch_desired(device_id: str, body: DesiredPatch, hub: HubDep) -> TwinPublic:
    """Merge-patch the desired config; its version goes up by one and it is published (retained).

    A patch whose result would not fit in one message is refused (413) and nothing changes.
    """
    device_or_404(hub, device_id)
    try:
        devices.patch_desired(hub.db, device_id, body.patch, check=check_desired_fits)
    except DesiredTooLargeError as exc:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from exc
    send_desired(hub.db, hub.publisher, device_id)
    return _twin(hub, device_id)


@router.post("/devices/{device_id}/commands", status_code=status.HTTP_202_ACCEPTED)
def create_command(device_id: str, body: CommandCreate, hub: HubDep) -> CommandPublic:
    """Send a command. ``snapshot`` needs ``privacy.allow_images: true`` in the desired twin."""
    twin = _twin(hub, device_id)
    if body.name == "snapshot" and (twin.desired.get("privacy") or {}).get("allow_images") is not True:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"device {device_id!r}: snapshot refused, its desired privacy.allow_images is not true",
        )
    if device_or_404(hub, device_id).revoked_at is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"device {device_id!r} is revoked")
    command_id = devices.create_command(hub.db, device_id, body.name, body.args)
    send_command(hub.db, hub.publisher, device_id, command_id, body.name, body.args)
    return _command(hub, command_id)


def _command(hub: HubDep, command_id: str) -> CommandPublic:
    row = devices.get_command(hub.db, command_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"command {command_id!r} does not exist")
    return CommandPublic.model_validate(row)


@router.get("/commands/{command_id}")
def get_command(command_id: str, hub: HubDep) -> CommandPublic:
    """A command and its result (``sent``, ``ok`` or ``failed`` with the device's detail)."""
    return _command(hub, command_id)
