"""The plain pipeline a user would write around the same model file, for the benchmark to beat.

OpenCV decodes each frame to a full-size BGR image, ``cv2.resize`` plus numpy letterbox (or
stretch) and normalisation make the input tensor, ONNX Runtime runs the very ``model.onnx`` of the
same ``.espkg`` with its default threads (one per core), EdgeSight's own decoder turns the outputs into boxes
(so both pipelines do identical maths there), and supervision keeps the boxes after its NMS.
Everything runs in one thread, one frame after another: the obvious loop.

    python bench/peer_pipeline.py --video data/vtest.avi --model nanodet-plus-m-416-int8
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import supervision as sv

from edgesight.core.errors import SourceError
from edgesight.core.intrinsics import Layout, ResizeMode
from edgesight.core.package import ModelPackage
from edgesight.sensor.decoders import build_decoder
from edgesight.sensor.zoo import DEFAULT_MODEL, load_model


@dataclass
class PeerStats:
    """Running totals of one peer run (milliseconds are sums over frames)."""

    frames: int = 0
    decode_ms: float = 0.0
    pre_ms: float = 0.0
    dnn_ms: float = 0.0
    post_ms: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    elapsed_s: float = 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0


class PeerPipeline:
    """cv2 + numpy + onnxruntime + supervision, configured from a model package's intrinsics."""

    def __init__(self, package: ModelPackage, threads: int = 0) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: ONNX Runtime's default, one thread per core
        self.session = ort.InferenceSession(
            package.network, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        self.spec = package.intrinsics.input
        self.thresholds = package.intrinsics.thresholds
        self.decoder = build_decoder(package)
        self.labels = np.asarray(package.labels)
        self.stats = PeerStats()

    def preprocess(
        self, bgr: npt.NDArray[np.uint8]
    ) -> tuple[npt.NDArray[np.float32], tuple[float, float, float, float]]:
        """Input tensor and the ``(scale_x, scale_y, pad_x, pad_y)`` to map boxes back."""
        spec = self.spec
        h, w = bgr.shape[:2]
        if spec.resize is ResizeMode.LETTERBOX:
            scale = min(spec.width / w, spec.height / h)
            new_w, new_h = round(w * scale), round(h * scale)
            resized = cv2.resize(bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
            pad_x, pad_y = (spec.width - new_w) // 2, (spec.height - new_h) // 2
            canvas = np.full((spec.height, spec.width, 3), spec.pad_value, np.uint8)
            canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
            geometry = (w / new_w, h / new_h, float(pad_x), float(pad_y))
        else:
            canvas = cv2.resize(bgr, (spec.width, spec.height), interpolation=cv2.INTER_LINEAR)
            geometry = (w / spec.width, h / spec.height, 0.0, 0.0)
        if spec.color.value == "RGB":
            canvas = canvas[:, :, ::-1]
        x = (canvas.astype(np.float32) - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
        if spec.layout is Layout.NCHW:
            x = x.transpose(2, 0, 1)
        return np.ascontiguousarray(x[None]), geometry

    def detect(self, bgr: npt.NDArray[np.uint8]) -> sv.Detections:
        """Detections in frame pixels for one BGR frame (timings added to ``stats``)."""
        t0 = time.perf_counter()
        tensor, (sx, sy, px, py) = self.preprocess(bgr)
        t1 = time.perf_counter()
        outputs = self.session.run(None, {self.input_name: tensor})
        t2 = time.perf_counter()
        cands = self.decoder([np.asarray(o, np.float32) for o in outputs], self.thresholds.score)
        xyxy = (cands.xyxy - (px, py, px, py)) * (sx, sy, sx, sy)
        h, w = bgr.shape[:2]
        xyxy = np.clip(xyxy, 0, (w, h, w, h)).astype(np.float32)
        det = sv.Detections(xyxy=xyxy, confidence=cands.scores, class_id=cands.class_ids)
        det = det.with_nms(threshold=self.thresholds.iou, class_agnostic=False)
        det = det[: self.thresholds.max_detections]
        det.data["class_name"] = self.labels[det.class_id] if det.class_id is not None else np.zeros(0, str)
        t3 = time.perf_counter()
        self.stats.pre_ms += (t1 - t0) * 1e3
        self.stats.dnn_ms += (t2 - t1) * 1e3
        self.stats.post_ms += (t3 - t2) * 1e3
        return det

    def run(self, video: str, start: int = 0, max_frames: int | None = None) -> Iterator[sv.Detections]:
        """Detections for frames ``start .. start + max_frames`` of a video file."""
        cap = cv2.VideoCapture(video)
        if not cap.isOpened():
            raise SourceError(f"cv2.VideoCapture cannot open {video}")
        self.stats = PeerStats()
        try:
            if start:
                cap.set(cv2.CAP_PROP_POS_FRAMES, start)
            self.stats.started = time.perf_counter()
            while max_frames is None or self.stats.frames < max_frames:
                t0 = time.perf_counter()
                ok, frame = cap.read()
                self.stats.decode_ms += (time.perf_counter() - t0) * 1e3
                if not ok:
                    break
                yield self.detect(frame)
                self.stats.frames += 1
        finally:
            self.stats.elapsed_s = time.perf_counter() - self.stats.started
            cap.release()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", default="data/vtest.avi")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--max-frames", type=int, default=None)
    args = parser.parse_args()
    peer = PeerPipeline(load_model(args.model))
    people = sum(
        int(np.sum(d.data["class_name"] == "person")) for d in peer.run(args.video, 0, args.max_frames)
    )
    s = peer.stats
    print(f"{s.frames} frames, {s.fps:.1f} fps, {people} person detections")


if __name__ == "__main__":
    main()
