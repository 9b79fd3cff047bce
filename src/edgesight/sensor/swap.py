"""A model loaded beside the running one, self-tested, ready for :meth:`Sensor.swap_model`.

A :class:`LoadedModel` is everything that depends on the package: the detector (its ONNX Runtime
sessions and decoder), the ISP shaped for its input, and the reference written into each record.
The sensor reads its current ``LoadedModel`` once per frame, so swapping one object swaps every
part at a frame boundary; the frames already in flight finish with the model they started with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgesight.core.config.sensor import Runtime
from edgesight.core.detections import Detections
from edgesight.core.errors import ModelLoadError
from edgesight.core.frame import ModelRef
from edgesight.core.intrinsics import Thresholds, Tiling
from edgesight.core.package import ModelPackage
from edgesight.core.region import Region
from edgesight.sensor.detector import Detector
from edgesight.sensor.isp import Isp
from edgesight.sensor.sources import Frame

__all__ = ["LoadedModel", "load_beside", "self_test"]

_SYNTHETIC_SIZE = (480, 640)


@dataclass(frozen=True)
class LoadedModel:
    """A package ready to run.

    Attributes:
        tolerate_errors: a frame whose inference fails is counted (``SensorStats.errors``) and
            yields no detections instead of stopping the sensor: set for a model on probation
            after a swap, whose error rate the agent watches and rolls back on.
    """

    package: ModelPackage
    detector: Detector
    isp: Isp
    ref: ModelRef
    tolerate_errors: bool = False


def load_beside(
    package: ModelPackage,
    *,
    roi: Region | None,
    tiling: Tiling | None,
    auto_tiling: bool,
    thresholds: Thresholds | None,
    threads: int,
    sessions: int,
    tolerate_errors: bool = False,
    nms_depth_gap: float = 0.0,
    runtime: Runtime = "auto",
) -> LoadedModel:
    """Build the detector and ISP of ``package`` (the network is loaded and its outputs checked).

    ``nms_depth_gap``: the detector's NMS depth rule (see :class:`~edgesight.sensor.detector.Detector`);
    ``runtime``: what runs the network (see :mod:`edgesight.sensor.runtime_policy`).

    Raises:
        ModelLoadError: the network does not load or its outputs do not fit its decoder.
    """
    try:
        detector = Detector(package, thresholds, threads, sessions, nms_depth_gap, runtime)
    except ModelLoadError:
        raise
    except Exception as exc:  # the runtimes raise their own types for a graph they cannot load
        raise ModelLoadError(f"{package.name}: the network does not load ({type(exc).__name__}: {exc})") from exc
    own = package.intrinsics.tiling
    model_tiling = own if own.rows * own.cols > 1 else None
    isp = Isp(package.intrinsics.input, roi, tiling or model_tiling, auto_tiling=auto_tiling)
    return LoadedModel(package, detector, isp, ModelRef(package.id, package.version), tolerate_errors)


def self_test(model: LoadedModel, frame: Frame | None) -> Detections:
    """Run ``model`` on ``frame`` (a recent camera frame; None: a synthetic grey one) and check that
    its outputs decode into sane detections.

    Raises:
        ModelLoadError: inference failed, or boxes are not finite or labels out of range.
    """
    if frame is None:
        frame = Frame.from_bgr(0, 0.0, np.full((*_SYNTHETIC_SIZE, 3), 114, np.uint8))
    name = model.package.name
    try:
        passes = model.isp.process(frame)
        detections, _timings = model.detector.detect(passes, model.isp.roi)
    except Exception as exc:  # whatever the network or decoder raises is a failed self-test
        raise ModelLoadError(f"{name}: self-test failed ({type(exc).__name__}: {exc})") from exc
    if not np.isfinite(detections.xyxy).all():
        raise ModelLoadError(f"{name}: self-test failed: boxes that are not finite numbers")
    if not ((detections.confidence >= 0) & (detections.confidence <= 1)).all():
        raise ModelLoadError(f"{name}: self-test failed: scores outside 0..1")
    return detections
