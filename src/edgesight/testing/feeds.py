"""A synthetic frame feed: the agent's :class:`~edgesight.agent.feeds.FrameFeed` without a sensor."""

from __future__ import annotations

import time
from collections.abc import Iterator

from edgesight.core.config import COCO_LABELS, SensorSection
from edgesight.core.detections import Detections
from edgesight.core.frame import FrameMeta, ModelRef
from edgesight.testing.detections import mock_detections

__all__ = ["SyntheticFeed"]


class SyntheticFeed:
    """People walking down the frame, a new one every ``every`` frames (a fake sensor).

    Each person takes ``walk_frames`` frames from the top to the bottom, so each crosses a
    horizontal line at mid-height exactly once, going down.

    Example:
        >>> feed = SyntheticFeed("cam-1", fps=0)
        >>> frames = list(feed.frames(30))
        >>> len(frames), frames[-1].frame_index, len(frames[-1].detections) > 0
        (30, 29, True)
    """

    def __init__(
        self,
        device_id: str,
        stream_id: str = "main",
        fps: float = 30.0,
        every: int = 10,
        walk_frames: int = 30,
    ) -> None:
        self.device_id = device_id
        self.stream_id = stream_id
        self.rate = fps
        self.every = every
        self.walk_frames = walk_frames
        self.score_threshold = 0.0
        self.frame_size = (640, 480)
        self._frames = 0
        self._started = time.perf_counter()

    @property
    def model(self) -> ModelRef:
        return ModelRef("synthetic", "1")

    @property
    def labels(self) -> tuple[str, ...]:
        return COCO_LABELS

    def frames(self, max_frames: int | None) -> Iterator[FrameMeta]:
        self._started = time.perf_counter()
        index = 0
        while max_frames is None or index < max_frames:
            if self.rate > 0:
                delay = self._started + index / self.rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            yield self._frame(index)
            self._frames = index + 1
            index += 1

    def _frame(self, index: int) -> FrameMeta:
        width, height = self.frame_size
        boxes = []
        for person in range(index // self.every + 1):
            age = index - person * self.every
            if 0 <= age < self.walk_frames:
                x = 40 + (person * 97) % (width - 120)
                y = (height - 60) * age / (self.walk_frames - 1)
                boxes.append([x, y, x + 40, y + 60])
        dets = mock_detections(boxes)
        if self.score_threshold > 0.9:
            dets = Detections.empty()
        return FrameMeta(
            self.device_id, self.stream_id, index, index, time.time(), self.model, self.frame_size, dets
        )

    def fps(self) -> float:
        elapsed = time.perf_counter() - self._started
        return self._frames / elapsed if elapsed > 0 else 0.0

    def dnn_ms(self) -> float:
        return 0.0

    def set_sensor(self, section: SensorSection) -> None:
        self.score_threshold = section.score_threshold or 0.0
