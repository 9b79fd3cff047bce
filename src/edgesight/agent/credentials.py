"""Device credentials: the JSON file ``edgesight hub enrol`` prints for one device.

Format::

    {"device_id": "cam-1", "secret": "<base64, >= 16 bytes>", "token": "<bearer token>",
     "broker": "mqtts://mqtt.example.org:8883", "ca_file": "ca.pem"}

``secret`` signs every envelope (HMAC-SHA256, docs/protocol.md); ``token`` authenticates HTTP
ingest and is sent as the MQTT password (the MQTT user name is the device id); ``broker`` is
``host:port`` with an optional ``mqtt://`` or ``mqtts://`` (TLS) prefix, port 1883 (8883 for
mqtts) by default. Optional for mqtts: ``ca_file`` (the CA of the broker's certificate; default
the system's), ``cert_file`` and ``key_file`` (a client certificate); relative paths are relative
to the credentials file. Optional ``hub_url`` (``http(s)://host:port``): the hub's HTTP API, where
the agent downloads the models its desired twin names (with ``token``).

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgesight.core.errors import ConfigError
from edgesight.core.mqtt_security import BrokerAddress, TlsFiles, parse_broker_url

__all__ = ["MIN_SECRET_BYTES", "Credentials", "load_credentials", "parse_broker", "parse_credentials", "parse_hub_url"]

MIN_SECRET_BYTES = 16
_DEVICE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_FIELDS = ("device_id", "secret", "token", "broker")
_TLS_FIELDS = ("ca_file", "cert_file", "key_file")
_OPTIONAL = (*_TLS_FIELDS, "hub_url")
_HUB_URL = re.compile(r"^https?://[^\s/]+(/[^\s]*)?$")


@dataclass(frozen=True, slots=True)
class Credentials:
    """One device's identity and keys (``repr`` hides the secret and the token)."""

    device_id: str
    secret: bytes
    token: str
    broker_host: str
    broker_port: int
    broker_tls: bool = False
    tls: TlsFiles = field(default_factory=TlsFiles)
    hub_url: str | None = None

    @property
    def broker(self) -> BrokerAddress:
        return BrokerAddress(self.broker_host, self.broker_port, self.broker_tls)

    def __repr__(self) -> str:
        return f"Credentials(device_id={self.device_id!r}, broker={self.broker.url})"


def parse_broker(text: str, source: str = "broker") -> tuple[str, int]:
    """``host[:port]`` (optionally ``mqtt://`` or ``mqtts://``) -> ``(host, port)``.

    Example:
        >>> parse_broker("mqtt://127.0.0.1:1883"), parse_broker("hub"), parse_broker("mqtts://hub")
        (('127.0.0.1', 1883), ('hub', 1883), ('hub', 8883))
    """
    address = parse_broker_url(text, source)
    return address.host, address.port


def _tls_files(data: dict[str, Any], source: str, base: Path | None) -> TlsFiles:
    paths: dict[str, Path] = {}
    for name in _TLS_FIELDS:
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{source}: {name} must be a non-empty path string, got {value!r}")
        path = Path(value)
        paths[name] = path if base is None or path.is_absolute() else base / path
    return TlsFiles(**paths)


def parse_credentials(data: Any, source: str = "<credentials>", base: Path | None = None) -> Credentials:
    """Validate an already-parsed credentials mapping (``base``: folder of relative TLS paths)."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a JSON object with {', '.join(_FIELDS)}, got {type(data).__name__}"
        )
    missing = [f for f in _FIELDS if f not in data]
    if missing:
        raise ConfigError(f"{source}: missing {', '.join(missing)}")
    unknown = sorted(set(data) - set(_FIELDS) - set(_OPTIONAL))
    if unknown:
        raise ConfigError(
            f"{source}: unknown keys {', '.join(unknown)} (expected {', '.join(_FIELDS)}; "
            f"optional {', '.join(_OPTIONAL)})"
        )
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
    broker = parse_broker_url(data["broker"], f"{source}: broker")
    tls = _tls_files(data, source, base)
    if tls != TlsFiles() and not broker.tls:
        raise ConfigError(f"{source}: {', '.join(_TLS_FIELDS)} need an mqtts:// broker, got {data['broker']!r}")
    hub_url = data.get("hub_url")
    return Credentials(device_id, secret, data["token"], broker.host, broker.port, broker.tls, tls,
                       None if hub_url is None else parse_hub_url(hub_url, f"{source}: hub_url"))  # fmt: skip


def parse_hub_url(value: object, where: str = "hub_url") -> str:
    """The hub's API URL without a trailing slash.

    Example:
        >>> parse_hub_url("http://hub:8099/")
        'http://hub:8099'
    """
    if not isinstance(value, str) or not _HUB_URL.match(value):
        raise ConfigError(f"{where} must look like http(s)://host:port, got {value!r}")
    return value.rstrip("/")


def load_credentials(path: Path | str) -> Credentials:
    """Read and validate a credentials JSON file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read credentials {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); expected a JSON object") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    return parse_credentials(data, str(path), path.parent)
