"""Files that hold secrets (device keys, outbox, twin, credentials): owner-only from the first byte.

A file made with ``open()`` or by SQLite gets ``0666 & ~umask`` (usually 0644, readable by every
local user) and a later ``chmod`` leaves a window where it is not. These helpers create the file
with mode 0600 (and the folders we create with 0700) and tighten a file that already exists.

Example:
    >>> import pathlib, stat, tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_private_text(pathlib.Path(tmp) / "keys" / "creds.json", "{}")
    ...     oct(stat.S_IMODE(path.stat().st_mode)), oct(stat.S_IMODE(path.parent.stat().st_mode))
    ('0o600', '0o700')
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["FILE_MODE", "FOLDER_MODE", "ensure_private_file", "private_folder", "write_private_text"]

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(path: Path) -> Path:
    """Create ``path`` (and missing parents) as 0700; a folder that already exists is left as is.

    An existing folder may be shared on purpose (``/var/lib``, a mounted volume), so only the
    folders made here are restricted; the files inside are 0600 either way.
    """
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=FOLDER_MODE, exist_ok=True)
        os.chmod(folder, FOLDER_MODE)  # mkdir's mode is masked by the umask
    return path


def ensure_private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 if missing, else set its mode to 0600; returns it.

    Call it before a library (SQLite) creates the file: SQLite keeps the mode of the main file
    for its ``-wal`` and ``-shm`` companions.
    """
    private_folder(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path


def write_private_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temporary file + rename), mode 0600; returns ``path``."""
    private_folder(path.parent)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # the temporary file may be left over from a crash, with another mode
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return path
