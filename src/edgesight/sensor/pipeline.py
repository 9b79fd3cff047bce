"""The sensor: frames in, metadata out, with decoding + ISP overlapped with inference.

Decoding and the ISP run in a producer thread; inference runs in one worker per session (a
loaded network; by default one single-threaded session per core), each on its own frame, so every
core does useful work. PyAV, libswscale, ONNX Runtime and OpenVINO all release the GIL. Records come out in the
source's frame order whatever order the workers finish in. The queue between the stages is small
and bounded: the sensor never buffers more than a few frames.

A file source waits for the sensor: every frame is analysed. A live source (camera, stream) does
not: when inference falls behind, the frame waiting for a worker is replaced by the newest one and
counted in ``SensorStats.dropped``, and frames beyond the model's ``inference_rate`` are skipped
before any work (``SensorStats.skipped``), as a real sensor does.

The model can be replaced while the sensor runs (:meth:`Sensor.load_model` beside the running one,
then :meth:`Sensor.swap_model`): each frame is processed, ISP to decoder, by the model current
when the producer picked the frame up, so a swap takes effect at a frame boundary.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from edgesight.core.config import DeviceConfig
from edgesight.core.config.sensor import DEFAULT_NMS_DEPTH_GAP, Deblocking, Runtime
from edgesight.core.detections import Detections
from edgesight.core.frame import FrameMeta, ImageAttachment, Kpi, ModelRef, OutputMode
from edgesight.core.intrinsics import Thresholds, Tiling
from edgesight.core.package import ModelPackage
from edgesight.core.region import Region
from edgesight.sensor import deblocking_policy
from edgesight.sensor.appearance import frame_histograms
from edgesight.sensor.detector import Detector, DetectorTimings
from edgesight.sensor.images import encode_attachment
from edgesight.sensor.isp import Isp, IspOutput
from edgesight.sensor.sources import BaseFrameSource, Frame, FrameSource
from edgesight.sensor.swap import LoadedModel, load_beside

__all__ = ["Sensor", "SensorSettings", "SensorStats", "default_sessions"]

_QUEUE_DEPTH = 3
_LIVE_QUEUE_DEPTH = 1
"""A live source keeps only the newest prepared frame waiting for a worker."""
_MAX_SESSIONS = 8


def default_sessions() -> int:
    """One inference session per core this process may run on (at most 8).

    Example:
        >>> 1 <= default_sessions() <= 8
        True
    """
    return max(1, min(_MAX_SESSIONS, len(os.sched_getaffinity(0))))


@dataclass(frozen=True)
class SensorSettings:
    """How a sensor runs a model on a source (the device config's ``sensor`` section maps onto it).

    Attributes:
        device_id: written into every record.
        stream_id: which of the device's sources this is.
        roi: region of interest normalised to the full frame, None for all of it.
        thresholds: overrides of the model's default thresholds.
        tiling: tiles to run, overriding the default (the model's own tiling if it has one,
            else the automatic choice, see ``auto_tiling``).
        auto_tiling: with no tiling set and none in the model, choose tiles from the frame size
            (only for an ROI much larger than the network input, such as 4K; see
            :mod:`edgesight.sensor.tiling_policy`); False runs the ROI whole.
        output_mode: metadata only (default) or an opt-in image mode.
        image_width: width in pixels of an attached image in the image modes.
        threads: inference threads per session.
        appearance: attach a torso colour histogram to each detection for the tracker
            (:attr:`Detections.embedding`, in-process only).
        sessions: inference sessions working on successive frames at once; None = one per core.
        nms_depth_gap: NMS's depth rule for boxes below the model's own score threshold (see
            :func:`~edgesight.sensor.decoders.nms.nms`); 0 is plain NMS.
        deblocking: whether video decoders run their deblocking filter: ``"auto"`` skips it where
            the network sees the frame much smaller and no one sees frames (see
            :mod:`edgesight.sensor.deblocking_policy`), ``"on"``, ``"off"``.
        runtime: what runs the network: ``"auto"`` (see :mod:`edgesight.sensor.runtime_policy`),
            ``"onnxruntime"``, ``"openvino"``.
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
    sessions: int | None = None
    auto_tiling: bool = True
    nms_depth_gap: float = DEFAULT_NMS_DEPTH_GAP
    deblocking: Deblocking = "auto"
    runtime: Runtime = "auto"

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
            auto_tiling=s.auto_tiling,
            nms_depth_gap=s.nms_depth_gap,
            deblocking=s.deblocking,
            runtime=s.runtime,
        )


@dataclass
class SensorStats:
    """Running totals of one sensor run.

    ``dropped``: live frames replaced by a newer one while waiting for inference (the sensor was
    behind the camera). ``skipped``: live frames above the model's ``inference_rate``, never
    processed. Both stay 0 for files. ``errors``: frames whose inference failed under a model on
    probation (see :class:`~edgesight.sensor.swap.LoadedModel`); they carry no detections.
    """

    frames: int = 0
    dropped: int = 0
    skipped: int = 0
    errors: int = 0
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
    model: LoadedModel


@dataclass(frozen=True, slots=True)
class _Result:
    meta: FrameMeta
    frame: Frame
    failed: bool


class RateGate:
    """Admits at most ``rate`` frames per second of source time: a token bucket that starts with
    one frame and holds at most 1.5, so a camera running exactly at ``rate`` with jittery
    timestamps loses none, and no burst goes through.

    Example:
        >>> gate = RateGate(10.0)
        >>> [gate.admit(t / 20) for t in range(6)]   # 20 fps in, 10 fps out
        [True, False, True, False, True, False]
    """

    _CAPACITY = 1.5

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._tokens = 1.0
        self._last: float | None = None

    def admit(self, timestamp: float) -> bool:
        """True if the frame stamped ``timestamp`` (seconds) is to be processed."""
        if self._last is not None:
            elapsed = max(0.0, timestamp - self._last)
            self._tokens = min(self._CAPACITY, self._tokens + elapsed * self.rate)
        self._last = timestamp
        if self._tokens >= 1.0 - 1e-9:
            self._tokens -= 1.0
            return True
        return False


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
        self.settings = settings or SensorSettings()
        self.sessions = self.settings.sessions or default_sessions()
        self._model = self.load_model(package, self.settings.thresholds, tolerate_errors=False)
        self._swap_lock = threading.Lock()
        self.stats = SensorStats()
        self.live = source.live
        self._seq = 0
        self.last_frame: Frame | None = None  # the frame of the record last yielded (local drawing)
        if isinstance(source, BaseFrameSource):
            source.set_deblocking(self.deblocks)

    def deblocks(self, width: int, height: int) -> bool:
        """Whether the source's decoder runs its deblocking filter on ``width`` x ``height`` frames
        (the source asks when it starts decoding): :func:`~edgesight.sensor.deblocking_policy.deblocks`
        for what the current model's ISP makes of that size; attached images keep the filter."""
        shown = self.settings.output_mode is not OutputMode.METADATA
        return deblocking_policy.deblocks(self.settings.deblocking, self.isp.downscale(width, height), shown)

    @property
    def model(self) -> LoadedModel:
        """The model frames are picked up by now."""
        return self._model

    @property
    def package(self) -> ModelPackage:
        return self._model.package

    @property
    def detector(self) -> Detector:
        return self._model.detector

    @property
    def isp(self) -> Isp:
        return self._model.isp

    @property
    def model_ref(self) -> ModelRef:
        return self._model.ref

    def load_model(
        self, package: ModelPackage, thresholds: Thresholds | None, *, tolerate_errors: bool = True
    ) -> LoadedModel:
        """Load ``package`` with this sensor's ROI, tiling, threads and sessions, beside the
        running model (which keeps running). ``thresholds``: overrides of the package's own.

        Raises:
            ModelLoadError: the network does not load or its outputs do not fit its decoder.
        """
        s = self.settings
        return load_beside(
            package, roi=s.roi, tiling=s.tiling, auto_tiling=s.auto_tiling, thresholds=thresholds,
            threads=s.threads, sessions=self.sessions, tolerate_errors=tolerate_errors,
            nms_depth_gap=s.nms_depth_gap, runtime=s.runtime,
        )  # fmt: skip

    def swap_model(self, model: LoadedModel) -> LoadedModel:
        """Make ``model`` the one the next frame is processed with; returns the one it replaces.

        Thread-safe and immediate: the producer reads the current model once per frame, so the
        frames already picked up (in inference, queued after the ISP, and in the ISP: at most
        ``sessions + 5`` for a file, fewer live) finish with the old model and every later frame
        uses the new one.
        """
        with self._swap_lock:
            old, self._model = self._model, model
        return old

    def set_thresholds(self, thresholds: Thresholds | None) -> None:
        """Change the detection thresholds live; None restores the model's.

        They apply from the next frame to start inference: the frames already in flight (at most
        ``sessions + 1``, a fraction of a second) finish with the thresholds they started with.

        The score, IoU and max-detections thresholds are the sensor keys a device changes without
        a restart (the desired twin); the model, source, ROI and tiling need a new sensor.
        """
        self.detector.thresholds = thresholds or self.package.intrinsics.thresholds

    def run(self, max_frames: int | None = None) -> Iterator[FrameMeta]:
        """Yield one record per analysed frame, in frame order, until the source ends or
        ``max_frames`` frames have been read from it (for a live source, dropped and skipped
        frames count as read)."""
        depth = _LIVE_QUEUE_DEPTH if self.live else _QUEUE_DEPTH
        prepared: queue.Queue[_Prepared | _End] = queue.Queue(maxsize=depth)
        stop = threading.Event()
        producer = threading.Thread(
            target=self._produce, args=(prepared, stop, max_frames), name="edgesight-isp", daemon=True
        )
        self.stats = SensorStats()
        self._seq = 0
        in_flight: deque[Future[_Result]] = deque()
        workers = ThreadPoolExecutor(max_workers=self.sessions, thread_name_prefix="edgesight-dnn")
        producer.start()
        try:
            while True:
                item = prepared.get()
                if isinstance(item, _End):
                    while in_flight:
                        yield self._account(in_flight.popleft().result())
                    if item.error is not None:
                        raise item.error
                    return
                in_flight.append(workers.submit(self._infer, item, self._seq))
                self._seq += 1
                # The oldest frame is yielded first, keeping the order. A file keeps one frame
                # queued beyond the sessions, so no worker idles while the caller handles a
                # record; a live source does not, so no frame goes stale in that queue.
                if len(in_flight) >= self.sessions + (0 if self.live else 1):
                    yield self._account(in_flight.popleft().result())
        finally:
            stop.set()
            _drain(prepared)
            for future in in_flight:
                future.cancel()
            workers.shutdown(wait=True)
            producer.join(timeout=5.0)

    def _produce(
        self, out: queue.Queue[_Prepared | _End], stop: threading.Event, max_frames: int | None
    ) -> None:
        gate = RateGate(self.package.intrinsics.inference_rate) if self.live else None
        try:
            for count, frame in enumerate(self.source):
                if stop.is_set() or (max_frames is not None and count >= max_frames):
                    break
                if gate is not None and not gate.admit(frame.timestamp):
                    self.stats.skipped += 1
                    continue
                model = self._model  # one model for this frame, from ISP to decoder
                t0 = time.perf_counter()
                passes = model.isp.process(frame)
                isp_ms = (time.perf_counter() - t0) * 1e3
                image = encode_attachment(
                    frame, self.settings.output_mode, self.settings.roi, self.settings.image_width
                )
                if self.live:
                    self._replace_waiting(out)
                if not _put(out, _Prepared(frame, passes, isp_ms, image, model), stop):
                    return
            _put(out, _End(), stop)
        except BaseException as exc:  # forwarded to the consumer, which re-raises it in the caller
            _put(out, _End(exc), stop)

    def _replace_waiting(self, out: queue.Queue[_Prepared | _End]) -> None:
        """Live sources: a frame still waiting for a worker is dropped for the newer one."""
        try:
            out.get_nowait()
        except queue.Empty:
            return
        self.stats.dropped += 1

    def _infer(self, item: _Prepared, seq: int) -> _Result:
        """One frame through the network (runs in a worker thread)."""
        model = item.model
        failed = False
        try:
            detections, timings = model.detector.detect(item.passes, model.isp.roi)
        except Exception:
            if not model.tolerate_errors:
                raise
            failed = True  # counted; the agent watching the probation rolls back past its limit
            detections, timings = Detections.empty(), DetectorTimings(0.0, 0.0)
        frame = item.frame
        if self.settings.appearance and len(detections):
            detections = detections.with_embedding(frame_histograms(frame, detections.xyxy))
        meta = FrameMeta(
            device_id=self.settings.device_id,
            stream_id=self.settings.stream_id,
            seq=seq,
            frame_index=frame.index,
            timestamp=frame.timestamp,
            model=model.ref,
            frame_size=(frame.width, frame.height),
            detections=detections,
            kpi=Kpi(isp_ms=item.isp_ms, dnn_ms=timings.dnn_ms, post_ms=timings.post_ms),
            image=item.image,
        )
        return _Result(meta, frame, failed)

    def _account(self, result: _Result) -> FrameMeta:
        """Counts the record about to be yielded, and keeps its frame as :attr:`last_frame`."""
        meta, self.last_frame = result.meta, result.frame
        s, kpi = self.stats, meta.kpi
        s.frames += 1
        s.errors += result.failed
        s.detections += len(meta.detections)
        s.isp_ms += kpi.isp_ms
        s.dnn_ms += kpi.dnn_ms
        s.post_ms += kpi.post_ms
        return meta


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
