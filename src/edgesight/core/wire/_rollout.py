"""Model rollout on the wire: the model a desired twin asks for, and the device's report on it.

* :class:`ModelTarget` is the ``model`` section of a desired twin's config (hub -> device): which
  package to run (id, version, SHA-256, size), the deployment it belongs to and the health limits
  the device watches after the swap (:class:`HealthLimits`).
* :class:`ModelReport` is the ``model`` section of a reported twin's state (device -> hub): the
  model running now and what happened to the target (:class:`ModelState`), with the check that
  refused it or the reason it was rolled back.

Both are JSON objects with a version key ``"v"``; a reader refuses another version with
:class:`~edgesight.core.errors.UnsupportedVersionError`, and every other problem with a
:class:`~edgesight.core.errors.SchemaError` naming the field.

Example:
    >>> t = ModelTarget("acme-people", "2.0.0", "ab" * 32, 1024, deployment="d1")
    >>> ModelTarget.from_dict(t.to_dict()) == t
    True
    >>> r = ModelReport(ModelState.REFUSED, running=("nanodet", "1.0.0"), target=t, check="untrusted-key")
    >>> ModelReport.from_dict(r.to_dict()).check
    'untrusted-key'
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Self

from edgesight.core.errors import SchemaError, UnsupportedVersionError
from edgesight.core.wire._text import MAX_NAME, check_text

__all__ = ["ROLLOUT_VERSION", "HealthLimits", "ModelReport", "ModelState", "ModelTarget"]

ROLLOUT_VERSION = 1
"""The version (``"v"``) of both objects."""
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MAX_DETAIL = 500
_MAX_PACKAGE_BYTES = 768 << 20  # core.package.LIMITS.max_total_bytes (wire does not import package)


class ModelState(StrEnum):
    """Where a device is with its target model."""

    DOWNLOADING = "downloading"
    VERIFYING = "verifying"
    LOADING = "loading"
    """Loaded beside the running model and self-tested."""
    RUNNING = "running"
    """Swapped in; its health is being watched."""
    HEALTHY = "healthy"
    """Ran for the whole health window within the limits."""
    REFUSED = "refused"
    """Not accepted (``check``: sha256, size, download, unsigned, untrusted-key, tampered, downgrade...)."""
    ROLLED_BACK = "rolled_back"
    """Failed to load, failed its self-test, or ran past a health limit; the previous model runs."""

    @property
    def failed(self) -> bool:
        return self in (ModelState.REFUSED, ModelState.ROLLED_BACK)


def _version(data: Mapping[str, Any], what: str) -> None:
    claimed = data.get("v", 1)
    if claimed != ROLLOUT_VERSION or type(claimed) is not int:
        raise UnsupportedVersionError(
            f"{what}: unsupported version {claimed!r}; this reader knows version {ROLLOUT_VERSION}",
            what=what,
            version=claimed,
        )


def _str(data: Mapping[str, Any], key: str, what: str, limit: int = MAX_NAME) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise SchemaError(f"{what}.{key}: expected a non-empty string, got {value!r}")
    return check_text(value, f"{what}.{key}", limit)


def _opt_str(data: Mapping[str, Any], key: str, what: str, limit: int = MAX_NAME) -> str | None:
    return None if data.get(key) is None else _str(data, key, what, limit)


def _num(data: Mapping[str, Any], key: str, what: str, low: float, high: float) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SchemaError(f"{what}.{key}: expected a number, got {value!r}")
    if not low <= value <= high:
        raise SchemaError(f"{what}.{key}: expected {low} <= value <= {high}, got {value!r}")
    return float(value)


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SchemaError(f"{what}: expected a JSON object, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class HealthLimits:
    """What a device watches after swapping models, and when it rolls back.

    Attributes:
        window_s: seconds the new model must run within the limits to be called healthy.
        min_fps_ratio: roll back when the new model's fps falls below this fraction of the
            previous model's fps (measured over the same kind of window before the swap).
        min_fps: roll back when the new model's fps falls below this (0: no absolute floor).
        max_error_rate: roll back when more than this fraction of frames fail in inference.
    """

    window_s: float = 30.0
    min_fps_ratio: float = 0.5
    min_fps: float = 0.0
    max_error_rate: float = 0.05

    def to_dict(self) -> dict[str, Any]:
        return {"window_s": self.window_s, "min_fps_ratio": self.min_fps_ratio, "min_fps": self.min_fps,
                "max_error_rate": self.max_error_rate}  # fmt: skip

    @classmethod
    def from_dict(cls, value: Any, what: str = "health") -> Self:
        data = _object(value, what)
        unknown = sorted(set(data) - {"window_s", "min_fps_ratio", "min_fps", "max_error_rate"})
        if unknown:
            raise SchemaError(f"{what}: unknown keys {', '.join(unknown)}")
        d = cls()
        get = {k: data.get(k, getattr(d, k)) for k in ("window_s", "min_fps_ratio", "min_fps", "max_error_rate")}
        return cls(
            window_s=_num(get, "window_s", what, 0.0, 86_400.0),
            min_fps_ratio=_num(get, "min_fps_ratio", what, 0.0, 1.0),
            min_fps=_num(get, "min_fps", what, 0.0, 1000.0),
            max_error_rate=_num(get, "max_error_rate", what, 0.0, 1.0),
        )


@dataclass(frozen=True, slots=True)
class ModelTarget:
    """The model a desired twin asks a device to run (``config.model``).

    ``size`` bounds the download; ``sha256`` is checked before anything reads the file.
    """

    id: str
    version: str
    sha256: str
    size: int
    deployment: str | None = None
    health: HealthLimits = field(default_factory=HealthLimits)

    @property
    def name(self) -> str:
        return f"{self.id}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"v": ROLLOUT_VERSION, "id": self.id, "version": self.version, "sha256": self.sha256,
                                "size": self.size, "health": self.health.to_dict()}  # fmt: skip
        if self.deployment is not None:
            body["deployment"] = self.deployment
        return body

    @classmethod
    def from_dict(cls, value: Any, what: str = "desired twin config.model") -> Self:
        data = _object(value, what)
        _version(data, what)
        unknown = sorted(set(data) - {"v", "id", "version", "sha256", "size", "deployment", "health"})
        if unknown:
            raise SchemaError(f"{what}: unknown keys {', '.join(unknown)}")
        sha = _str(data, "sha256", what)
        if not _SHA256.match(sha):
            raise SchemaError(f"{what}.sha256: expected 64 lowercase hex digits, got {sha!r}")
        size = data.get("size")
        if type(size) is not int or not 0 < size <= _MAX_PACKAGE_BYTES:
            raise SchemaError(f"{what}.size: expected 1..{_MAX_PACKAGE_BYTES} bytes, got {size!r}")
        health = data.get("health")
        return cls(
            id=_str(data, "id", what),
            version=_str(data, "version", what),
            sha256=sha,
            size=size,
            deployment=_opt_str(data, "deployment", what),
            health=HealthLimits() if health is None else HealthLimits.from_dict(health, f"{what}.health"),
        )


@dataclass(frozen=True, slots=True)
class ModelReport:
    """A device's report on its model (``state.model`` of a reported twin).

    Attributes:
        state: where the device is with ``target``.
        running: ``(id, version)`` of the model running now.
        target: the model asked for (None: none asked, the config file's model runs).
        check: for ``refused``, the check that refused it (as :class:`PackageTrustError.check`).
        reason: for ``rolled_back``: ``load``, ``self-test``, ``fps`` or ``error-rate``.
        detail: a one-line explanation for people.
        fps: frames per second of the running model when the state was reached.
        error_rate: fraction of frames that failed in inference over the health window.
    """

    state: ModelState
    running: tuple[str, str]
    target: ModelTarget | None = None
    check: str | None = None
    reason: str | None = None
    detail: str | None = None
    fps: float | None = None
    error_rate: float | None = None

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "v": ROLLOUT_VERSION,
            "state": self.state.value,
            "running": {"id": self.running[0], "version": self.running[1]},
            "target": None if self.target is None else self.target.to_dict(),
        }
        extra = {"check": self.check, "reason": self.reason, "detail": self.detail, "fps": self.fps,
                 "error_rate": self.error_rate}  # fmt: skip
        body.update({k: v for k, v in extra.items() if v is not None})
        return body

    @classmethod
    def from_dict(cls, value: Any, what: str = "reported twin state.model") -> Self:
        data = _object(value, what)
        _version(data, what)
        try:
            state = ModelState(str(data.get("state")))
        except ValueError:
            raise SchemaError(
                f"{what}.state: expected one of {', '.join(s.value for s in ModelState)}, got {data.get('state')!r}"
            ) from None
        running = _object(data.get("running"), f"{what}.running")
        target = data.get("target")
        detail = data.get("detail")
        if detail is not None and not isinstance(detail, str):
            raise SchemaError(f"{what}.detail: expected a string, got {detail!r}")
        return cls(
            state=state,
            running=(_str(running, "id", f"{what}.running"), _str(running, "version", f"{what}.running")),
            target=None if target is None else ModelTarget.from_dict(target, f"{what}.target"),
            check=_opt_str(data, "check", what),
            reason=_opt_str(data, "reason", what),
            detail=None if detail is None else check_text(detail[:_MAX_DETAIL], f"{what}.detail", _MAX_DETAIL),
            fps=None if data.get("fps") is None else _num(data, "fps", what, 0.0, 1e6),
            error_rate=None if data.get("error_rate") is None else _num(data, "error_rate", what, 0.0, 1.0),
        )
