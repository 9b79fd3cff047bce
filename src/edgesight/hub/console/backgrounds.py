"""Editor backgrounds: floor plans or reference images uploaded by a user, stored in the hub's database."""

from __future__ import annotations

import time

from sqlalchemy import delete, insert, select

from edgesight.core.errors import ConfigError
from edgesight.hub.storage.db import Database
from edgesight.hub.storage.tables import ConsoleBackground

__all__ = ["MAX_BYTES", "exists", "image_type", "load", "store"]

MAX_BYTES = 4 * 1024 * 1024
_MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


def image_type(data: bytes) -> str:
    """The content type of a PNG or JPEG from its first bytes; anything else is refused.

    Example:
        >>> image_type(b"\\x89PNG\\r\\n\\x1a\\n....")
        'image/png'
        >>> image_type(b"<svg>")
        Traceback (most recent call last):
        ...
        edgesight.core.errors.ConfigError: background: only PNG or JPEG images are accepted (got b'<svg>')
    """
    for magic, content_type in _MAGIC.items():
        if data.startswith(magic):
            return content_type
    raise ConfigError(f"background: only PNG or JPEG images are accepted (got {data[:8]!r})")


def store(db: Database, device_id: str, data: bytes) -> None:
    """Replace the device's background; refuses more than :data:`MAX_BYTES` or a non-image."""
    if len(data) > MAX_BYTES:
        raise ConfigError(f"background: {len(data)} bytes is over the limit of {MAX_BYTES}")
    content_type = image_type(data)
    with db.begin() as conn:
        conn.execute(delete(ConsoleBackground).where(ConsoleBackground.device_id == device_id))
        conn.execute(insert(ConsoleBackground).values(device_id=device_id, content_type=content_type, data=data,
                                                      updated_at=time.time()))  # fmt: skip


def load(db: Database, device_id: str) -> tuple[str, bytes] | None:
    """``(content_type, bytes)`` of the device's background, or None."""
    with db.begin() as conn:
        row = conn.execute(select(ConsoleBackground.content_type, ConsoleBackground.data)
                           .where(ConsoleBackground.device_id == device_id)).first()  # fmt: skip
    return None if row is None else (str(row[0]), bytes(row[1]))


def exists(db: Database, device_id: str) -> bool:
    with db.begin() as conn:
        return conn.execute(select(ConsoleBackground.device_id)
                            .where(ConsoleBackground.device_id == device_id)).first() is not None  # fmt: skip
