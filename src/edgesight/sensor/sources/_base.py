"""What every frame source shares: the `FrameSource` protocol, its statistics and its lifecycle."""

from __future__ import annotations

import logging
import random
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from edgesight.core.errors import ConfigError, SourceEndedError, SourceError
from edgesight.sensor.sources._frame import Frame

__all__ = ["BaseFrameSource", "FrameSource", "ReconnectPolicy", "SourceStats"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SourceStats:
    """A snapshot of what a source has done so far.

    Attributes:
        frames_decoded: frames delivered to the caller.
        corrupt_frames: packets, frames or images that could not be decoded and were skipped.
        reconnects: successful reopenings after the stream or camera dropped.
        ended_early: True if a file ended before the frames its header declares, or a live
            source ended for good.
        frames_declared: frames the container header promises, None if it does not say.

    Example:
        >>> SourceStats(10, 0, 0, False, 10).frames_decoded
        10
    """

    frames_decoded: int = 0
    corrupt_frames: int = 0
    reconnects: int = 0
    ended_early: bool = False
    frames_declared: int | None = None


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """How a live source retries after a failed open or a dropped stream: exponential backoff.

    Attempt ``n`` (0-based) waits ``min(max_delay_s, initial_delay_s * 2**n)``, then scaled by a
    random factor in ``[1 - jitter, 1 + jitter]``. After ``max_attempts`` failed attempts in a row
    the source gives up.

    Example:
        >>> p = ReconnectPolicy(initial_delay_s=0.5, max_delay_s=2.0, jitter=0.0)
        >>> [p.delay_s(n) for n in range(4)]
        [0.5, 1.0, 2.0, 2.0]
    """

    initial_delay_s: float = 0.5
    max_delay_s: float = 30.0
    max_attempts: int = 10
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.initial_delay_s < 0 or self.max_delay_s < self.initial_delay_s:
            raise ConfigError(
                f"reconnect delays need 0 <= initial_delay_s <= max_delay_s, "
                f"got {self.initial_delay_s} and {self.max_delay_s}"
            )
        if self.max_attempts < 0:
            raise ConfigError(f"reconnect max_attempts must be >= 0, got {self.max_attempts}")
        if not 0.0 <= self.jitter < 1.0:
            raise ConfigError(f"reconnect jitter must be in [0, 1), got {self.jitter}")

    def delay_s(self, attempt: int) -> float:
        """Seconds to wait before reconnection attempt ``attempt`` (0-based)."""
        base = min(self.max_delay_s, self.initial_delay_s * 2.0 ** min(attempt, 62))
        return base * (1.0 + self.jitter * (2.0 * random.random() - 1.0))


@runtime_checkable
class FrameSource(Protocol):
    """Anything that yields `Frame` objects: a context manager and an iterator.

    Use as ``with open_source(spec) as source: for frame in source: ...``.
    """

    @property
    def name(self) -> str:
        """What the source reads, for messages and logs (path, URL, device)."""
        ...

    @property
    def stats(self) -> SourceStats:
        """Counters so far (a snapshot)."""
        ...

    @property
    def fps(self) -> float | None:
        """Nominal frames per second, None if unknown."""
        ...

    @property
    def frame_count(self) -> int | None:
        """Frames the source will deliver if known (files), else None."""
        ...

    @property
    def live(self) -> bool:
        """True for cameras and streams: frames arrive on their own clock, and a reader that
        falls behind must drop some. False for files and folders, which wait for the reader."""
        ...

    @property
    def codec(self) -> str | None:
        """Codec name of the video stream (``"h264"``), None for image or camera sources."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None:
        """Release the file, device or connection (``__exit__`` does it)."""
        ...


class BaseFrameSource(ABC):
    """Lifecycle shared by the concrete sources: open on ``__enter__``, close on ``__exit__``.

    Subclasses implement :meth:`_open`, :meth:`_close` and :meth:`_frames` and update the
    protected counters; indexes are handed out by :meth:`_next_index`.

    ``close()`` may come from another thread than the one iterating (a pipeline reads frames in
    a worker): it interrupts reconnect waits at once, and if the worker is inside the decoder it
    leaves the release to the worker, which stops after its current read (bounded by the read
    timeout), so FFmpeg is never closed under a running call.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._is_open = False
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._busy = False
        self._release_pending = False
        self._frames_decoded = 0
        self._corrupt_frames = 0
        self._reconnects = 0
        self._ended_early = False
        self._frames_declared: int | None = None
        self._deblock: Callable[[int, int], bool] | None = None

    live = False
    """Files and folders wait for the reader; cameras and streams set this True."""

    @property
    def name(self) -> str:
        """What the source reads (path, URL, device)."""
        return self._name

    @property
    def stats(self) -> SourceStats:
        """Counters so far (a snapshot)."""
        return SourceStats(
            self._frames_decoded,
            self._corrupt_frames,
            self._reconnects,
            self._ended_early,
            self._frames_declared,
        )

    @property
    def fps(self) -> float | None:
        """Nominal frames per second, None if unknown."""
        return None

    @property
    def frame_count(self) -> int | None:
        """Frames the source will deliver if known, else None."""
        return None

    @property
    def codec(self) -> str | None:
        """Codec of the video stream, None if not applicable."""
        return None

    def set_deblocking(self, deblock: Callable[[int, int], bool]) -> None:
        """Let ``deblock(width, height)`` decide whether each decoder this source starts from now on
        runs its codec's deblocking (loop) filter (the sensor's policy, see
        :mod:`edgesight.sensor.deblocking_policy`). Without it decoders run the filter; sources
        without a decoder (cameras, image folders) and codecs without the filter ignore it.
        """
        self._deblock = deblock

    def _deblocks(self, width: int, height: int) -> bool:
        """Whether a decoder for ``width`` x ``height`` frames runs its loop filter (yes if the size
        is not known before decoding)."""
        return self._deblock is None or width <= 0 or height <= 0 or self._deblock(width, height)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name!r})"

    def __enter__(self) -> Self:
        self._closing.clear()
        self._open()
        self._is_open = True
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the device, file or connection; interrupts a reconnect wait. Safe to call twice."""
        self._closing.set()
        with self._lock:
            if self._busy:
                self._release_pending = True
                return
            self._release()

    def _release(self) -> None:
        if self._is_open:
            self._is_open = False
            self._close()

    def __iter__(self) -> Iterator[Frame]:
        if not self._is_open:
            raise SourceError(
                f"source {self._name} is not open: use it as `with open_source(...) as source:`"
            )
        return self._guarded(self._frames())

    def _guarded(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        """Run ``frames`` with a busy flag around every step, so `close` knows when it may release."""
        while not self._closing.is_set():
            with self._lock:
                self._busy = True
            try:
                frame = next(frames, None)
            finally:
                with self._lock:
                    self._busy = False
                    if self._release_pending:
                        self._release_pending = False
                        self._release()
            if frame is None:
                return
            yield frame

    def _next_index(self) -> int:
        index = self._frames_decoded
        self._frames_decoded += 1
        return index

    def _wait(self, seconds: float) -> bool:
        """Sleep unless closed meanwhile; True if the source was closed."""
        return self._closing.wait(seconds)

    def _reconnect(
        self, policy: ReconnectPolicy, connect: Callable[[], None], first_attempt: int
    ) -> int | None:
        """Call ``connect`` with exponential backoff until it succeeds.

        Args:
            policy: delays and the number of attempts.
            connect: opens the device or connection, raising SourceError on failure.
            first_attempt: attempts already spent without delivering a frame (they count towards
                the limit, so a source that connects but never delivers still gives up).

        Returns:
            Attempts spent so far including the successful one, or None if the source was closed
            while waiting.

        Raises:
            SourceEndedError: once ``policy.max_attempts`` attempts in a row have failed.
        """
        last_error: SourceError | None = None
        for attempt in range(first_attempt, policy.max_attempts):
            delay = policy.delay_s(attempt)
            log.warning(
                "%s: reconnecting in %.2f s (attempt %d of %d)",
                self._name,
                delay,
                attempt + 1,
                policy.max_attempts,
            )
            if self._wait(delay):
                return None
            try:
                connect()
            except SourceError as exc:
                last_error = exc
                continue
            self._reconnects += 1
            return attempt + 1
        self._ended_early = True
        raise SourceEndedError(
            f"{self._name} dropped and {policy.max_attempts} reconnection attempts failed"
            + (f"; last error: {last_error}" if last_error else "")
        )

    @abstractmethod
    def _open(self) -> None:
        """Open the underlying file, device or connection; raise SourceError if it cannot."""

    @abstractmethod
    def _close(self) -> None:
        """Release what `_open` acquired."""

    @abstractmethod
    def _frames(self) -> Iterator[Frame]:
        """Yield frames until the source ends."""
