"""Device keys encrypted at rest with the hub's master key (AES-256-GCM), in the column type.

The hub needs each device's HMAC key in clear to verify its messages, so encryption cannot keep
the keys from a compromised hub process; it keeps them from whoever reads only the database: a
dump, a backup, a replica, a PostgreSQL role with SELECT. The key comes from
``EDGESIGHT_HUB_SECRET_KEY`` (base64 of 32 bytes) and never enters the database.

The column type :class:`SealedSecret` seals on write and opens on read, so every query (the
ingest transaction's ``RETURNING devices.secret`` included) sees the clear key without knowing.
Each engine carries its own :class:`SecretBox` (set by ``Database``) on its dialect, so two hubs
in one process may use different keys. Without a master key, keys are stored in clear, as before;
a database written with a key cannot be read without it.

Example:
    >>> box = SecretBox(bytes(range(32)))
    >>> sealed = box.seal(b"k" * 32)
    >>> len(sealed), sealed.startswith(SEALED_PREFIX), box.open(sealed) == b"k" * 32
    (64, True, True)
    >>> SecretBox(None).open(b"k" * 32) == b"k" * 32  # a key stored in clear reads as is
    True
"""

from __future__ import annotations

import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from edgesight.core.errors import ConfigError, StorageError

__all__ = ["SEALED_PREFIX", "SealedSecret", "SecretBox"]

SEALED_PREFIX = b"ESK1"
_NONCE = 12
_AAD = b"edgesight device secret"


class SecretBox:
    """Seal and open device keys with a 32-byte master key (None: keys stay in clear)."""

    def __init__(self, master_key: bytes | None) -> None:
        if master_key is not None and len(master_key) != 32:
            raise ConfigError(f"hub secret key must be 32 bytes (base64 of 32 random bytes), got {len(master_key)}")
        self._aead = None if master_key is None else AESGCM(master_key)

    def seal(self, secret: bytes) -> bytes:
        if self._aead is None:
            return secret
        nonce = os.urandom(_NONCE)
        return SEALED_PREFIX + nonce + self._aead.encrypt(nonce, secret, _AAD)

    def open(self, stored: bytes) -> bytes:
        if not stored.startswith(SEALED_PREFIX) or len(stored) <= len(SEALED_PREFIX) + _NONCE + 16:
            return stored  # written before a master key was set
        if self._aead is None:
            raise StorageError("device secrets are encrypted: set EDGESIGHT_HUB_SECRET_KEY to the hub's key")
        nonce = stored[len(SEALED_PREFIX) : len(SEALED_PREFIX) + _NONCE]
        try:
            return self._aead.decrypt(nonce, stored[len(SEALED_PREFIX) + _NONCE :], _AAD)
        except InvalidTag:
            raise StorageError("a device secret does not open with EDGESIGHT_HUB_SECRET_KEY (wrong key?)") from None


_CLEAR = SecretBox(None)


def _box(dialect: Dialect) -> SecretBox:
    box: SecretBox = getattr(dialect, "edgesight_secret_box", _CLEAR)
    return box


class SealedSecret(TypeDecorator[bytes]):
    """A ``LargeBinary`` column whose values are sealed by the engine's :class:`SecretBox`."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        return None if value is None else _box(dialect).seal(bytes(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> bytes | None:
        return None if value is None else _box(dialect).open(bytes(value))
