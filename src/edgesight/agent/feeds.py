"""Where the agent's frames come from: the real sensor, or a synthetic fake for tests and demos.

A :class:`FrameFeed` yields :class:`FrameMeta` records and reports its KPIs; the agent never
needs to know whether a camera, a video file or a script produced them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import TracebackType
from typing import Protocol

import numpy as np

from edgesight.core.config import COCO_LABELS, DeviceConfig, SensorSection
from edgesight.core.detections import Detections
from edgesight.core.errors import ConfigError
from edgesight.core.frame import FrameMeta, ModelRef
from edgesight.core.package import ModelPackage
from edgesight.sensor.pipeline import Sensor, SensorSettings
from edgesight.sensor.sources import FrameSource, open_source

__all__ = ["FrameFeed", "SensorFeed", "SyntheticFeed"]


class FrameFeed(Protocol):
    """A source of frame metadata plus the KPIs the heartbeat reports."""

    @property
    def model(self) -> ModelRef: ...
    @property
    def labels(self) -> tuple[str, ...]: ...
    def frames(self, max_frames: int | None) -> Iterator[FrameMeta]: ...
    def fps(self) -> float: ...
    def dnn_ms(self) -> float: ...
    def set_sensor(self, section: SensorSection) -> None:
        """Apply the live sensor keys (thresholds) of a new ``sensor`` section."""


class SensorFeed:
    """The real sensor on the config's source: a context manager that opens the source.

    Args:
        config: the device config (``sensor.source`` must be set).
        package: the loaded model package.
    """

    def __init__(self, config: DeviceConfig, package: ModelPackage) -> None:
        if config.sensor.source is None:
            raise ConfigError("sensor.source: the agent needs a source (video file, camera or stream URL)")
        self.config = config
        self.package = package
        self._source: FrameSource | None = None
        self._sensor: Sensor | None = None

    def __enter__(self) -> SensorFeed:
        assert self.config.sensor.source is not None
        source = open_source(self.config.sensor.source)
        source.__enter__()
        self._source = source
        settings = SensorSettings.from_config(self.config, self.package.intrinsics.thresholds)
        self._sensor = Sensor(source, self.package, settings)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._source is not None:
            self._source.__exit__(exc_type, exc, tb)
            self._source = None

    def _running(self) -> Sensor:
        if self._sensor is None:
            raise ConfigError("SensorFeed must be used in a `with` block")
        return self._sensor

    @property
    def model(self) -> ModelRef:
        return ModelRef(self.package.id, self.package.version)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.package.labels)

    def frames(self, max_frames: int | None) -> Iterator[FrameMeta]:
        return self._running().run(max_frames)

    def fps(self) -> float:
        return self._running().stats.fps

    def dnn_ms(self) -> float:
        stats = self._running().stats
        return stats.dnn_ms / stats.frames if stats.frames else 0.0

    def set_sensor(self, section: SensorSection) -> None:
        self._running().set_thresholds(section.thresholds(self.package.intrinsics.thresholds))


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
        n = len(boxes)
        dets = Detections.from_arrays(
            np.asarray(boxes, dtype=np.float32).reshape(-1, 4), [0.9] * n, [0] * n, ["person"] * n
        )
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
