"""A folder of still images played as a video (sorted by file name)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from edgesight.core.errors import ConfigError, SourceError
from edgesight.sensor.sources._base import BaseFrameSource
from edgesight.sensor.sources._frame import Frame

__all__ = ["IMAGE_SUFFIXES", "ImageFolderSource"]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})


class ImageFolderSource(BaseFrameSource):
    """The jpg/jpeg/png/bmp files of a folder, sorted by name, read with ``cv2.imread``.

    Image ``i`` of the listing is stamped ``folder mtime + i / fps``. Files that cannot be read
    are skipped and counted in ``stats.corrupt_frames``.

    Args:
        folder: the directory.
        fps: assumed capture rate, frames per second.

    Raises:
        ConfigError: if ``fps`` is not positive.
        SourceError: on open, if the folder is missing or holds no image files.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = cv2.imwrite(f"{tmp}/a.png", np.zeros((4, 6, 3), np.uint8))
        ...     with ImageFolderSource(tmp, fps=5) as source:
        ...         [(f.index, f.width, f.height) for f in source]
        [(0, 6, 4)]
    """

    def __init__(self, folder: str | Path, fps: float = 10.0) -> None:
        super().__init__(str(folder))
        if not fps > 0:
            raise ConfigError(f"image folder fps must be > 0, got {fps}")
        self._folder = Path(folder)
        self._fps = float(fps)
        self._files: list[Path] = []
        self._start_s = 0.0

    @property
    def fps(self) -> float:
        """The assumed frame rate."""
        return self._fps

    @property
    def frame_count(self) -> int | None:
        """Image files found (some may turn out unreadable), None before opening."""
        return len(self._files) if self._is_open else None

    def _open(self) -> None:
        if not self._folder.is_dir():
            raise SourceError(f"no such image folder: {self._folder}")
        self._files = sorted(
            p for p in self._folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        )
        if not self._files:
            kinds = "/".join(sorted(s[1:] for s in IMAGE_SUFFIXES))
            raise SourceError(f"image folder {self._folder} holds no {kinds} files")
        self._frames_declared = len(self._files)
        self._start_s = self._folder.stat().st_mtime

    def _close(self) -> None:
        self._files = []

    def _frames(self) -> Iterator[Frame]:
        for position, path in enumerate(list(self._files)):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                self._corrupt_frames += 1
                log.warning("skipped unreadable image %s", path)
                continue
            stamp = self._start_s + position / self._fps
            yield Frame.from_bgr(self._next_index(), stamp, np.asarray(image, dtype=np.uint8))
