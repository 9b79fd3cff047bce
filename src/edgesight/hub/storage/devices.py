"""Device identities, tokens, twins, health and commands (the IoT Hub device model)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update

from edgesight.core.errors import ConfigError, StorageError
from edgesight.core.twin import merge_patch
from edgesight.hub.storage.db import Database
from edgesight.hub.storage.tables import Command, Device, DeviceHealth, Twin

__all__ = [
    "DeviceInfo",
    "Enrolment",
    "TwinState",
    "check_tags",
    "create_command",
    "enrol",
    "get_device",
    "get_twin",
    "list_devices",
    "patch_desired",
    "revoke",
    "secrets_of",
    "set_tags",
    "verify_token",
]


_TAG = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_MAX_TAGS = 32


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What an enrolment hands the device, once: the secret and token are not stored in clear."""

    device_id: str
    site: str | None
    secret: bytes
    token: str


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    id: str
    site: str | None
    enrolled_at: float
    revoked_at: float | None
    stored_through: int
    health: dict[str, Any] | None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TwinState:
    device_id: str
    desired: dict[str, Any]
    desired_version: int
    reported: dict[str, Any]
    reported_version: int
    updated_at: float


def check_tags(tags: list[str] | tuple[str, ...]) -> list[str]:
    """Tags sorted and without repeats; each must be 1-64 characters of ``[A-Za-z0-9._:-]``.

    Example:
        >>> check_tags(["lobby", "beta", "lobby"])
        ['beta', 'lobby']
        >>> check_tags(["no spaces"])
        Traceback (most recent call last):
        ...
        edgesight.core.errors.ConfigError: tag 'no spaces' must match ^[A-Za-z0-9._:-]{1,64}$
    """
    for tag in tags:
        if not _TAG.match(tag):
            raise ConfigError(f"tag {tag!r} must match {_TAG.pattern}")
    if len(set(tags)) > _MAX_TAGS:
        raise ConfigError(f"a device has at most {_MAX_TAGS} tags, got {len(set(tags))}")
    return sorted(set(tags))


def enrol(db: Database, device_id: str, site: str | None = None, tags: tuple[str, ...] = ()) -> Enrolment:
    """Create a device with a fresh 32-byte secret and API token; refuses an id already enrolled."""
    tag_list = check_tags(tags)
    secret = secrets.token_bytes(32)
    token = secrets.token_urlsafe(32)
    now = time.time()
    with db.begin() as conn:
        if conn.execute(select(Device.id).where(Device.id == device_id)).first() is not None:
            raise ConfigError(f"device {device_id!r} is already enrolled (revoke it or pick another id)")
        conn.execute(
            insert(Device).values(
                id=device_id, site=site, secret=secret, token_hash=_hash_token(token),
                enrolled_at=now, revoked_at=None, stored_through=0, down_seq=0, tags=tag_list,
            )
        )  # fmt: skip
        conn.execute(
            insert(Twin).values(
                device_id=device_id, desired={"privacy": {"allow_images": False}}, desired_version=1,
                reported={}, reported_version=0, updated_at=now,
            )
        )  # fmt: skip
    return Enrolment(device_id, site, secret, token)


def revoke(db: Database, device_id: str) -> float:
    """Cut a device off; returns the revocation time. Raises StorageError for an unknown device."""
    now = time.time()
    with db.begin() as conn:
        result = conn.execute(
            update(Device).where(Device.id == device_id, Device.revoked_at.is_(None)).values(revoked_at=now)
        )
        if result.rowcount == 0:
            row = conn.execute(select(Device.revoked_at).where(Device.id == device_id)).first()
            if row is None:
                raise StorageError(f"device {device_id!r} is not enrolled")
            return float(row[0] or now)
    return now


def set_tags(db: Database, device_id: str, tags: list[str] | tuple[str, ...]) -> list[str]:
    """Replace a device's tags; returns them as stored. Raises StorageError for an unknown device."""
    tag_list = check_tags(tags)
    with db.begin() as conn:
        result = conn.execute(update(Device).where(Device.id == device_id).values(tags=tag_list))
    if result.rowcount == 0:
        raise StorageError(f"device {device_id!r} is not enrolled")
    return tag_list


def secrets_of(db: Database, device_ids: list[str]) -> dict[str, tuple[bytes, bool]]:
    """``{device_id: (secret, revoked)}`` of the enrolled devices among ``device_ids``."""
    if not device_ids:
        return {}
    with db.begin() as conn:
        rows = conn.execute(
            select(Device.id, Device.secret, Device.revoked_at).where(Device.id.in_(device_ids))
        ).all()
    return {r[0]: (bytes(r[1]), r[2] is not None) for r in rows}


def verify_token(db: Database, device_id: str, token: str) -> bool:
    """True when ``token`` is the API token of ``device_id`` and the device is not revoked."""
    with db.begin() as conn:
        row = conn.execute(select(Device.token_hash, Device.revoked_at).where(Device.id == device_id)).first()
    if row is None or row[1] is not None:
        return False
    return hmac.compare_digest(str(row[0]), _hash_token(token))


def _health(row: Any) -> dict[str, Any] | None:
    if row.last_seen is None:
        return None
    return {
        "last_seen": row.last_seen, "fps": row.fps, "dnn_ms": row.dnn_ms, "model": row.model,
        "outbox_pending": row.outbox_pending, "uptime_s": row.uptime_s,
    }  # fmt: skip


def list_devices(db: Database, site: str | None = None, device_id: str | None = None) -> list[DeviceInfo]:
    """Devices (optionally of one site, or one id) with their latest health."""
    query = (
        select(
            Device.id, Device.site, Device.enrolled_at, Device.revoked_at, Device.stored_through, Device.tags,
            DeviceHealth.last_seen, DeviceHealth.fps, DeviceHealth.dnn_ms, DeviceHealth.model,
            DeviceHealth.outbox_pending, DeviceHealth.uptime_s,
        )
        .outerjoin(DeviceHealth, DeviceHealth.device_id == Device.id)
        .order_by(Device.id)
    )  # fmt: skip
    if site is not None:
        query = query.where(Device.site == site)
    if device_id is not None:
        query = query.where(Device.id == device_id)
    with db.begin() as conn:
        rows = conn.execute(query).all()
    return [
        DeviceInfo(r.id, r.site, r.enrolled_at, r.revoked_at, r.stored_through, _health(r), tuple(r.tags or ()))
        for r in rows
    ]


def get_device(db: Database, device_id: str) -> DeviceInfo | None:
    found = list_devices(db, device_id=device_id)
    return found[0] if found else None


def get_twin(db: Database, device_id: str) -> TwinState | None:
    with db.begin() as conn:
        t = conn.execute(
            select(Twin.device_id, Twin.desired, Twin.desired_version, Twin.reported, Twin.reported_version,
                   Twin.updated_at).where(Twin.device_id == device_id)
        ).first()  # fmt: skip
    if t is None:
        return None
    return TwinState(
        t.device_id, dict(t.desired), t.desired_version, dict(t.reported), t.reported_version, t.updated_at
    )


def patch_desired(
    db: Database,
    device_id: str,
    patch: dict[str, Any],
    check: Callable[[int, dict[str, Any]], None] | None = None,
) -> TwinState:
    """Merge ``patch`` into the desired state and bump its version by one (atomically).

    ``check(new_version, new_desired)`` runs before the write; whatever it raises rolls the
    change back (the hub uses it to refuse a twin too large to publish).
    """
    with db.begin() as conn:
        row = conn.execute(
            select(Twin.desired, Twin.desired_version).where(Twin.device_id == device_id).with_for_update()
        ).first()
        if row is None:
            raise StorageError(f"device {device_id!r} is not enrolled (no twin)")
        desired = merge_patch(dict(row[0]), patch)
        if check is not None:
            check(row[1] + 1, desired)
        conn.execute(
            update(Twin)
            .where(Twin.device_id == device_id)
            .values(desired=desired, desired_version=row[1] + 1, updated_at=time.time())
        )
    twin = get_twin(db, device_id)
    assert twin is not None
    return twin


def create_command(db: Database, device_id: str, name: str, args: dict[str, Any]) -> str:
    """Record a command as ``sent``; returns its id."""
    command_id = uuid.uuid4().hex
    with db.begin() as conn:
        conn.execute(
            insert(Command).values(
                id=command_id, device_id=device_id, name=name, args=args, created_at=time.time(),
                status="sent", detail=None,
            )
        )  # fmt: skip
    return command_id


def get_command(db: Database, command_id: str) -> dict[str, Any] | None:
    with db.begin() as conn:
        row = conn.execute(
            select(Command.id, Command.device_id, Command.name, Command.args, Command.status, Command.detail,
                   Command.created_at).where(Command.id == command_id)
        ).first()  # fmt: skip
    return None if row is None else dict(row._mapping)


def next_down_seq(db: Database, device_id: str) -> tuple[int, bytes]:
    """Reserve the next hub -> device sequence number; returns it with the device secret."""
    with db.begin() as conn:
        row = conn.execute(
            update(Device)
            .where(Device.id == device_id)
            .values(down_seq=Device.down_seq + 1)
            .returning(Device.down_seq, Device.secret)
        ).first()
    if row is None:
        raise StorageError(f"device {device_id!r} is not enrolled")
    return int(row[0]), bytes(row[1])
