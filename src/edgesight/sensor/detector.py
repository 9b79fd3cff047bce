"""Detector: network + decoder + NMS, from ISP tensors to `Detections` in source-frame pixels."""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass

import numpy as np

from edgesight.core.config.sensor import Runtime
from edgesight.core.detections import Detections
from edgesight.core.intrinsics import Thresholds
from edgesight.core.package import ModelPackage
from edgesight.core.region import Region
from edgesight.sensor.decoders import Candidates, build_decoder, nms
from edgesight.sensor.isp import BoxTransform, IspOutput
from edgesight.sensor.runtime import Network
from edgesight.sensor.runtime_policy import open_network

__all__ = ["Detector", "DetectorTimings"]

# A tile's box that reaches within this many source pixels of an inner tile edge is cut by the
# tile: the overlap or the whole-ROI pass sees that object whole, so the cut box is dropped.
_EDGE_MARGIN_PX = 2.0
_EPS = 1e-6


@dataclass(frozen=True, slots=True)
class DetectorTimings:
    """Milliseconds spent in the network and in post-processing for one frame."""

    dnn_ms: float
    post_ms: float


class Detector:
    """Runs a model package on the ISP's outputs for one frame.

    :meth:`detect` may be called from ``sessions`` threads at once: each call borrows one of the
    detector's sessions (loaded networks; each runs one inference at a time); decoding and NMS
    keep no state. Thresholds are shared, so changing them applies to every session.

    Args:
        package: a verified model package.
        thresholds: overrides of the package's default thresholds (None keeps them).
        threads: inference threads per session.
        sessions: sessions, i.e. frames that can be in inference at the same time.
        nms_depth_gap: NMS keeps a box scoring below the package's own score threshold when its
            bottom edge is more than this fraction of the box height from the suppressing box's
            (two people in depth; see :func:`~edgesight.sensor.decoders.nms.nms`). Only a
            ``thresholds.score`` below the package's sees a difference. 0 (default): plain NMS;
            the device config's ``sensor.nms_depth_gap`` sets it for a sensor.
        runtime: what runs the network (see :mod:`edgesight.sensor.runtime_policy`).
    """

    def __init__(
        self,
        package: ModelPackage,
        thresholds: Thresholds | None = None,
        threads: int = 1,
        sessions: int = 1,
        nms_depth_gap: float = 0.0,
        runtime: Runtime = "auto",
    ) -> None:
        self.package = package
        self.nms_depth_gap = nms_depth_gap
        self.thresholds = thresholds or package.intrinsics.thresholds
        self.network = open_network(package, runtime, threads)
        self.decoder = build_decoder(package)
        self.decoder.check_outputs(self.network.output_shapes)
        self._labels = np.asarray(package.labels, dtype=np.str_)
        self._free: queue.SimpleQueue[Network] = queue.SimpleQueue()
        self._free.put(self.network)
        for _ in range(sessions - 1):
            self._free.put(open_network(package, runtime, threads))

    def detect(self, passes: list[IspOutput], roi: Region) -> tuple[Detections, DetectorTimings]:
        """Detections in source-frame pixels from all ISP passes of one frame (whole ROI and tiles)."""
        dnn_s = 0.0
        post_s = 0.0
        parts: list[Candidates] = []
        thresholds = self.thresholds  # one frame, one set of thresholds, even if changed meanwhile
        network = self._free.get()
        try:
            outputs_per_pass = []
            for isp_out in passes:
                t0 = time.perf_counter()
                outputs_per_pass.append(network.run(isp_out.tensor))
                dnn_s += time.perf_counter() - t0
        finally:
            self._free.put(network)
        for isp_out, outputs in zip(passes, outputs_per_pass, strict=True):
            t1 = time.perf_counter()
            cands = self.decoder(outputs, thresholds.score)
            cands = Candidates(isp_out.transform.to_source(cands.xyxy), cands.scores, cands.class_ids)
            if isp_out.region != roi and len(cands):
                cands = _drop_cut_boxes(cands, isp_out.region, roi, isp_out.transform)
            parts.append(cands)
            post_s += time.perf_counter() - t1
        t2 = time.perf_counter()
        detections = self._finish(parts, thresholds)
        post_s += time.perf_counter() - t2
        return detections, DetectorTimings(dnn_ms=dnn_s * 1e3, post_ms=post_s * 1e3)

    def _finish(self, parts: list[Candidates], thresholds: Thresholds) -> Detections:
        xyxy = np.concatenate([p.xyxy for p in parts]).astype(np.float32)
        scores = np.concatenate([p.scores for p in parts])
        class_ids = np.concatenate([p.class_ids for p in parts])
        own_score = self.package.intrinsics.thresholds.score
        keep = nms(xyxy, scores, class_ids, thresholds.iou, thresholds.max_detections, self.nms_depth_gap, own_score)
        ids = class_ids[keep]
        return Detections(xyxy[keep], scores[keep], ids, self._labels[ids])


def _drop_cut_boxes(cands: Candidates, tile: Region, roi: Region, transform: BoxTransform) -> Candidates:
    """Drop a tile's boxes that touch one of its inner edges (edges that are not the ROI's own).

    Boxes are in source pixels; ``transform`` knows the frame size.
    """
    w, h = transform.frame_width, transform.frame_height
    inf = np.float32(np.inf)
    left = tile.x * w if tile.x > roi.x + _EPS else -inf
    top = tile.y * h if tile.y > roi.y + _EPS else -inf
    right = tile.x2 * w if tile.x2 < roi.x2 - _EPS else inf
    bottom = tile.y2 * h if tile.y2 < roi.y2 - _EPS else inf
    x1, y1, x2, y2 = cands.xyxy.T
    m = _EDGE_MARGIN_PX
    keep = ~((x1 <= left + m) | (y1 <= top + m) | (x2 >= right - m) | (y2 >= bottom - m))
    return Candidates(cands.xyxy[keep], cands.scores[keep], cands.class_ids[keep])
