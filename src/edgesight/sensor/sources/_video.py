"""Video files decoded by PyAV (AVI, MP4, MKV, MPEG-TS...), frames kept in their native format."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from edgesight.core.errors import SourceError
from edgesight.sensor.sources._av import DecodeResult, VideoReader, parse_creation_time
from edgesight.sensor.sources._base import BaseFrameSource
from edgesight.sensor.sources._frame import Frame, ScalerCache

__all__ = ["VideoFileSource"]

log = logging.getLogger(__name__)

_READ_RETRIES = 3
"""Read errors in a row a file may have before it counts as ended (damage can be resynchronised)."""
_EARLY_END_FRAMES = 2.5
"""A file ended early if its last frame is more than this many frame intervals before its declared end."""


class VideoFileSource(BaseFrameSource):
    """Frames of a video file, decoded by PyAV with 2 decoder threads.

    Timestamps are the stream start (the container's ``creation_time`` tag, else the file's
    modification time) plus each frame's presentation time. Damaged packets and frames are
    skipped and counted in ``stats.corrupt_frames``; a truncated file ends cleanly with what could
    be decoded and sets ``stats.ended_early``.

    Args:
        path: the video file.

    Raises:
        SourceError: on open, if the file is missing, not a video, or its codec has no decoder.

    Example:
        >>> source = VideoFileSource("missing.avi")
        >>> try:
        ...     source.__enter__()
        ... except SourceError as exc:
        ...     print(exc)
        no such video file: missing.avi
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__(str(path))
        self._path = Path(path)
        self._reader: VideoReader | None = None
        self._scalers = ScalerCache()
        self._start_s = 0.0

    @property
    def fps(self) -> float | None:
        """Nominal frame rate from the container, None if unknown or not open."""
        return self._reader.fps if self._reader else None

    @property
    def frame_count(self) -> int | None:
        """Frames the header declares (None if it does not say, or not open)."""
        return self._reader.frames_declared if self._reader else None

    @property
    def codec(self) -> str | None:
        """FFmpeg codec name of the video stream, None if not open."""
        return self._reader.codec if self._reader else None

    def _open(self) -> None:
        if not self._path.is_file():
            raise SourceError(f"no such video file: {self._path}")
        reader = VideoReader(str(self._path), what=f"video file {self._path}")
        created = parse_creation_time(reader.container.metadata) or parse_creation_time(
            reader.stream.metadata
        )
        self._start_s = created if created is not None else self._path.stat().st_mtime
        self._frames_declared = reader.frames_declared
        self._reader = reader

    def _close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _count_corrupt(self) -> None:
        self._corrupt_frames += 1

    def _frames(self) -> Iterator[Frame]:
        reader = self._reader
        if reader is None:
            raise SourceError(f"video file {self._path} is closed")
        interval = 1.0 / (reader.fps or 10.0)
        last: float | None = None
        result = DecodeResult()
        reader.set_loop_filter(self._deblocks(*reader.frame_size))
        for picture in reader.frames(result, self._count_corrupt, retry_read_errors=_READ_RETRIES):
            offset = reader.seconds(picture)
            if offset is None or (last is not None and offset <= last):
                offset = 0.0 if last is None else last + interval
            last = offset
            yield Frame.from_av(self._next_index(), self._start_s + offset, picture, self._scalers)
        self._ended_early = self._is_early_end(result, last, interval)
        if self._ended_early:
            log.warning(
                "%s ended early: %d frames decoded, %d corrupt, %s declared",
                self._path,
                self._frames_decoded,
                self._corrupt_frames,
                self._frames_declared,
            )

    def _is_early_end(self, result: DecodeResult, last_s: float | None, interval: float) -> bool:
        if result.read_error is not None:
            return True
        if self._frames_declared is None:
            return False
        if last_s is None:
            return True
        declared_end_s = self._frames_declared * interval
        return last_s + interval < declared_end_s - _EARLY_END_FRAMES * interval
