"""Request and response bodies of the API (kept apart from the ORM tables)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from edgesight.core.events import EventType
from edgesight.hub.storage.rollouts import DEFAULT_REPORT_TIMEOUT_S

__all__ = [
    "DEVICE_ID",
    "AlertPublic",
    "CommandCreate",
    "CommandPublic",
    "Condition",
    "DeploymentCreate",
    "DeploymentHalt",
    "DeploymentPublic",
    "DesiredPatch",
    "DeviceCreate",
    "DeviceCredentials",
    "DevicePublic",
    "DeviceRolloutPublic",
    "EventPublic",
    "FramePublic",
    "IngestResponse",
    "ModelPublic",
    "OutcomePublic",
    "RuleCreate",
    "RulePublic",
    "TagsUpdate",
    "Topics",
    "TwinPublic",
]

DEVICE_ID = r"^[A-Za-z0-9._:-]{1,128}$"
_Tag = Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]


def unstorable(value: Any, where: str = "body") -> str | None:
    r"""Where ``value`` holds something no database column or JSON document can keep, else None.

    A NUL character (PostgreSQL text and JSON refuse it) or a NaN/infinity (not JSON).

    Example:
        >>> unstorable({"a": [1, "ok"]}), unstorable({"a": [1, "b\x00"]}), unstorable({"x": float("nan")})
        (None, 'body.a[1] holds a NUL character', 'body.x is nan, not a finite number')
    """
    if isinstance(value, str):
        return f"{where} holds a NUL character" if "\x00" in value else None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where} is {value}, not a finite number"
    if isinstance(value, dict):
        for key, item in value.items():
            found = unstorable(key, f"{where} key {key!r}") or unstorable(item, f"{where}.{key}")
            if found:
                return found
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = unstorable(item, f"{where}[{i}]")
            if found:
                return found
    return None


class _In(BaseModel):
    """A request body: unknown keys, NUL characters and non-finite numbers are refused (422)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _storable(self) -> _In:
        found = unstorable(self.model_dump(mode="python"))
        if found:
            raise ValueError(found)
        return self


class DeviceCreate(_In):
    device_id: str = Field(pattern=DEVICE_ID, description="Unique device id, as in the envelopes.")
    site: str | None = Field(None, max_length=128, description="Store, building or line it belongs to.")
    tags: list[_Tag] = Field(default_factory=list, max_length=32, description="Labels deployments can target.")


class TagsUpdate(_In):
    tags: list[_Tag] = Field(max_length=32, description="The device's tags, replacing the old ones.")


class Topics(BaseModel):
    up: str
    desired: str
    command: str
    ack: str
    status: str


class DeviceCredentials(BaseModel):
    """Shown once at enrolment: the hub keeps only the secret (for HMAC) and a hash of the token."""

    device_id: str
    site: str | None
    secret: str = Field(description="32-byte HMAC key, base64.")
    token: str = Field(description="Bearer token for HTTP ingest: 'Authorization: Bearer <device_id>:<token>'.")
    broker: str | None = Field(description="MQTT broker HOST:PORT (mqtts://HOST:PORT with TLS) of this hub (None: HTTP only).")
    topics: Topics


class DevicePublic(BaseModel):
    id: str
    site: str | None
    enrolled_at: float
    revoked_at: float | None
    stored_through: int
    health: dict[str, Any] | None
    tags: list[str] = Field(default_factory=list)


class TwinPublic(BaseModel):
    device_id: str
    desired: dict[str, Any]
    desired_version: int
    reported: dict[str, Any]
    reported_version: int
    updated_at: float


class DesiredPatch(_In):
    """JSON merge patch of the desired config (``null`` removes a key)."""

    patch: dict[str, Any]


class CommandCreate(_In):
    name: Literal["start_upload", "stop_upload", "snapshot"]
    args: dict[str, Any] = Field(default_factory=dict)


class CommandPublic(BaseModel):
    id: str
    device_id: str
    name: str
    args: dict[str, Any]
    status: str
    detail: str | None
    created_at: float


class Condition(_In):
    rule: str | None = Field(None, description="Only events of this zone/line/app rule.")
    property: str | None = Field(None, description="Event property to compare; None fires on every event.")
    op: Literal[">", ">=", "<", "<=", "==", "!="] = ">="
    value: float | str | bool | None = None


class RuleCreate(_In):
    name: str = Field(min_length=1, max_length=128)
    event_type: EventType
    condition: Condition = Field(default_factory=Condition)
    webhook_url: HttpUrl | None = None
    mqtt_topic: str | None = Field(None, min_length=1, max_length=200)


class RulePublic(BaseModel):
    id: int
    name: str
    event_type: str
    condition: dict[str, Any]
    webhook_url: str | None
    mqtt_topic: str | None
    created_at: float
    muted: bool = Field(False, description="muted now (by the console): it raises no alert")
    muted_until: float | None = Field(None, description="when the mute ends; null when not muted or muted until unmuted")


class AlertPublic(BaseModel):
    id: int
    rule_id: int
    event_id: str
    device_id: str
    created_at: float
    detail: dict[str, Any]
    delivered: str


class OutcomePublic(BaseModel):
    status: str
    seq: int | None
    detail: str


class IngestResponse(BaseModel):
    outcomes: list[OutcomePublic]
    stored_through: int | None
    rejected: list[tuple[int, str]]


class EventPublic(BaseModel):
    id: str
    device_id: str
    stream_id: str
    seq: int
    type: str
    rule: str
    trigger: str
    frame_index: int
    timestamp: float
    class_name: str | None
    track_ids: list[int]
    properties: dict[str, Any]


class FramePublic(BaseModel):
    device_id: str
    stream_id: str
    seq: int
    frame_index: int
    timestamp: float
    model: str
    n_detections: int
    detections: list[dict[str, Any]]


class ModelPublic(BaseModel):
    """A package in the hub's registry."""

    id: str
    version: str
    sha256: str
    signer: str = Field(description="Key id of the trusted key that signed it.")
    size: int
    uploaded_at: float


class DeploymentHalt(_In):
    """An operator stops a deployment; ``roll_back`` also returns the devices it reached to their previous model."""

    reason: str = Field("no reason given", min_length=1, max_length=200)
    roll_back: bool = False


class DeploymentCreate(_In):
    """Deploy ``model_id@version`` to the devices listed, tagged or at the site; canaries first."""

    model_id: str = Field(max_length=64)
    version: str = Field(max_length=64)
    devices: list[str] = Field(default_factory=list, max_length=10_000)
    tags: list[str] = Field(default_factory=list, max_length=32)
    site: str | None = Field(None, max_length=128)
    canaries: list[str] = Field(default_factory=list, max_length=1000, description="Devices that go first.")
    canary_count: int = Field(1, ge=1, le=1000, description="Without canaries: this many targets go first.")
    health_window_s: float = Field(30.0, ge=0, le=86_400, description="How long a device watches the new model.")
    min_fps_ratio: float = Field(0.5, ge=0, le=1, description="Roll back below this fraction of the old fps.")
    min_fps: float = Field(0.0, ge=0, le=1000, description="Roll back below this fps (0: no floor).")
    max_error_rate: float = Field(0.05, ge=0, le=1, description="Roll back above this fraction of failed frames.")
    report_timeout_s: float = Field(
        DEFAULT_REPORT_TIMEOUT_S, gt=0, le=7 * 86_400,
        description="Halt when a device sent the model reports no progress for this long (plus the health window "
        "while it runs the model).",
    )  # fmt: skip


class DeviceRolloutPublic(BaseModel):
    device_id: str
    canary: bool
    state: str = Field(description="pending, sent, downloading, verifying, loading, running, healthy, refused, "
                       "rolled_back or timed_out (no progress within the deployment's report_timeout_s).")
    detail: str | None
    running: str | None = Field(description="The model of the device's last heartbeat (id@version).")
    fps: float | None
    updated_at: float


class DeploymentPublic(BaseModel):
    id: str
    model_id: str
    model_version: str
    target: dict[str, Any]
    health: dict[str, Any]
    status: str = Field(description="canary, rolling, completed or halted.")
    detail: str | None
    report_timeout_s: float
    created_at: float
    updated_at: float
    devices: list[DeviceRolloutPublic]
