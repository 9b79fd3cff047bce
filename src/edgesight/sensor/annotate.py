"""See what the sensor sees, locally: tracked boxes, ids, trails, zones, lines and counts on video.

:class:`FrameAnnotator` draws with supervision's annotators (boxes, labels, trails) and its
drawing helpers (zones, lines, text); :class:`VideoAnnotator` writes its frames with PyAV (H.264 in
MP4) for ``sense --annotate``, and ``sense --preview`` serves the same drawings on a local page
(:mod:`edgesight.sensor.preview`). Nothing here sends pixels anywhere. supervision is the optional
``annotate`` extra (``pip install edgesight[annotate]``); without it both raise a clear error.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt

from edgesight.core.config import AnalyticsConfig
from edgesight.core.detections import Detections
from edgesight.core.errors import ConfigError

__all__ = ["FrameAnnotator", "VideoAnnotator"]

UInt8Image = npt.NDArray[np.uint8]


def _supervision() -> Any:
    try:
        import supervision as sv
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise ConfigError(
            "drawing (--annotate, --preview) needs supervision: pip install 'edgesight[annotate]' (or pip install supervision)"
        ) from None
    return sv


class FrameAnnotator:
    """Draws one frame's tracks (boxes, ids, trails) and the config's zones and lines with their counts.

    Args:
        config: the analytics section (zones and lines are drawn from it).

    Trails are kept per track id across calls, so draw the frames of one run in order.

    Example::

        annotator = FrameAnnotator(config)
        drawn = annotator.draw(image_bgr, tracked, analytics.counts())
    """

    def __init__(self, config: AnalyticsConfig) -> None:
        self._sv = sv = _supervision()
        self.config = config
        self._boxes = sv.BoxAnnotator(thickness=2, color_lookup=sv.ColorLookup.TRACK)
        self._labels = sv.LabelAnnotator(text_scale=0.4, text_padding=3, color_lookup=sv.ColorLookup.TRACK)
        self._trails = sv.TraceAnnotator(thickness=2, trace_length=40, color_lookup=sv.ColorLookup.TRACK)

    def draw(self, image_bgr: UInt8Image, tracked: Detections, counts: dict[str, Any]) -> UInt8Image:
        """A copy of the frame with zones, lines, tracked boxes, ids and trails, and the counts."""
        sv = self._sv
        scene = image_bgr.copy()
        scale = np.array([image_bgr.shape[1], image_bgr.shape[0]], dtype=np.float64)
        zone_counts = counts.get("zones", {})
        for zone in self.config.zones:
            name, polygon = zone.name, (np.array(zone.polygon) * scale).astype(np.int64)
            scene = sv.draw_polygon(scene, polygon, color=sv.Color.from_hex("#3c9cff"), thickness=2)
            inside = sum(zone_counts.get(name, {}).values())
            x, y = polygon.mean(axis=0)
            scene = sv.draw_text(
                scene, f"{name}: {inside}", sv.Point(float(x), float(y)), text_color=sv.Color.WHITE,
                background_color=sv.Color.from_hex("#3c9cff"), text_padding=4,
            )
        line_counts = counts.get("lines", {})
        for line in self.config.lines:
            start, end = np.array(line.start) * scale, np.array(line.end) * scale
            scene = sv.draw_line(scene, sv.Point(*start), sv.Point(*end), color=sv.Color.from_hex("#ff3c6e"), thickness=3)
            by_dir = line_counts.get(line.name, {})
            ltr = sum(by_dir.get(line.left_to_right, {}).values())
            rtl = sum(by_dir.get(line.right_to_left, {}).values())
            text = f"{line.name} {line.left_to_right} {ltr} / {line.right_to_left} {rtl}"
            scene = sv.draw_text(
                scene, text, self._inside(text, end[0], end[1] - 12, scene.shape[1]), text_color=sv.Color.WHITE,
                background_color=sv.Color.from_hex("#ff3c6e"), text_padding=4,
            )
        if len(tracked) and tracked.tracker_id is not None:
            dets = sv.Detections(
                xyxy=tracked.xyxy.astype(np.float32), confidence=tracked.confidence,
                class_id=tracked.class_id, tracker_id=tracked.tracker_id,
            )
            scene = self._trails.annotate(scene, dets)
            scene = self._boxes.annotate(scene, dets)
            labels = [f"#{t}" for t in tracked.tracker_id.tolist()]
            scene = self._labels.annotate(scene, dets, labels=labels)
        return np.asarray(scene, dtype=np.uint8)

    def _inside(self, text: str, x: float, y: float, width: int) -> Any:
        """Centre of a label at ``(x, y)``, moved so that the label stays inside the frame."""
        # supervision draws with its own font, wider than Hershey: leave a third more room.
        half = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)[0][0] * 0.67 + 8
        return self._sv.Point(float(min(max(x, half), width - half)), float(y))



class VideoAnnotator:
    """Draws one frame's tracks and the config's zones and lines (:class:`FrameAnnotator`), and writes an MP4.

    Args:
        path: output video (``.mp4``).
        config: the analytics section (zones and lines are drawn from it).
        fps: frame rate written into the video.

    The video takes the size of the first frame written.

    Example::

        with VideoAnnotator(Path("out.mp4"), config, fps=10) as video:
            video.write(image_bgr, tracked, analytics.counts())
    """

    def __init__(self, path: Path, config: AnalyticsConfig, fps: float) -> None:
        if path.suffix.lower() != ".mp4":
            raise ConfigError(f"--annotate: write an .mp4 file, got {path}")
        self.annotator = FrameAnnotator(config)
        self.path = path
        self.fps = max(1, round(fps))
        self._container: Any = None
        self._stream: Any = None
        self.frames = 0

    def _open(self, width: int, height: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self.path), mode="w")
        self._stream = self._container.add_stream("libx264", rate=self.fps)
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"

    def write(self, image_bgr: UInt8Image, tracked: Detections, counts: dict[str, Any]) -> UInt8Image:
        """Draw and encode one frame; returns the drawn frame."""
        drawn = self.annotator.draw(image_bgr, tracked, counts)
        self.add(drawn)
        return drawn

    def add(self, drawn_bgr: UInt8Image) -> None:
        """Encode a frame already drawn by :attr:`annotator` (shared with ``--preview``)."""
        if self._container is None:
            self._open(drawn_bgr.shape[1], drawn_bgr.shape[0])
        frame = av.VideoFrame.from_ndarray(drawn_bgr, format="bgr24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and close the file (no file when no frame was written)."""
        if self._container is None:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> VideoAnnotator:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
