"""PyAV plumbing shared by file and stream sources: open a container, decode skipping damage."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import av
import av.error

from edgesight.core.errors import SourceError

__all__ = ["DecodeResult", "VideoReader", "describe", "parse_creation_time"]

log = logging.getLogger(__name__)

DECODER_THREADS = 2
ERR_DETECT = "crccheck+bitstream+buffer"
"""Make decoders report damaged packets instead of silently concealing them."""


@dataclass(slots=True)
class DecodeResult:
    """How a decode loop ended, filled in as it runs.

    Attributes:
        read_error: the read error that stopped demuxing, None after a clean end of input.
    """

    read_error: Exception | None = None


def describe(exc: BaseException) -> str:
    """An FFmpeg error's reason without the URL it carries (which may hold a password).

    Example:
        >>> describe(av.error.InvalidDataError(1094995529, "Invalid data", "rtsp://u:pw@cam/live"))
        'Invalid data'
    """
    reason = getattr(exc, "strerror", None)
    return str(reason) if reason else type(exc).__name__


def parse_creation_time(metadata: Mapping[str, str]) -> float | None:
    """Unix seconds of a container's ``creation_time`` tag, None if absent or unreadable.

    Example:
        >>> parse_creation_time({"creation_time": "2024-01-02T03:04:05.000000Z"})
        1704164645.0
        >>> parse_creation_time({}) is None
        True
    """
    raw = metadata.get("creation_time")
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        log.warning("ignoring unreadable creation_time %r", raw)
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()


class VideoReader:
    """One open PyAV input container and its first video stream.

    Args:
        url: a file path or a network URL.
        what: how to name the input in error messages (``"video file x.mp4"``).
        options: FFmpeg demuxer/protocol options.
        timeout_s: ``(open, read)`` timeouts in seconds, None to wait as long as FFmpeg does.

    Raises:
        SourceError: if the input cannot be opened, has no video stream or no decoder for it.
    """

    def __init__(
        self,
        url: str,
        what: str,
        options: Mapping[str, str] | None = None,
        timeout_s: tuple[float, float] | None = None,
    ) -> None:
        self.what = what
        try:
            self.container = av.open(url, mode="r", options=dict(options or {}), timeout=timeout_s)
        except av.error.InvalidDataError as exc:
            raise SourceError(f"{what} is not a video FFmpeg can read: {describe(exc)}") from exc
        except av.error.FFmpegError as exc:
            raise SourceError(f"cannot open {what}: {describe(exc)}") from exc
        try:
            self.stream = self._video_stream()
        except SourceError:
            self.container.close()
            raise

    def _video_stream(self) -> av.video.stream.VideoStream:
        if not self.container.streams.video:
            raise SourceError(f"{self.what} has no video stream (format {self.container.format.name})")
        stream = self.container.streams.video[0]
        if stream.codec_context is None:
            raise SourceError(f"{self.what}: FFmpeg has no decoder for its video codec")
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = DECODER_THREADS
        stream.codec_context.options = {"err_detect": ERR_DETECT}
        return stream

    @property
    def frame_size(self) -> tuple[int, int]:
        """``(width, height)`` the stream header announces, ``(0, 0)`` if it does not."""
        context = self.stream.codec_context
        return int(context.width or 0), int(context.height or 0)

    def set_loop_filter(self, on: bool) -> None:
        """Run the codec's deblocking (loop) filter or skip it on every frame. Takes effect only
        before the first frame is decoded (PyAV opens the decoder then)."""
        options = {"err_detect": ERR_DETECT}
        if not on:
            options["skip_loop_filter"] = "all"
        self.stream.codec_context.options = options

    @property
    def codec(self) -> str:
        """FFmpeg name of the video codec (``"h264"``, ``"msmpeg4"``)."""
        return str(self.stream.codec_context.name)

    @property
    def fps(self) -> float | None:
        """Nominal frame rate, None if the container does not say."""
        rate = self.stream.average_rate or self.stream.guessed_rate
        return float(rate) if rate else None

    @property
    def frames_declared(self) -> int | None:
        """Frames the header declares, None if unknown."""
        return int(self.stream.frames) or None

    def seconds(self, picture: av.VideoFrame) -> float | None:
        """Presentation time of ``picture`` relative to the stream start, None without a pts."""
        if picture.pts is None or self.stream.time_base is None:
            return None
        start = self.stream.start_time or 0
        return float((picture.pts - start) * self.stream.time_base)

    def close(self) -> None:
        """Close the container."""
        self.container.close()

    def frames(
        self, result: DecodeResult, on_corrupt: Callable[[], None], retry_read_errors: int = 0
    ) -> Iterator[av.VideoFrame]:
        """Decode every frame; damaged packets and frames are skipped and reported to ``on_corrupt``.

        A read error is retried up to ``retry_read_errors`` times in a row (each counts as
        corrupt data: files can resynchronise after damage); a timeout or a connection error
        ends at once. The error that ended decoding is kept in ``result.read_error``.
        """
        read_errors = 0
        while True:
            try:
                for packet in self.container.demux(self.stream):
                    read_errors = 0
                    result.read_error = None
                    yield from self._decode(packet, on_corrupt)
                return
            except (av.error.FFmpegError, OSError) as exc:
                result.read_error = exc
                fatal = isinstance(exc, av.error.ExitError | TimeoutError | ConnectionError)
                if fatal or read_errors >= retry_read_errors:
                    return
                read_errors += 1
                on_corrupt()
                log.warning(
                    "%s: read error %s, retrying (%d in a row)", self.what, describe(exc), read_errors
                )

    def _decode(self, packet: av.Packet[Any], on_corrupt: Callable[[], None]) -> Iterator[av.VideoFrame]:
        try:
            pictures = packet.decode()
        except av.error.DecoderNotFoundError as exc:
            raise SourceError(f"{self.what}: no decoder for codec {self.codec}") from exc
        except (av.error.InvalidDataError, av.error.UndefinedError, av.error.BugError) as exc:
            on_corrupt()
            log.debug("%s: skipped a damaged packet (%s)", self.what, describe(exc))
            return
        for picture in pictures:
            if picture.is_corrupt:
                on_corrupt()
                continue
            yield picture
