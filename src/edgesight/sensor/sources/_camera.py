"""Local cameras (V4L2 devices) read through OpenCV, with a seam for a fake capture in tests."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from edgesight.core.errors import SourceError
from edgesight.sensor.sources._base import BaseFrameSource, ReconnectPolicy
from edgesight.sensor.sources._frame import Frame

__all__ = ["CameraSource", "Capture", "device_name", "open_v4l2", "v4l2_index"]

log = logging.getLogger(__name__)

_READ_FAILURES_BEFORE_REOPEN = 3


class Capture(Protocol):
    """The part of ``cv2.VideoCapture`` a camera source uses (a fake implements just this)."""

    def isOpened(self) -> bool: ...

    def read(self) -> tuple[bool, Any]: ...

    def set(self, prop_id: int, value: float) -> bool: ...

    def get(self, prop_id: int) -> float: ...

    def release(self) -> None: ...


def open_v4l2(device: int | str) -> Capture:
    """Open ``device`` (an index or a path to a ``/dev/videoN`` node) with OpenCV's V4L2 backend.

    OpenCV's V4L2 backend opens devices by index, so paths (also udev symlinks such as
    ``/dev/v4l/by-id/...``) are resolved to their ``videoN`` node first.
    """
    index = v4l2_index(device)
    # OpenCV logs its own warnings to stderr for a missing device; our SourceError says it once.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    capture: Capture = cv2.VideoCapture(index if index is not None else device, cv2.CAP_V4L2)
    return capture


def v4l2_index(device: int | str) -> int | None:
    """The N of ``/dev/videoN`` that ``device`` is or links to, None if it is not such a node.

    Example:
        >>> v4l2_index(3), v4l2_index("/dev/video12"), v4l2_index("/tmp/clip.mp4")
        (3, 12, None)
    """
    if isinstance(device, int):
        return device
    match = re.fullmatch(r"video(\d+)", Path(device).resolve().name)
    return int(match.group(1)) if match else None


def device_name(device: int | str) -> str:
    """How a camera is named in messages: its device path.

    Example:
        >>> device_name(2), device_name("/dev/video0")
        ('/dev/video2', '/dev/video0')
    """
    return f"/dev/video{device}" if isinstance(device, int) else device


class CameraSource(BaseFrameSource):
    """A local camera: BGR frames stamped with the wall clock when read.

    After a few failed reads in a row the camera is released and reopened with exponential
    backoff; when every attempt fails the iteration raises SourceEndedError.

    Args:
        device: a V4L2 index (``0``) or device path (``"/dev/video0"``).
        size: requested ``(width, height)`` in pixels, None for the driver's default.
        fps: requested frame rate, None for the driver's default.
        reconnect: backoff after the camera drops.
        capture_factory: opens a capture object; tests pass a fake.

    Raises:
        SourceError: on open, ``camera /dev/video0 not found or busy``.

    Example:
        >>> class Fake:
        ...     def isOpened(self): return True
        ...     def read(self): return True, np.zeros((4, 6, 3), np.uint8)
        ...     def set(self, prop_id, value): return True
        ...     def get(self, prop_id): return 30.0
        ...     def release(self): pass
        >>> with CameraSource(0, capture_factory=lambda device: Fake()) as camera:
        ...     frame = next(iter(camera))
        >>> frame.index, frame.width, camera.stats.frames_decoded
        (0, 6, 1)
    """

    live = True

    def __init__(
        self,
        device: int | str,
        size: tuple[int, int] | None = None,
        fps: float | None = None,
        reconnect: ReconnectPolicy | None = None,
        capture_factory: Callable[[int | str], Capture] = open_v4l2,
    ) -> None:
        super().__init__(device_name(device))
        self._device = device
        self._size = size
        self._requested_fps = fps
        self._policy = reconnect or ReconnectPolicy()
        self._factory = capture_factory
        self._capture: Capture | None = None

    @property
    def fps(self) -> float | None:
        """Frame rate the driver reports, None if it does not say."""
        if self._capture is None:
            return self._requested_fps
        reported = float(self._capture.get(cv2.CAP_PROP_FPS))
        return reported if reported > 0 else self._requested_fps

    def _open(self) -> None:
        capture = self._factory(self._device)
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"camera {self._name} not found or busy")
        if self._size is not None:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, float(self._size[0]))
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, float(self._size[1]))
        if self._requested_fps is not None:
            capture.set(cv2.CAP_PROP_FPS, float(self._requested_fps))
        self._capture = capture

    def _close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def _frames(self) -> Iterator[Frame]:
        failures = 0
        attempts = 0
        while not self._closing.is_set():
            capture = self._capture
            ok, image = capture.read() if capture is not None else (False, None)
            if ok and isinstance(image, np.ndarray):
                failures = attempts = 0
                yield Frame.from_bgr(self._next_index(), time.time(), image)
                continue
            failures += 1
            if failures < _READ_FAILURES_BEFORE_REOPEN:
                continue
            log.warning("camera %s: %d failed reads in a row, reopening", self._name, failures)
            self._close()
            spent = self._reconnect(self._policy, self._open, attempts)
            if spent is None:
                return
            attempts, failures = spent, 0
