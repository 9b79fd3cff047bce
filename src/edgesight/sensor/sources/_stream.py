"""Network streams (RTSP, HTTP(S), TCP, UDP) decoded by PyAV, reconnecting when they drop."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit, urlunsplit

import av

from edgesight.core.errors import ConfigError, SourceError
from edgesight.sensor.sources._av import DecodeResult, VideoReader, describe
from edgesight.sensor.sources._base import BaseFrameSource, ReconnectPolicy
from edgesight.sensor.sources._frame import Frame, ScalerCache

__all__ = ["STREAM_SCHEMES", "StreamSource", "redact_url"]

log = logging.getLogger(__name__)

STREAM_SCHEMES = frozenset({"rtsp", "rtsps", "rtsp+tcp", "rtsp+udp", "http", "https", "tcp", "udp", "rtmp"})
_REANCHOR_S = 1.0
"""Re-anchor stream time on the wall clock when the two drift further apart than this."""


def redact_url(url: str) -> str:
    """``url`` without its password, for messages and logs.

    Example:
        >>> redact_url("rtsp://admin:secret@10.0.0.5:554/stream1")
        'rtsp://admin:***@10.0.0.5:554/stream1'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def ffmpeg_options(
    url: str, read_timeout_s: float, extra: Mapping[str, str] | None
) -> tuple[str, dict[str, str]]:
    """The URL FFmpeg opens and the protocol options for it (timeouts in microseconds).

    ``rtsp+tcp://`` and ``rtsp+udp://`` choose the RTSP transport; plain ``rtsp://`` uses TCP,
    which survives packet loss and NAT. ``extra`` options win over these defaults.

    Example:
        >>> ffmpeg_options("rtsp+udp://cam/s", 2.0, None)
        ('rtsp://cam/s', {'rw_timeout': '2000000', 'timeout': '2000000', 'rtsp_transport': 'udp'})
    """
    scheme, _, rest = url.partition("://")
    micros = str(int(read_timeout_s * 1e6))
    options = {"rw_timeout": micros}
    if scheme.startswith("rtsp"):
        options["timeout"] = micros
        options["rtsp_transport"] = "udp" if scheme == "rtsp+udp" else "tcp"
        url = f"{'rtsps' if scheme == 'rtsps' else 'rtsp'}://{rest}"
    elif scheme in ("tcp", "udp", "http", "https"):
        options["timeout"] = micros
    options.update(extra or {})
    return url, options


class StreamSource(BaseFrameSource):
    """A live network stream; reconnects with exponential backoff when it drops.

    The first connection is tried once, so a wrong URL fails fast with SourceError. After a drop
    (end of stream, read error or read timeout) the source reconnects following ``reconnect``;
    frame indexes keep counting, ``stats.reconnects`` counts reopenings, and when every attempt
    fails the iteration raises SourceEndedError. Timestamps follow the stream's presentation
    times anchored on the wall clock at connection (re-anchored if they drift more than 1 s).

    Args:
        url: ``rtsp://``, ``rtsp+tcp://``, ``rtsp+udp://``, ``rtsps://``, ``http(s)://``,
            ``tcp://``, ``udp://`` or ``rtmp://``.
        open_timeout_s: give up opening after this long.
        read_timeout_s: treat the stream as dropped after this long without data.
        reconnect: backoff after a drop.
        ffmpeg_options: extra FFmpeg protocol/demuxer options, e.g. ``{"rtsp_transport": "udp"}``.

    Raises:
        ConfigError: for an unsupported scheme or non-positive timeouts.
        SourceError: on open, if the first connection fails.

    Example:
        >>> StreamSource("rtsp://user:pw@cam.local/live").name
        'rtsp://user:***@cam.local/live'
    """

    live = True

    def __init__(
        self,
        url: str,
        open_timeout_s: float = 5.0,
        read_timeout_s: float = 5.0,
        reconnect: ReconnectPolicy | None = None,
        ffmpeg_options: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(redact_url(url))
        scheme = url.partition("://")[0].lower()
        if scheme not in STREAM_SCHEMES:
            raise ConfigError(
                f"stream URL {self._name}: scheme {scheme!r} is not one of {sorted(STREAM_SCHEMES)}"
            )
        if not (open_timeout_s > 0 and read_timeout_s > 0):
            raise ConfigError(
                f"stream timeouts must be > 0 s, got open {open_timeout_s} and read {read_timeout_s}"
            )
        self._url = url
        self._timeouts = (float(open_timeout_s), float(read_timeout_s))
        self._policy = reconnect or ReconnectPolicy()
        self._extra = dict(ffmpeg_options or {})
        self._reader: VideoReader | None = None
        self._scalers = ScalerCache()
        self._anchor_s: float | None = None
        self._last_ts = 0.0

    @property
    def fps(self) -> float | None:
        """Nominal frame rate the stream announces, None if unknown or not connected."""
        return self._reader.fps if self._reader else None

    @property
    def codec(self) -> str | None:
        """FFmpeg codec name of the video stream, None if not connected."""
        return self._reader.codec if self._reader else None

    def _open(self) -> None:
        url, options = ffmpeg_options(self._url, self._timeouts[1], self._extra)
        self._reader = VideoReader(
            url, what=f"stream {self._name}", options=options, timeout_s=self._timeouts
        )
        self._anchor_s = None

    def _close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _count_corrupt(self) -> None:
        self._corrupt_frames += 1

    def _stamp(self, reader: VideoReader, picture: av.VideoFrame) -> float:
        now = time.time()
        offset = reader.seconds(picture)
        if offset is None:
            stamp = now
        else:
            if self._anchor_s is None or abs(self._anchor_s + offset - now) > _REANCHOR_S:
                self._anchor_s = now - offset
            stamp = self._anchor_s + offset
        stamp = max(stamp, self._last_ts + 1e-6)
        self._last_ts = stamp
        return stamp

    def _frames(self) -> Iterator[Frame]:
        attempts = 0
        while self._reader is not None:
            reader = self._reader
            result = DecodeResult()
            reader.set_loop_filter(self._deblocks(*reader.frame_size))
            for picture in reader.frames(result, self._count_corrupt):
                attempts = 0
                yield Frame.from_av(self._next_index(), self._stamp(reader, picture), picture, self._scalers)
            if self._closing.is_set():
                return
            reason = describe(result.read_error) if result.read_error else "end of stream"
            log.warning("stream %s dropped: %s", self._name, reason)
            self._close()
            spent = self._reconnect(self._policy, self._open, attempts)
            if spent is None:
                return
            attempts = spent
        if not self._closing.is_set():
            raise SourceError(f"stream {self._name} is closed")
