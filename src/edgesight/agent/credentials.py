"""Device credentials: the JSON file ``edgesight hub enrol`` prints for one device.

Format::

    {"device_id": "cam-1", "secret": "<base64, >= 16 bytes>", "token": "<bearer token>",
     "broker": "mqtt.example.org:1883"}

``secret`` signs every envelope (HMAC-SHA256, docs/protocol.md); ``token`` authenticates HTTP
ingest and is sent as the MQTT password; ``broker`` is ``host:port`` (``mqtt://`` prefix allowed,
port 1883 by default).

Example:
    >>> creds = parse_credentials(
    ...     {"device_id": "cam-1", "secret": "a2V5a2V5a2V5a2V5a2V5a2V5", "token": "t", "broker": "hub:1884"})
    >>> creds.broker_host, creds.broker_port, len(creds.secret)
    ('hub', 1884, 18)
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesight.core.errors import ConfigError

__all__ = ["MIN_SECRET_BYTES", "Credentials", "load_credentials", "parse_broker", "parse_credentials"]

MIN_SECRET_BYTES = 16
_DEVICE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_FIELDS = ("device_id", "secret", "token", "broker")


@dataclass(frozen=True, slots=True)
class Credentials:
    """One device's identity and keys (``repr`` hides the secret and the token)."""

    device_id: str
    secret: bytes
    token: str
    broker_host: str
    broker_port: int

    def __repr__(self) -> str:
        return f"Credentials(device_id={self.device_id!r}, broker={self.broker_host}:{self.broker_port})"


def parse_broker(text: str, source: str = "broker") -> tuple[str, int]:
    """``host[:port]`` (optionally ``mqtt://``) -> ``(host, port)``.

    Example:
        >>> parse_broker("mqtt://127.0.0.1:1883"), parse_broker("hub")
        (('127.0.0.1', 1883), ('hub', 1883))
    """
    rest = text.strip().removeprefix("mqtt://")
    host, sep, port_text = rest.rpartition(":")
    if not sep:
        host, port_text = rest, "1883"
    if not host or "/" in host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"{source}: expected host:port like 127.0.0.1:1883, got {text!r}")
    return host, int(port_text)


def parse_credentials(data: Any, source: str = "<credentials>") -> Credentials:
    """Validate an already-parsed credentials mapping."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a JSON object with {', '.join(_FIELDS)}, got {type(data).__name__}"
        )
    missing = [f for f in _FIELDS if f not in data]
    if missing:
        raise ConfigError(f"{source}: missing {', '.join(missing)}")
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"{source}: unknown keys {', '.join(unknown)} (expected {', '.join(_FIELDS)})")
    for name in _FIELDS:
        if not isinstance(data[name], str) or not data[name]:
            raise ConfigError(f"{source}: {name} must be a non-empty string, got {data[name]!r}")
    device_id = data["device_id"]
    if not _DEVICE_ID.match(device_id):
        raise ConfigError(f"{source}: device_id {device_id!r} must match {_DEVICE_ID.pattern}")
    try:
        secret = base64.b64decode(data["secret"], validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{source}: secret is not valid base64") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(f"{source}: secret must be at least {MIN_SECRET_BYTES} bytes, got {len(secret)}")
    host, port = parse_broker(data["broker"], f"{source}: broker")
    return Credentials(device_id, secret, data["token"], host, port)


def load_credentials(path: Path | str) -> Credentials:
    """Read and validate a credentials JSON file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read credentials {path}: {exc.strerror}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    return parse_credentials(data, str(path))
