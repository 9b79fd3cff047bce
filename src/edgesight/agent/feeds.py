"""Where the agent's frames come from: the sensor (a synthetic fake is in :mod:`edgesight.testing`).

A :class:`FrameFeed` yields :class:`FrameMeta` records and reports its KPIs; the agent never
needs to know whether a camera, a video file or a script produced them.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Protocol, runtime_checkable

from edgesight.core.config import DeviceConfig, SensorSection
from edgesight.core.errors import ConfigError
from edgesight.core.frame import FrameMeta, ModelRef
from edgesight.core.package import ModelPackage
from edgesight.sensor.pipeline import Sensor, SensorSettings
from edgesight.sensor.sources import FrameSource, open_source
from edgesight.sensor.swap import LoadedModel, self_test

__all__ = ["FrameFeed", "SensorFeed", "SwappableFeed"]


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


@runtime_checkable
class SwappableFeed(FrameFeed, Protocol):
    """A feed whose model can be replaced while it runs (the sensor's; see :mod:`edgesight.sensor.swap`)."""

    def load_model(self, package: ModelPackage) -> LoadedModel:
        """Load ``package`` beside the running model (raises ModelLoadError)."""

    def self_test(self, model: LoadedModel) -> None:
        """Run ``model`` on a recent frame and check its outputs (raises ModelLoadError)."""

    def swap_model(self, model: LoadedModel) -> LoadedModel:
        """Run ``model`` from the next frame on; returns the model it replaces."""

    def errors(self) -> int:
        """Frames whose inference failed so far (under a model on probation)."""


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
        self._section = config.sensor  # the live one: the twin may change thresholds

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

    def load_model(self, package: ModelPackage) -> LoadedModel:
        sensor = self._running()
        return sensor.load_model(package, self._section.thresholds(package.intrinsics.thresholds))

    def self_test(self, model: LoadedModel) -> None:
        self_test(model, self._running().last_frame)

    def swap_model(self, model: LoadedModel) -> LoadedModel:
        old = self._running().swap_model(model)
        self.package = model.package  # heartbeats, labels and thresholds follow the running model
        return old

    def errors(self) -> int:
        return self._running().stats.errors

    def frames(self, max_frames: int | None) -> Iterator[FrameMeta]:
        return self._running().run(max_frames)

    def fps(self) -> float:
        return self._running().stats.fps

    def dnn_ms(self) -> float:
        stats = self._running().stats
        return stats.dnn_ms / stats.frames if stats.frames else 0.0

    def set_sensor(self, section: SensorSection) -> None:
        self._section = section
        self._running().set_thresholds(section.thresholds(self.package.intrinsics.thresholds))

