"""The durable outbox: every device -> hub message waits here until the hub says it is stored.

Design: one SQLite database in WAL mode with ``synchronous=FULL``. A ``put`` is one transaction
that takes the next sequence number from the ``counters`` row and inserts the message, so a
sequence number is either used by a durable message or not used at all: no gaps, no reuse, and
the counter survives restarts even when the outbox has been emptied by acknowledgements. WAL +
FULL fsyncs the log on every commit, so a ``put`` that returned survives a process kill or a power
cut. SQLite was chosen over hand-written segment files because it gives atomic multi-row commits,
crash recovery and ``DELETE ... WHERE seq <= ?`` for free, and it is in the standard library.

Payloads are stored raw with their kind and creation time; the uplink seals them lazily at send
time with ``sent_at = created_at`` (:meth:`OutboxItem.envelope`), so a resend is byte-identical
and the secret never touches the disk.

Size policy: ``max_bytes`` bounds the stored payload bytes. Frame batches (bulk metadata) may only
fill ``max_bytes * frames_share``; the rest is reserved for events, heartbeats and twin reports.
A ``put`` that does not fit raises :class:`OutboxFullError` (a :class:`StorageError`) and counts
the refusal in :attr:`Outbox.stats`: nothing is dropped silently, the caller decides. A disk that
is really full raises :class:`StorageError` naming the database path.

Example:
    >>> import tempfile, pathlib
    >>> from edgesight.core.wire import Kind
    >>> with tempfile.TemporaryDirectory() as tmp, Outbox(pathlib.Path(tmp) / "o.sqlite") as box:
    ...     box.put(Kind.EVENTS, b"[]"), box.put(Kind.EVENTS, b"[1]")
    ...     [item.seq for item in box.pending(10)], box.ack_through(1), box.count()
    (1, 2)
    ([1, 2], 1, 1)
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from edgesight.core.errors import ConfigError, StorageError
from edgesight.core.private_files import ensure_private_file
from edgesight.core.wire import MAX_PAYLOAD, Envelope, Kind

__all__ = ["DEFAULT_MAX_BYTES", "Outbox", "OutboxFullError", "OutboxItem", "OutboxStats"]

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
"""Default bound on stored payload bytes (256 MiB: days of metadata from one camera)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,
    kind INTEGER NOT NULL,
    created_at REAL NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO counters (name, value) VALUES ('last_seq', 0), ('stored_bytes', 0),
    ('acked_through', 0);
"""


class OutboxFullError(StorageError):
    """The outbox has reached its configured size bound; the message was not stored."""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One stored message."""

    seq: int
    kind: Kind
    created_at: float
    payload: bytes

    def envelope(self, device_id: str) -> Envelope:
        """The envelope to seal; ``sent_at`` is the creation time, so resends are byte-identical."""
        return Envelope(self.kind, device_id, self.seq, self.created_at, self.payload)


@dataclass
class OutboxStats:
    """Counters of one open outbox (since it was opened)."""

    puts: int = 0
    acked: int = 0
    refused_full: int = 0
    refused_frames: int = 0


class Outbox:
    """Durable FIFO of device -> hub messages with gap-free sequence numbers.

    Thread-safe: the agent's sensing thread puts, the uplink thread reads and acknowledges.

    Args:
        path: the SQLite database file (created with its folder).
        max_bytes: bound on stored payload bytes.
        frames_share: fraction of ``max_bytes`` that frame batches may use (0..1].
    """

    def __init__(
        self, path: Path | str, max_bytes: int = DEFAULT_MAX_BYTES, frames_share: float = 0.8
    ) -> None:
        if max_bytes < MAX_PAYLOAD:
            raise ConfigError(f"outbox max_bytes must be >= {MAX_PAYLOAD} (one envelope), got {max_bytes}")
        if not 0.0 < frames_share <= 1.0:
            raise ConfigError(f"outbox frames_share must be in (0, 1], got {frames_share}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.frames_share = frames_share
        self.stats = OutboxStats()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    # ---- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> Outbox:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def open(self) -> None:
        """Open (or create) the database; prefer ``with Outbox(...)``."""
        try:
            ensure_private_file(self.path)  # queued messages and their device: owner-only
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10.0)
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StorageError(f"outbox {self.path}: SQLite refused WAL mode (got {mode!r})")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open outbox {self.path}: {exc}") from exc
        except OSError as exc:
            raise StorageError(f"cannot create outbox folder {self.path.parent}: {exc.strerror}") from exc
        self._db = db

    def close(self) -> None:
        """Close the database (everything committed is already durable)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StorageError(f"outbox {self.path} is not open (use it in a `with` block)")
        return self._db

    # ---- writes ---------------------------------------------------------------------------------

    def put(self, kind: Kind, payload: bytes, created_at: float | None = None) -> int:
        """Store one message durably and return its sequence number.

        Raises:
            OutboxFullError: the message does not fit under ``max_bytes`` (frames: under their share).
            StorageError: the disk refused the write (the message names the database path).
        """
        if len(payload) > MAX_PAYLOAD:
            raise StorageError(f"payload of {len(payload)} bytes exceeds the envelope limit {MAX_PAYLOAD}")
        created = time.time() if created_at is None else created_at
        with self._lock:
            db = self._conn()
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    stored = self._counter(db, "stored_bytes")
                    self._check_room(kind, stored, len(payload))
                    seq = self._counter(db, "last_seq") + 1
                    db.execute(
                        "INSERT INTO messages (seq, kind, created_at, payload) VALUES (?, ?, ?, ?)",
                        (seq, int(kind), created, payload),
                    )
                    db.execute("UPDATE counters SET value = ? WHERE name = 'last_seq'", (seq,))
                    db.execute(
                        "UPDATE counters SET value = ? WHERE name = 'stored_bytes'", (stored + len(payload),)
                    )
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise StorageError(f"outbox {self.path} refused a write: {exc}") from exc
            self.stats.puts += 1
            return seq

    def _check_room(self, kind: Kind, stored: int, size: int) -> None:
        limit = self.max_bytes
        if kind == Kind.FRAMES:
            limit = int(self.max_bytes * self.frames_share)
        if stored + size > limit:
            self.stats.refused_full += 1
            if kind == Kind.FRAMES:
                self.stats.refused_frames += 1
            raise OutboxFullError(
                f"outbox {self.path} is full: {stored} + {size} bytes exceeds the {limit}-byte limit "
                f"for {kind.name.lower()} (max_bytes={self.max_bytes})"
            )

    def ack_through(self, stored_through: int) -> int:
        """Delete every message with ``seq <= stored_through``; return how many were deleted."""
        with self._lock:
            db = self._conn()
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    row = db.execute(
                        "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM messages WHERE seq <= ?",
                        (stored_through,),
                    ).fetchone()
                    deleted, size = int(row[0]), int(row[1])
                    if deleted:
                        db.execute("DELETE FROM messages WHERE seq <= ?", (stored_through,))
                        db.execute(
                            "UPDATE counters SET value = value - ? WHERE name = 'stored_bytes'", (size,)
                        )
                    db.execute(
                        "UPDATE counters SET value = MAX(value, ?) WHERE name = 'acked_through'",
                        (stored_through,),
                    )
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise StorageError(f"outbox {self.path} refused a delete: {exc}") from exc
            self.stats.acked += deleted
            return deleted

    # ---- reads ----------------------------------------------------------------------------------

    def pending(self, limit: int, after_seq: int = 0) -> list[OutboxItem]:
        """Up to ``limit`` stored messages with ``seq > after_seq``, in sequence order."""
        with self._lock:
            rows = self._read(
                "SELECT seq, kind, created_at, payload FROM messages WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            )
        return [OutboxItem(int(r[0]), Kind(int(r[1])), float(r[2]), bytes(r[3])) for r in rows]

    def count(self) -> int:
        """Messages waiting for the hub's acknowledgement."""
        with self._lock:
            return int(self._read("SELECT COUNT(*) FROM messages", ())[0][0])

    def stored_bytes(self) -> int:
        """Payload bytes waiting."""
        with self._lock:
            return self._counter(self._conn(), "stored_bytes")

    def last_seq(self) -> int:
        """The last sequence number handed out (0 before the first put)."""
        with self._lock:
            return self._counter(self._conn(), "last_seq")

    def acked_through(self) -> int:
        """The highest ``stored_through`` acknowledged so far (persisted)."""
        with self._lock:
            return self._counter(self._conn(), "acked_through")

    def _read(self, sql: str, args: tuple[int, ...]) -> list[tuple[Any, ...]]:
        try:
            return list(self._conn().execute(sql, args).fetchall())
        except sqlite3.Error as exc:
            raise StorageError(f"outbox {self.path} refused a read: {exc}") from exc

    @staticmethod
    def _counter(db: sqlite3.Connection, name: str) -> int:
        return int(db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()[0])
