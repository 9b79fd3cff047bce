"""Frame sources: video files, image folders, local cameras and network streams.

Every source is a :class:`FrameSource`: a context manager and an iterator of :class:`Frame`,
with ``stats`` (frames decoded, corrupt frames skipped, reconnects, ended early). Frames keep
the decoder's native picture; the ISP crops, scales and converts colour in one pass.

    with open_source("data/vtest.avi") as source:
        for frame in source:
            ...

Errors: :class:`~edgesight.core.errors.SourceError` when a source cannot be opened or read,
:class:`~edgesight.core.errors.SourceEndedError` when a live source drops for good,
:class:`~edgesight.core.errors.ConfigError` for a bad spec or option.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

from edgesight.core.errors import ConfigError
from edgesight.sensor.sources._base import BaseFrameSource, FrameSource, ReconnectPolicy, SourceStats
from edgesight.sensor.sources._camera import CameraSource, Capture
from edgesight.sensor.sources._frame import CropBox, Frame, ScalerCache, patch_step
from edgesight.sensor.sources._images import IMAGE_SUFFIXES, ImageFolderSource
from edgesight.sensor.sources._stream import STREAM_SCHEMES, StreamSource
from edgesight.sensor.sources._video import VideoFileSource

__all__ = [
    "IMAGE_SUFFIXES",
    "STREAM_SCHEMES",
    "BaseFrameSource",
    "CameraSource",
    "Capture",
    "CropBox",
    "Frame",
    "FrameSource",
    "ImageFolderSource",
    "ReconnectPolicy",
    "ScalerCache",
    "SourceStats",
    "StreamSource",
    "VideoFileSource",
    "open_source",
    "patch_step",
]

_CAMERA_PATH = re.compile(r"^/dev/video\d+$")


def open_source(spec: str, **options: Any) -> FrameSource:
    """The frame source ``spec`` names (not opened yet: use it in a ``with`` block).

    ``spec`` is one of:

    * a stream URL: ``rtsp://``, ``rtsp+tcp://``, ``rtsp+udp://``, ``rtsps://``, ``http(s)://``,
      ``tcp://``, ``udp://``, ``rtmp://`` -> :class:`StreamSource`;
    * a camera: ``/dev/videoN`` or an index such as ``"0"`` -> :class:`CameraSource`;
    * a directory of jpg/png/bmp images -> :class:`ImageFolderSource`;
    * anything else is a video file path (``file://`` allowed) -> :class:`VideoFileSource`.

    ``options`` are the keyword arguments of that class; ``reconnect`` may be given as a dict of
    :class:`ReconnectPolicy` fields.

    Raises:
        ConfigError: for an unknown URL scheme or an option the source does not take.

    Example:
        >>> type(open_source("rtsp://10.0.0.5/live", read_timeout_s=2)).__name__
        'StreamSource'
        >>> open_source("0").name
        '/dev/video0'
        >>> open_source("clip.mp4", fps=5)
        Traceback (most recent call last):
        ...
        edgesight.core.errors.ConfigError: option 'fps' does not apply to video file clip.mp4 (takes: none)
    """
    kind: type[BaseFrameSource]
    target: Any = spec
    what = spec
    if "://" in spec:
        scheme = spec.partition("://")[0].lower()
        if scheme == "file":
            kind, target, what = VideoFileSource, spec.partition("://")[2], f"video file {spec}"
        elif scheme in STREAM_SCHEMES:
            kind, what = StreamSource, "stream"
        else:
            raise ConfigError(
                f"source {spec!r}: unknown URL scheme {scheme!r}, expected one of {sorted(STREAM_SCHEMES)}"
            )
    elif spec.isdigit() or _CAMERA_PATH.match(spec):
        kind, target, what = CameraSource, int(spec) if spec.isdigit() else spec, f"camera {spec}"
    elif Path(spec).is_dir():
        kind, what = ImageFolderSource, f"image folder {spec}"
    else:
        kind, what = VideoFileSource, f"video file {spec}"
    if isinstance(options.get("reconnect"), dict):
        try:
            options["reconnect"] = ReconnectPolicy(**options["reconnect"])
        except TypeError as exc:
            raise ConfigError(f"source {spec!r}: bad reconnect options: {exc}") from exc
    _check_options(kind, options, what)
    return kind(target, **options)


def _check_options(kind: type[BaseFrameSource], options: dict[str, Any], what: str) -> None:
    params = list(inspect.signature(kind.__init__).parameters)[2:]
    for name in options:
        if name not in params:
            raise ConfigError(
                f"option {name!r} does not apply to {what} (takes: {', '.join(params) or 'none'})"
            )
