"""Hub settings: one validated model, read from arguments or ``EDGESIGHT_HUB_*`` environment variables.

Loading is pure: nothing is created on disk until :meth:`HubSettings.database_url` or
:meth:`HubSettings.resolve_admin_token` is called at startup.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from edgesight.core.errors import ConfigError
from edgesight.core.mqtt_security import BrokerAddress, TlsFiles
from edgesight.core.private_files import write_private_text
from edgesight.core.signing import parse_public_key

__all__ = ["HubSettings"]

_ENV_PREFIX = "EDGESIGHT_HUB_"


class HubSettings(BaseModel):
    """Everything the hub needs to start.

    Example:
        >>> s = HubSettings(data_dir=Path("/tmp/hub"), mqtt_host=None)
        >>> s.database_url()
        'sqlite:////tmp/hub/hub.sqlite3'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Field(Path("hub-data"), description="Where the SQLite file and the admin token live.")
    db_url: str | None = Field(None, description="SQLAlchemy URL; None means SQLite in data_dir.")
    admin_token: str | None = Field(None, min_length=16, description="Admin bearer token; generated if None.")
    secret_key: str | None = Field(
        None, repr=False, description="Base64 of 32 bytes: encrypts device keys in the database (None: clear)."
    )
    mqtt_host: str | None = Field("127.0.0.1", description="Broker host; None disables MQTT.")
    mqtt_port: int = Field(1883, ge=1, le=65535)
    mqtt_tls: bool = Field(False, description="Connect with TLS (mqtts://).")
    mqtt_ca_file: Path | None = Field(None, description="CA of the broker's certificate (default: system CAs).")
    mqtt_cert_file: Path | None = Field(None, description="Client certificate, if the broker asks for one.")
    mqtt_key_file: Path | None = Field(None, description="Private key of mqtt_cert_file.")
    mqtt_username: str | None = Field(None, min_length=1, description="Broker login of the hub.")
    mqtt_password: str | None = Field(None, min_length=1, repr=False, description="Broker password of the hub.")
    mqtt_client_id: str = Field("edgesight-hub-1", min_length=1, max_length=64)
    mqtt_share_group: str = Field("edgesight-hub", pattern=r"^[A-Za-z0-9_.-]{1,64}$",
                                  description="Shared-subscription group the workers split the load in.")
    mqtt_session_expiry_s: int = Field(3600, ge=0, description="How long the broker keeps our queue.")
    batch_max_messages: int = Field(500, ge=1, le=100_000, description="Messages per DB transaction.")
    batch_max_ms: float = Field(20.0, gt=0, le=10_000, description="Longest wait to fill a batch.")
    keep_every_nth_frame: int = Field(1, ge=1, description="Frame downsampling per device (1 keeps all).")
    max_future_s: float = Field(86_400.0, ge=0, description="Largest accepted clock skew into the future.")
    secret_cache_s: float = Field(2.0, ge=0, description="How long a device secret/revocation is cached.")
    rollout_check_s: float = Field(
        5.0, gt=0, le=3600, description="How often the hub looks for devices past their deployment's report timeout."
    )
    trusted_model_keys: tuple[str, ...] = Field(
        (), description="Public keys (ed25519:<base64>, comma-separated in the environment) whose signed "
        "model packages the hub accepts."
    )

    @field_validator("trusted_model_keys", mode="before")
    @classmethod
    def split_keys(cls, value: object) -> object:
        """Keys from the environment arrive as one comma-separated string; each must parse."""
        keys = [k for k in value.split(",") if k.strip()] if isinstance(value, str) else value
        if isinstance(keys, list | tuple):
            for i, text in enumerate(keys):
                try:
                    parse_public_key(str(text), f"trusted_model_keys[{i}]")
                except ConfigError as exc:
                    raise ValueError(str(exc)) from None
        return keys
    public_docs: bool = Field(False, description="Serve /docs, /redoc and /openapi.json without a token.")
    auth_failures_per_minute: int = Field(
        10, ge=1, le=1_000_000, description="Failed logins a client IP may make per minute before 429."
    )

    def broker(self) -> BrokerAddress | None:
        """The broker's address (None when MQTT is off).

        Example:
            >>> HubSettings(mqtt_host="mq", mqtt_port=8883, mqtt_tls=True).broker().url
            'mqtts://mq:8883'
        """
        if self.mqtt_host is None:
            return None
        return BrokerAddress(self.mqtt_host, self.mqtt_port, self.mqtt_tls)

    def mqtt_tls_files(self) -> TlsFiles:
        return TlsFiles(self.mqtt_ca_file, self.mqtt_cert_file, self.mqtt_key_file)

    def database_url(self) -> str:
        """The SQLAlchemy URL to open (SQLite file in ``data_dir`` unless ``db_url`` is set)."""
        if self.db_url:
            return self.db_url
        return f"sqlite:///{(self.data_dir / 'hub.sqlite3').as_posix()}"

    def master_key(self) -> bytes | None:
        """The decoded ``secret_key`` (32 bytes), None when unset.

        Example:
            >>> HubSettings(secret_key="A" * 43 + "=").master_key() == bytes(32)
            True
        """
        if self.secret_key is None:
            return None
        try:
            key = base64.b64decode(self.secret_key, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(f"{_ENV_PREFIX}SECRET_KEY is not valid base64") from None
        if len(key) != 32:
            raise ConfigError(f"{_ENV_PREFIX}SECRET_KEY must decode to 32 bytes, got {len(key)}")
        return key

    def resolve_admin_token(self) -> str:
        """The admin token: from settings, else read from (or generated into) ``data_dir/admin_token``."""
        if self.admin_token:
            return self.admin_token
        path = self.data_dir / "admin_token"
        if path.is_file():
            token = path.read_text().strip()
            if len(token) < 16:
                raise ConfigError(f"{path}: admin token must be at least 16 characters, got {len(token)}")
            return token
        token = secrets.token_urlsafe(32)
        write_private_text(path, token + "\n")
        return token

    @classmethod
    def from_env(cls, **overrides: object) -> HubSettings:
        """Settings from ``EDGESIGHT_HUB_<FIELD>`` variables, then ``overrides`` (None values ignored)."""
        values: dict[str, object] = {}
        for name in cls.model_fields:
            env = os.environ.get(_ENV_PREFIX + name.upper())
            if env is not None:
                values[name] = None if env == "" and name in ("mqtt_host", "db_url") else env
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValueError as exc:
            raise ConfigError(f"hub settings ({_ENV_PREFIX}*): {exc}") from exc
