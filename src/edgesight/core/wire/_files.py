"""Metadata files: JSON Lines (``.jsonl``) or framed binary batches (``.esb``).

An ``.esb`` file is a sequence of ``[u32 little-endian length][binary batch]`` records, each batch
as :func:`edgesight.core.wire.encode_batch` writes it. A file cut short by a crash loses at
most the batch being written: every complete batch before it still reads.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO

from edgesight.core.errors import SchemaError, StorageError
from edgesight.core.events import Event, event_from_json, event_to_json
from edgesight.core.frame import FrameMeta
from edgesight.core.wire._binary import decode_batch, encode_batch
from edgesight.core.wire._json import frame_to_json, iter_jsonl

__all__ = ["BINARY_SUFFIX", "EventWriter", "MetadataWriter", "read_events", "read_metadata"]

BINARY_SUFFIX = ".esb"
_LENGTH = struct.Struct("<I")


class MetadataWriter:
    """Writes records to a ``.jsonl`` or ``.esb`` file (or counts bytes only when ``path`` is None).

    Example:
        >>> import tempfile
        >>> from edgesight.core.detections import Detections
        >>> from edgesight.core.frame import ModelRef
        >>> m = FrameMeta("cam", "main", 0, 0, 1.7e9, ModelRef("m", "1"), (640, 480), Detections.empty())
        >>> path = Path(tempfile.mkdtemp()) / "out.esb"
        >>> with MetadataWriter(path) as w:
        ...     w.write(m)
        >>> [r.seq for r in read_metadata(path)]
        [0]
    """

    def __init__(self, path: Path | None, batch_frames: int = 30) -> None:
        self.path = path
        self.binary = path is not None and path.suffix == BINARY_SUFFIX
        self.batch_frames = batch_frames
        self.bytes_written = 0
        self._pending: list[FrameMeta] = []
        self._fp: IO[bytes] | None = None

    def __enter__(self) -> MetadataWriter:
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fp = self.path.open("wb")
            except OSError as exc:
                raise StorageError(f"cannot write metadata to {self.path}: {exc.strerror}") from exc
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._flush()
        if self._fp is not None:
            self._fp.close()

    def write(self, meta: FrameMeta) -> None:
        """Write one record (binary records are batched ``batch_frames`` at a time)."""
        if self.binary:
            self._pending.append(meta)
            if len(self._pending) >= self.batch_frames:
                self._flush()
        else:
            self._emit((frame_to_json(meta) + "\n").encode())

    def _flush(self) -> None:
        if self._pending:
            batch = encode_batch(self._pending)
            self._pending = []
            self._emit(_LENGTH.pack(len(batch)) + batch)

    def _emit(self, data: bytes) -> None:
        self.bytes_written += len(data)
        if self._fp is not None:
            try:
                self._fp.write(data)
            except OSError as exc:  # a full disk names itself here
                raise StorageError(f"cannot write metadata to {self.path}: {exc.strerror}") from exc


def read_metadata(path: Path | str) -> Iterator[FrameMeta]:
    """Records from a ``.jsonl`` or ``.esb`` file, in order; malformed input raises SchemaError."""
    path = Path(path)
    if not path.is_file():
        raise StorageError(f"no such metadata file: {path}")
    if path.suffix == BINARY_SUFFIX:
        yield from _read_binary(path)
    else:
        with path.open(encoding="utf-8") as fp:
            try:
                yield from iter_jsonl(fp)
            except UnicodeDecodeError as exc:
                raise SchemaError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start} of a block)") from None


def _read_binary(path: Path) -> Iterator[FrameMeta]:
    with path.open("rb") as fp:
        offset = 0
        while header := fp.read(_LENGTH.size):
            if len(header) < _LENGTH.size:
                raise SchemaError(f"{path}: truncated batch header at byte {offset}")
            (length,) = _LENGTH.unpack(header)
            body = fp.read(length)
            if len(body) < length:
                raise SchemaError(f"{path}: batch at byte {offset} is truncated ({len(body)} of {length} bytes)")
            yield from decode_batch(body)
            offset += _LENGTH.size + length


class EventWriter:
    """Writes events as JSON Lines (``edgesight.event/1``); counts them by type.

    Example:
        >>> import tempfile
        >>> with EventWriter(Path(tempfile.mkdtemp()) / "events.jsonl") as w:
        ...     pass
        >>> w.by_type
        {}
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.by_type: dict[str, int] = {}
        self._fp: IO[str] | None = None

    def __enter__(self) -> EventWriter:
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fp = self.path.open("w", encoding="utf-8")
            except OSError as exc:
                raise StorageError(f"cannot write events to {self.path}: {exc.strerror}") from exc
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._fp is not None:
            self._fp.close()

    def write(self, event: Event) -> None:
        kind = event.type.value
        self.by_type[kind] = self.by_type.get(kind, 0) + 1
        if self._fp is not None:
            try:
                self._fp.write(event_to_json(event) + "\n")
            except OSError as exc:
                raise StorageError(f"cannot write events to {self.path}: {exc.strerror}") from exc


def read_events(path: Path | str) -> Iterator[Event]:
    """Events from a JSON Lines file; a malformed line raises SchemaError naming its number."""
    path = Path(path)
    if not path.is_file():
        raise StorageError(f"no such events file: {path}")
    with path.open(encoding="utf-8") as fp:
        try:
            for number, line in enumerate(fp, 1):
                if line.strip():
                    try:
                        yield event_from_json(line)
                    except SchemaError as exc:
                        raise SchemaError(f"{path}: line {number}: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise SchemaError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start} of a block)") from None
