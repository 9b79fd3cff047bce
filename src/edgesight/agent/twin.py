"""The device twin on the device: the hub's desired config, what the agent applies live, what it reports.

A desired twin (kind 16, retained on ``down/desired``) is ``{"version": int, "config": {...}}``.
``config`` holds the hub's overrides of the device config file, merged over it the way the hub
merges patches (RFC 7386 JSON merge patch: objects merge key by key, lists and values replace,
``null`` removes an override). Its sections:

* ``analytics``: overrides of the ``analytics`` section (zones, lines, apps...). Applied live: the
  analytics engine is rebuilt (the tracker is kept when its settings did not change).
* ``sensor``: overrides of the ``sensor`` section. ``score_threshold``, ``iou_threshold`` and
  ``max_detections`` apply live; other changed keys (model, source, roi, tiling...) are reported
  under ``pending_restart`` and take effect at the next start.
* ``upload``: ``{"enabled": bool, "interval_s": float}``; frame metadata is batched per interval.
* ``privacy``: ``{"allow_images": bool}``; false (the default) refuses every image request.
* ``inspection``: ``{"thresholds": {"<product>": number}}``; the agent validates and saves it with
  the twin (``<data dir>/twin.json``), and ``edgesight inspect run --twin`` follows that file,
  judging the next part with the new threshold (no restart).
* ``model``: the model to run (:class:`~edgesight.core.wire.ModelTarget`: id, version, sha256,
  size, deployment, health limits). The agent downloads, verifies, self-tests and swaps it in
  without restarting (:mod:`edgesight.agent.model_rollout`); the device's trust settings
  (``model_trust``, top level of its config file) are not part of the twin and apply to it.

The effective config is always *file + desired overrides*, so applying the same twin twice is
harmless. A twin whose version is not newer than the applied one is ignored; an invalid twin is
not applied and is reported with its ``error``.

Example:
    >>> from edgesight.core.config import DeviceConfig
    >>> twin = parse_desired(b'{"version": 3, "config": {"upload": {"enabled": false}}}')
    >>> state = resolve_twin(twin, DeviceConfig())
    >>> state.version, state.upload.enabled, state.privacy.allow_images
    (3, False, False)
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationError,
)

from edgesight.core import wire
from edgesight.core.config import (
    KNOWN_CLASSES_CONTEXT,
    AnalyticsConfig,
    DeviceConfig,
    SensorSection,
    config_error_message,
)
from edgesight.core.errors import ConfigError, SchemaError, StorageError
from edgesight.core.private_files import write_private_text
from edgesight.core.twin import merge_patch

__all__ = [
    "LIVE_SENSOR_KEYS",
    "DesiredConfig",
    "DesiredTwin",
    "InspectionPolicy",
    "PrivacyPolicy",
    "TwinState",
    "UploadPolicy",
    "load_applied",
    "parse_desired",
    "resolve_twin",
    "save_applied",
]

LIVE_SENSOR_KEYS = frozenset({"score_threshold", "iou_threshold", "max_detections"})
"""Sensor keys a running agent applies without a restart."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UploadPolicy(_Strict):
    """Whether frame metadata is uploaded, and how often a batch is cut."""

    enabled: bool = Field(True, description="upload frame metadata batches (events always go)")
    interval_s: float = Field(3.0, gt=0.0, le=3600.0, description="longest time a frame batch is held")


class PrivacyPolicy(_Strict):
    """What may leave the device besides metadata."""

    allow_images: bool = Field(False, description="allow snapshots and other images to leave the device")


class InspectionPolicy(_Strict):
    """Run-time settings of the inspection products judged on this device."""

    thresholds: dict[
        Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")],
        Annotated[float, Field(ge=0.0, allow_inf_nan=False)],
    ] = Field(default_factory=dict, description="product name -> anomaly score above which a part is rejected")


def _target(value: Any) -> Any:
    """The wire's reader checks a ``model`` section (its SchemaError names the field)."""
    if value is None or isinstance(value, wire.ModelTarget):
        return value
    try:
        return wire.ModelTarget.from_dict(value)
    except SchemaError as exc:
        raise ValueError(str(exc)) from None


_TargetField = Annotated[
    wire.ModelTarget | None,
    BeforeValidator(_target),
    PlainSerializer(lambda t: None if t is None else t.to_dict(), return_type=dict[str, Any] | None),
]


class DesiredConfig(_Strict):
    """The ``config`` of a desired twin: overrides of the device config file, and the model to run."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    sensor: dict[str, Any] = Field(default_factory=dict, description="overrides of the sensor section")
    analytics: dict[str, Any] = Field(default_factory=dict, description="overrides of the analytics section")
    upload: UploadPolicy = Field(default_factory=UploadPolicy)
    privacy: PrivacyPolicy = Field(default_factory=PrivacyPolicy)
    inspection: InspectionPolicy = Field(default_factory=InspectionPolicy)
    model: _TargetField = Field(None, description="the model to run, from a deployment (None: the config file's)")


class DesiredTwin(_Strict):
    """The hub's desired state of one device."""

    version: int = Field(ge=0, description="increases with every change the hub makes")
    config: DesiredConfig = Field(default_factory=DesiredConfig)


def parse_desired(payload: bytes | str) -> DesiredTwin:
    """Validate the shape of a desired-twin payload (the sections are checked by :func:`resolve_twin`).

    Raises:
        SchemaError: not JSON, or not ``{"version": int, "config": {...}}`` with known sections.
    """
    message = wire.DesiredTwin.from_bytes(payload.encode() if isinstance(payload, str) else payload)
    try:
        return DesiredTwin.model_validate({"version": message.version, "config": message.config})
    except ValidationError as exc:
        raise SchemaError(config_error_message(exc, "desired twin")) from exc


@dataclass(frozen=True)
class TwinState:
    """What the agent runs with now: the config sections, upload and privacy policy, and their version.

    ``pending_restart`` names sensor keys that differ from the running process and only take
    effect at the next start.
    """

    version: int
    sensor: SensorSection
    analytics: AnalyticsConfig
    upload: UploadPolicy = field(default_factory=UploadPolicy)
    privacy: PrivacyPolicy = field(default_factory=PrivacyPolicy)
    pending_restart: tuple[str, ...] = ()
    inspection: InspectionPolicy = field(default_factory=InspectionPolicy)

    @classmethod
    def from_config(cls, config: DeviceConfig) -> TwinState:
        """The state of a freshly started agent: its config file, version 0."""
        return cls(version=0, sensor=config.sensor, analytics=config.analytics)

    def with_upload(self, enabled: bool) -> TwinState:
        """The state after a ``start_upload`` / ``stop_upload`` command."""
        return replace(self, upload=self.upload.model_copy(update={"enabled": enabled}))

    def reported(self, error: str | None = None, model: wire.ModelReport | None = None) -> wire.ReportedTwin:
        """The kind-4 message: the version applied, the state running and the model report.

        Example:
            >>> from edgesight.core.config import DeviceConfig
            >>> TwinState.from_config(DeviceConfig()).reported().state["upload"]
            {'enabled': True, 'interval_s': 3.0}
        """
        state: dict[str, Any] = {
            "upload": self.upload.model_dump(mode="json"),
            "privacy": self.privacy.model_dump(mode="json"),
            "sensor": self.sensor.model_dump(mode="json"),
            "analytics": self.analytics.model_dump(mode="json"),
            "pending_restart": list(self.pending_restart),
            "inspection": self.inspection.model_dump(mode="json"),
        }
        if error is not None:
            state["error"] = error
        if model is not None:
            state["model"] = model.to_dict()
        return wire.ReportedTwin(self.version, state)


def resolve_twin(
    twin: DesiredTwin, base: DeviceConfig, known_classes: Collection[str] | None = None
) -> TwinState:
    """The state a twin asks for: the config file ``base`` with the twin's overrides merged in.

    Args:
        twin: a desired twin from :func:`parse_desired`.
        base: the device config file the process started with.
        known_classes: the running model's labels (zone/line class names are checked against them).

    Raises:
        SchemaError: a merged section is invalid (the message names the key path).
    """
    context = {KNOWN_CLASSES_CONTEXT: list(known_classes)} if known_classes else None
    cfg = twin.config
    try:
        sensor = SensorSection.model_validate(merge_patch(base.sensor.model_dump(mode="json"), cfg.sensor))
    except ValidationError as exc:
        raise SchemaError(config_error_message(exc, "desired twin config.sensor")) from exc
    try:
        analytics = AnalyticsConfig.model_validate(
            merge_patch(base.analytics.model_dump(mode="json"), cfg.analytics), context=context
        )
    except ValidationError as exc:
        raise SchemaError(config_error_message(exc, "desired twin config.analytics")) from exc
    restart = tuple(
        sorted(
            key
            for key in SensorSection.model_fields
            if key not in LIVE_SENSOR_KEYS and getattr(sensor, key) != getattr(base.sensor, key)
        )
    )
    return TwinState(twin.version, sensor, analytics, cfg.upload, cfg.privacy, restart, cfg.inspection)


def save_applied(path: Path, twin: DesiredTwin) -> None:
    """Keep the last applied twin so a restart runs with it even before the broker is reachable."""
    try:
        write_private_text(path, twin.model_dump_json())
    except OSError as exc:
        raise StorageError(f"cannot save the applied twin to {path}: {exc.strerror}") from exc


def load_applied(path: Path) -> DesiredTwin | None:
    """The twin saved by :func:`save_applied`, None if there is none."""
    if not path.is_file():
        return None
    try:
        return parse_desired(path.read_bytes())
    except SchemaError as exc:
        raise ConfigError(
            f"{path}: saved twin is invalid ({exc}); delete it to start from the config file"
        ) from exc
