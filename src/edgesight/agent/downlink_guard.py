"""The highest downlink sequence a device has accepted, kept on disk so a restart forgets nothing.

A command captured on the broker and published again is correctly signed; what gives it away is its
envelope ``seq``, which the hub takes from one counter per device. The agent accepts a command only
if its ``seq`` is above every one accepted before, and writes the new high mark (a 0600 file,
replaced atomically) *before* running the command, so a crash cannot re-open the window.

The file also holds a fingerprint of the device secret: a device enrolled again (new secret, a
hub counting from 1 again) starts from 0 instead of refusing every command.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

from edgesight.core.errors import StorageError

__all__ = ["DownlinkGuard"]

_MODE = 0o600


class DownlinkGuard:
    """Admits each downlink ``seq`` once, in increasing order, across restarts.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "downlink.json"
        >>> guard = DownlinkGuard(path, b"k" * 32)
        >>> guard.admit(3), guard.admit(3), guard.admit(2)
        (True, False, False)
        >>> DownlinkGuard(path, b"k" * 32).highest, DownlinkGuard(path, b"other" * 8).highest
        (3, 0)
        >>> oct(path.stat().st_mode & 0o777)
        '0o600'
    """

    def __init__(self, path: Path, secret: bytes) -> None:
        self.path = path
        self._fingerprint = hmac.new(secret, b"edgesight downlink seq", hashlib.sha256).hexdigest()[:16]
        self.highest = self._load()

    def _load(self) -> int:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return 0
        except (OSError, ValueError) as exc:
            raise StorageError(f"cannot read the downlink sequence file {self.path}: {exc}") from exc
        if not isinstance(data, dict) or data.get("key") != self._fingerprint:
            return 0  # another enrolment: its hub counts anew
        highest = data.get("highest")
        if type(highest) is not int or highest < 0:
            raise StorageError(f"{self.path}: highest must be an integer >= 0, got {highest!r}")
        return highest

    def admit(self, seq: int) -> bool:
        """True (and the new high mark saved) if ``seq`` is above every one admitted before."""
        if seq <= self.highest:
            return False
        self._save(seq)
        self.highest = seq
        return True

    def _save(self, seq: int) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        body = json.dumps({"highest": seq, "key": self._fingerprint}).encode()
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _MODE)
            try:
                os.fchmod(fd, _MODE)  # a leftover tmp file of another mode
                os.write(fd, body)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as exc:
            raise StorageError(f"cannot save the downlink sequence to {self.path}: {exc.strerror}") from exc
