"""ORM tables of the hub (SQLAlchemy 2). Migrations 0001 to 0004 create exactly these.

Times are Unix seconds (float) throughout, as on the wire; JSON columns hold the wire forms.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Boolean, Float, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from edgesight.hub.storage.secret_box import SealedSecret

__all__ = [
    "Aggregate",
    "Alert",
    "Base",
    "Command",
    "ConsoleBackground",
    "ConsoleSession",
    "ConsoleUser",
    "Deployment",
    "DeploymentDevice",
    "Device",
    "DeviceHealth",
    "EventRow",
    "FrameBatch",
    "FrameRow",
    "IngestLog",
    "ModelRow",
    "Rule",
    "Twin",
]


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    site: Mapped[str | None] = mapped_column(String(128), index=True)
    secret: Mapped[bytes] = mapped_column(SealedSecret())  # LargeBinary, encrypted with the hub's key
    token_hash: Mapped[str] = mapped_column(String(64))
    enrolled_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float)
    stored_through: Mapped[int] = mapped_column(BigInteger, default=0)
    down_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """Free labels (``lobby``, ``beta``) that deployments target; since 0004."""


class Twin(Base):
    __tablename__ = "twins"
    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    desired: Mapped[dict[str, Any]] = mapped_column(JSON)
    desired_version: Mapped[int] = mapped_column(Integer, default=0)
    reported: Mapped[dict[str, Any]] = mapped_column(JSON)
    reported_version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[float] = mapped_column(Float)


class DeviceHealth(Base):
    __tablename__ = "device_health"
    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_seen: Mapped[float] = mapped_column(Float)
    fps: Mapped[float | None] = mapped_column(Float)
    dnn_ms: Mapped[float | None] = mapped_column(Float)
    model: Mapped[str | None] = mapped_column(String(160))
    outbox_pending: Mapped[int | None] = mapped_column(BigInteger)
    uptime_s: Mapped[float | None] = mapped_column(Float)


class IngestLog(Base):
    """One row per accepted ``(device_id, seq)``: the exactly-once record."""

    __tablename__ = "ingest_log"
    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[float] = mapped_column(Float)


class FrameRow(Base):
    __tablename__ = "frames"
    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    frame_index: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    stream_id: Mapped[str] = mapped_column(String(128))
    timestamp: Mapped[float] = mapped_column(Float)
    model: Mapped[str] = mapped_column(String(160))
    n_detections: Mapped[int] = mapped_column(Integer)
    detections: Mapped[str | None] = mapped_column(Text)
    """Detections JSON of frames stored before migration 0002; NULL since (see :class:`FrameBatch`)."""
    __table_args__ = (Index("ix_frames_time", "timestamp"),)


class FrameBatch(Base):
    """A frames message's binary batch as the device sent it, once per ``(device_id, seq)``.

    ``frames`` indexes its frames; detections are decoded from here when they are read.
    """

    __tablename__ = "frame_batches"
    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    timestamp: Mapped[float] = mapped_column(Float)
    """Of the batch's first frame: for time partitioning and retention, like ``frames.timestamp``."""
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class EventRow(Base):
    __tablename__ = "events"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(128))
    stream_id: Mapped[str] = mapped_column(String(128))
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(32))
    rule: Mapped[str] = mapped_column(String(128))
    trigger: Mapped[str] = mapped_column(String(16))
    frame_index: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[float] = mapped_column(Float)
    class_name: Mapped[str | None] = mapped_column(String(64))
    track_ids: Mapped[list[Any]] = mapped_column(JSON)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON)
    __table_args__ = (
        Index("ix_events_time", "timestamp"),
        Index("ix_events_device_time", "device_id", "timestamp"),
        Index("ix_events_type_time", "type", "timestamp"),
        Index("ix_events_device_type_time", "device_id", "type", "timestamp"),  # the console's device panels
    )


class Aggregate(Base):
    """Per-minute roll-up per device and rule.

    ``metric`` is ``zone_count`` (key: class or ``*``; ``n`` samples, ``total`` and ``maximum`` of
    the count) or ``line_crossing`` (key: ``direction/class``; ``n`` crossings).
    """

    __tablename__ = "aggregates"
    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    rule: Mapped[str] = mapped_column(String(128), primary_key=True)
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[float] = mapped_column(Float)
    maximum: Mapped[float] = mapped_column(Float)


class Command(Base):
    __tablename__ = "commands"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(128), index=True)
    name: Mapped[str] = mapped_column(String(64))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)


class Rule(Base):
    __tablename__ = "rules"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    event_type: Mapped[str] = mapped_column(String(32))
    condition: Mapped[dict[str, Any]] = mapped_column(JSON)
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    mqtt_topic: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[float] = mapped_column(Float)
    muted_until: Mapped[float | None] = mapped_column(Float)
    """The rule engine skips the rule until this time; ``inf`` until it is unmuted; ``None`` not muted."""


class Alert(Base):
    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_id: Mapped[int] = mapped_column(Integer, index=True)
    event_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[float] = mapped_column(Float)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    delivered: Mapped[str] = mapped_column(String(16), default="pending")


class ConsoleUser(Base):
    """A person who signs in to the web console; ``role`` is ``admin`` or ``viewer``."""

    __tablename__ = "console_users"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[float] = mapped_column(Float)


class ConsoleSession(Base):
    """A signed-in browser: the cookie's SHA-256, who, and the CSRF token its scripts send back."""

    __tablename__ = "console_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    csrf: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class ConsoleBackground(Base):
    """The floor plan or reference image a user uploaded for a device's zone editor."""

    __tablename__ = "console_backgrounds"
    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[float] = mapped_column(Float)


class ModelRow(Base):
    """A signed model package in the hub's registry, one row per ``(id, version)``; the package
    bytes are kept here (bounded by the package reader's limits) so every hub worker serves them."""

    __tablename__ = "models"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    signer: Mapped[str] = mapped_column(String(64))
    """Key id of the trusted key that signed it (``edgesight.core.signing.key_id``)."""
    size: Mapped[int] = mapped_column(BigInteger)
    uploaded_at: Mapped[float] = mapped_column(Float)
    blob: Mapped[bytes] = mapped_column(LargeBinary)


class Deployment(Base):
    """A model rolled out to a set of devices: canaries first, then the rest.

    ``status``: ``canary`` (waiting for the canaries to be healthy), ``rolling`` (sent to all),
    ``completed`` (every device healthy) or ``halted`` (a device refused, rolled back or timed out).
    """

    __tablename__ = "deployments"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64))
    target: Mapped[dict[str, Any]] = mapped_column(JSON)
    """What the admin asked for: ``{"devices": [...], "tags": [...], "site": ...}``."""
    health: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The health limits sent to devices (``edgesight.core.wire.HealthLimits``)."""
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    report_timeout_s: Mapped[float] = mapped_column(Float, server_default="600")
    """A device sent the model that reports no progress for this long is ``timed_out`` (halts)."""


class DeploymentDevice(Base):
    """One device of a deployment: its stage, its last reported state, what it ran before."""

    __tablename__ = "deployment_devices"
    deployment_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(128), primary_key=True, index=True)
    canary: Mapped[bool] = mapped_column(Boolean)
    state: Mapped[str] = mapped_column(String(16))
    """``pending`` (not sent yet), ``sent``, a :class:`edgesight.core.wire.ModelState` value, or
    ``timed_out`` (no progress reported within the deployment's ``report_timeout_s``)."""
    detail: Mapped[str | None] = mapped_column(Text)
    previous: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The device's desired ``model`` before this deployment (restored when it halts)."""
    updated_at: Mapped[float] = mapped_column(Float)
