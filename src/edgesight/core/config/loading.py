"""Loading a device config: read the file (bounded), parse safe YAML, validate into one tree.

Loading is pure: no camera is opened and no model is read until the device starts. Every
problem is one :class:`~edgesight.core.errors.ConfigError` line naming the file, the key path and
the value: ``cfg.yaml: sensor.roi: ... got [0.5, 0, 0.6, 1]``.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edgesight.core.config.device import DeviceConfig
from edgesight.core.config.safe_yaml import MAX_CONFIG_BYTES, load_yaml
from edgesight.core.errors import ConfigError

__all__ = ["config_error_message", "load_config", "parse_config", "shorten"]

_MAX_SHOWN = 120
"""Longest value or path quoted in a message: a 5,000-character value is shown cut, with its length."""


def shorten(text: str) -> str:
    """``text``, or its start and its length when it is too long to quote in a one-line message.

    Example:
        >>> shorten("x" * 500)[-30:]
        'xxxxxxxxxx... (500 characters)'
    """
    return text if len(text) <= _MAX_SHOWN else f"{text[:_MAX_SHOWN]}... ({len(text)} characters)"


def config_error_message(exc: ValidationError, source: str) -> str:
    """One line per problem: ``source: key.path: message (got value)``."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "<root>"
        got = err.get("input")
        got_text = "" if isinstance(got, dict) else f" (got {shorten(repr(got))})"
        lines.append(f"{source}: {where}: {err['msg']}{got_text}")
    return "; ".join(lines)


def parse_config(data: Any, source: str = "<config>") -> DeviceConfig:
    """Validate an already-parsed config mapping."""
    try:
        return DeviceConfig.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise ConfigError(config_error_message(exc, source)) from exc


def _read_bounded(path: Path) -> str:
    """The file's text, refusing what is not a regular file or is over :data:`MAX_CONFIG_BYTES`."""
    shown = shorten(str(path))
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise ConfigError(f"config {shown} is not a regular file")
        with path.open("rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read config {shown}: {exc.strerror}") from exc
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config {shown} is larger than {MAX_CONFIG_BYTES // 1024} KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config {shown} is not UTF-8 text (byte {exc.start})") from exc


def load_config(path: Path | str) -> DeviceConfig:
    """Read and validate a device config YAML file.

    Raises:
        ConfigError: the file cannot be read, is too large, is not safe YAML within the limits of
            :mod:`edgesight.core.config.safe_yaml`, or does not validate.
    """
    path = Path(path)
    text = _read_bounded(path)
    return parse_config(load_yaml(text, shorten(str(path))), shorten(str(path)))
