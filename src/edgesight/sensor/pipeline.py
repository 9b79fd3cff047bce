"""The sensor: frames in, metadata out, with decoding + ISP overlapped with inference.

Decoding and the ISP run in a producer thread and inference in the caller's thread; PyAV,
libswscale and ONNX Runtime all release the GIL, so the two stages use both cores. The queue
between them is small and bounded: the sensor never buffers more than a few frames.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from edgesight.core.config import DeviceConfig
from edgesight.core.detections import Detections
from edgesight.core.frame import FrameMeta, ImageAttachment, Kpi, ModelRef, OutputMode
from edgesight.core.intrinsics import Thresholds, Tiling
from edgesight.core.package import ModelPackage
from edgesight.core.region import Region
from edgesight.sensor.appearance import torso_histograms
from edgesight.sensor.detector import Detector
from edgesight.sensor.images import encode_attachment
from edgesight.sensor.isp import Isp, IspOutput
from edgesight.sensor.sources import Frame, FrameSource

_QUEUE_DEPTH = 3


@dataclass(frozen=True)
class SensorSettings:
    """How a sensor runs a model on a source (the device config's ``sensor`` section maps onto it).

    Attributes:
        device_id: written into every record.
        stream_id: which of the device's sources this is.
        roi: region of interest normalised to the full frame, None for all of it.
        thresholds: overrides of the model's default thresholds.
        tiling: override of the model's default tiling.
        output_mode: metadata only (default) or an opt-in image mode.
        image_width: width in pixels of an attached image in the image modes.
        threads: ONNX Runtime threads (1 leaves the other core to decoding and the ISP).
        appearance: attach a torso colour histogram to each detection for the tracker
            (:attr:`Detections.embedding`, in-process only).
    """

    device_id: str = "edgesight-0"
    stream_id: str = "main"
    roi: Region | None = None
    thresholds: Thresholds | None = None
    tiling: Tiling | None = None
    output_mode: OutputMode = OutputMode.METADATA
    image_width: int = 320
    threads: int = 1
    appearance: bool = False

    @classmethod
    def from_config(cls, config: DeviceConfig, model_thresholds: Thresholds) -> SensorSettings:
        """Settings from a device config: the one mapping of its ``sensor`` section.

        Args:
            config: the device config.
            model_thresholds: the model's default thresholds, which the section's
                ``score_threshold``/``iou_threshold``/``max_detections`` override.

        Example:
            >>> cfg = DeviceConfig.model_validate({"device_id": "cam-1", "sensor": {"score_threshold": 0.4}})
            >>> s = SensorSettings.from_config(cfg, Thresholds(score=0.3, iou=0.6, max_detections=100))
            >>> s.device_id, s.thresholds.score, s.roi
            ('cam-1', 0.4, None)
        """
        s = config.sensor
        return cls(
            device_id=config.device_id,
            stream_id=config.stream_id,
            roi=s.roi,
            thresholds=s.thresholds(model_thresholds),
            tiling=s.tiling,
            output_mode=s.output_mode,
            image_width=s.image_width,
            threads=s.threads,
            appearance=_wants_appearance(config),
        )


@dataclass
class SensorStats:
    """Running totals of one sensor run."""

    frames: int = 0
    detections: int = 0
    isp_ms: float = 0.0
    dnn_ms: float = 0.0
    post_ms: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    @property
    def fps(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.frames / elapsed if elapsed > 0 else 0.0


@dataclass(frozen=True, slots=True)
class _Prepared:
    frame: Frame
    passes: list[IspOutput]
    isp_ms: float
    image: ImageAttachment | None


class _End:
    """Queue marker: the source is exhausted (or failed with ``error``)."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class Sensor:
    """Runs one model package over one frame source.

    Example (on the shipped model and a synthetic clip)::

        with open_source("data/vtest.avi") as source:
            for meta in Sensor(source, load_model()).run(max_frames=10):
                print(meta.frame_index, len(meta.detections))
    """

    def __init__(
        self, source: FrameSource, package: ModelPackage, settings: SensorSettings | None = None
    ) -> None:
        self.source = source
        self.package = package
        self.settings = settings or SensorSettings()
        intrinsics = package.intrinsics
        self.detector = Detector(package, self.settings.thresholds, self.settings.threads)
        self.isp = Isp(intrinsics.input, self.settings.roi, self.settings.tiling or intrinsics.tiling)
        self.model_ref = ModelRef(package.id, package.version)
        self.stats = SensorStats()
        self._seq = 0
        self.last_frame: Frame | None = None  # the frame of the record last yielded (local drawing)

    def set_thresholds(self, thresholds: Thresholds | None) -> None:
        """Change the detection thresholds live, from the next frame on; None restores the model's.

        The score, IoU and max-detections thresholds are the sensor keys a device changes without
        a restart (the desired twin); the model, source, ROI and tiling need a new sensor.
        """
        self.detector.thresholds = thresholds or self.package.intrinsics.thresholds

    def run(self, max_frames: int | None = None) -> Iterator[FrameMeta]:
        """Yield one record per decoded frame until the source ends or ``max_frames`` is reached."""
        prepared: queue.Queue[_Prepared | _End] = queue.Queue(maxsize=_QUEUE_DEPTH)
        stop = threading.Event()
        producer = threading.Thread(
            target=self._produce, args=(prepared, stop, max_frames), name="edgesight-isp", daemon=True
        )
        self.stats = SensorStats()
        producer.start()
        try:
            while True:
                item = prepared.get()
                if isinstance(item, _End):
                    if item.error is not None:
                        raise item.error
                    return
                yield self._infer(item)
        finally:
            stop.set()
            _drain(prepared)
            producer.join(timeout=5.0)

    def _produce(
        self, out: queue.Queue[_Prepared | _End], stop: threading.Event, max_frames: int | None
    ) -> None:
        try:
            for count, frame in enumerate(self.source):
                if stop.is_set() or (max_frames is not None and count >= max_frames):
                    break
                t0 = time.perf_counter()
                passes = self.isp.process(frame)
                isp_ms = (time.perf_counter() - t0) * 1e3
                image = encode_attachment(
                    frame, self.settings.output_mode, self.settings.roi, self.settings.image_width
                )
                if not _put(out, _Prepared(frame, passes, isp_ms, image), stop):
                    return
            _put(out, _End(), stop)
        except BaseException as exc:  # forwarded to the consumer, which re-raises it in the caller
            _put(out, _End(exc), stop)

    def _infer(self, item: _Prepared) -> FrameMeta:
        detections, timings = self.detector.detect(item.passes, self.isp.roi)
        frame = self.last_frame = item.frame
        if self.settings.appearance and len(detections):
            detections = detections.with_embedding(torso_histograms(frame.to_bgr(), detections.xyxy))
        meta = FrameMeta(
            device_id=self.settings.device_id,
            stream_id=self.settings.stream_id,
            seq=self._seq,
            frame_index=frame.index,
            timestamp=frame.timestamp,
            model=self.model_ref,
            frame_size=(frame.width, frame.height),
            detections=detections,
            kpi=Kpi(isp_ms=item.isp_ms, dnn_ms=timings.dnn_ms, post_ms=timings.post_ms),
            image=item.image,
        )
        self._seq += 1
        self._account(meta.kpi, detections)
        return meta

    def _account(self, kpi: Kpi, detections: Detections) -> None:
        s = self.stats
        s.frames += 1
        s.detections += len(detections)
        s.isp_ms += kpi.isp_ms
        s.dnn_ms += kpi.dnn_ms
        s.post_ms += kpi.post_ms


def _wants_appearance(config: DeviceConfig) -> bool:
    """The device's tracker uses appearance (the default tracker, with ``appearance`` on)."""
    tracking = config.analytics.tracking
    return tracking.enabled and tracking.method != "bytetrack" and tracking.appearance


def _put(out: queue.Queue[_Prepared | _End], item: _Prepared | _End, stop: threading.Event) -> bool:
    """Put unless the consumer has stopped; never blocks forever."""
    while not stop.is_set():
        try:
            out.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _drain(q: queue.Queue[_Prepared | _End]) -> None:
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return
