"""Model factory worked example: the general detector vs the one adapted to vtest.avi, fp32 and int8.

Runs each model in the real sensor (its own input size, tiling and ISP) over the held-out second
half of data/vtest.avi and scores the ``person`` detections against tests/data/vtest_people.csv
with supervision's mAP50 / mAP50-95 ("don't care" reference boxes: a detection overlapping one by
IoU >= 0.5 is dropped, and the box is not a target). Also the network's mean latency per frame
(all passes of the frame, one ONNX Runtime thread), and the mAP at the same decoder floor for all.

"Same precision": each model's precision and recall at its own shipped score threshold, and its
best recall at a precision at least that of the first model at its threshold (``R@P``), from a
sweep of thresholds with bench/evaluation.py's one-to-one matching at IoU 0.5.

    python bench/factory_bench.py --trusted-key keys/me.pub \
        --adapted runs/vtest-people.espkg --adapted runs/vtest-people-int8.espkg
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import supervision as sv
from supervision.metrics import MeanAveragePrecision

from edgesight.core.config.model_trust import TrustSettings
from edgesight.core.intrinsics import Thresholds
from edgesight.core.signing import load_public_key, public_key_text
from edgesight.sensor.detector import Detector
from edgesight.sensor.isp import Isp
from edgesight.sensor.sources import open_source
from edgesight.sensor.zoo import load_model
from evaluation import FrameBoxes, IgnoreRule, Sweep, read_mot, reference_frames, sweep_thresholds

REPO = Path(__file__).resolve().parents[1]
EVAL_SCORE = 0.05  # every model is scored from the same low floor, as mAP needs


def run(model: str, video: Path, first: int, step: int, trust: TrustSettings) -> tuple[dict[int, sv.Detections], float]:
    """Person detections per held-out frame, and the mean network time per frame (ms).

    The sensor's own ISP and detector, with the model's input size and tiling; frames before
    ``first`` are decoded and skipped.
    """
    package = load_model(model, trust)
    base = package.intrinsics.thresholds
    detector = Detector(package, Thresholds(score=EVAL_SCORE, iou=base.iou, max_detections=300), threads=1)
    isp = Isp(package.intrinsics.input, tiling=package.intrinsics.tiling)
    out: dict[int, sv.Detections] = {}
    dnn_ms: list[float] = []
    with open_source(str(video)) as source:
        for frame in source:
            if frame.index < first or (frame.index - first) % step:
                continue
            det, timings = detector.detect(isp.process(frame), isp.roi)
            keep = det.class_name == "person"
            out[frame.index] = sv.Detections(
                xyxy=det.xyxy[keep].reshape(-1, 4).astype(np.float32),
                confidence=det.confidence[keep].astype(np.float32),
                class_id=np.zeros(int(keep.sum()), int),
            )
            dnn_ms.append(timings.dnn_ms)
    return out, float(np.mean(dnn_ms))


def score(predictions: dict[int, sv.Detections], reference: Path) -> tuple[float, float]:
    frames = reference_frames(read_mot(reference), IgnoreRule())
    preds, targets = [], []
    for index, det in sorted(predictions.items()):
        ref = frames.get(index)
        if ref is None or len(ref) == 0:
            preds.append(det)
            targets.append(sv.Detections.empty())
            continue
        scored = ref.xyxy[~ref.ignore]
        ignored = ref.xyxy[ref.ignore]
        if len(ignored) and len(det):
            det = det[sv.box_iou_batch(det.xyxy, ignored).max(1) < 0.5]
        preds.append(det)
        targets.append(sv.Detections(xyxy=scored.astype(np.float32), class_id=np.zeros(len(scored), int)))
    result = MeanAveragePrecision().update(preds, targets).compute()
    return float(result.map50), float(result.map50_95)


def sweep(predictions: dict[int, sv.Detections], reference: Path) -> Sweep:
    """Precision and recall at score thresholds 0.05, 0.06, ... 0.95 (don't-care boxes as in :func:`score`)."""
    frames = reference_frames(read_mot(reference), IgnoreRule())
    detections = {i: FrameBoxes.from_arrays(d.xyxy, score=d.confidence) for i, d in predictions.items()}
    thresholds = [round(t, 2) for t in np.arange(0.05, 0.955, 0.01)]
    return sweep_thresholds(frames, detections, sorted(predictions), thresholds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--general", action="append", default=None, help="zoo models (default: nanodet-plus-m-416 int8, fp32)")
    parser.add_argument("--adapted", action="append", default=[], help="adapted .espkg files")
    parser.add_argument("--video", type=Path, default=REPO / "data" / "vtest.avi")
    parser.add_argument("--reference", type=Path, default=REPO / "tests" / "data" / "vtest_people.csv")
    parser.add_argument("--first", type=int, default=397, help="first held-out frame (the second half)")
    parser.add_argument("--step", type=int, default=1, help="score every STEP-th held-out frame")
    parser.add_argument("--trusted-key", type=Path, action="append", default=[], help="public key the adapted packages are signed with")
    args = parser.parse_args()
    trust = TrustSettings(trusted_keys=tuple(public_key_text(load_public_key(p)) for p in args.trusted_key))
    models = (args.general or ["nanodet-plus-m-416-int8", "nanodet-plus-m-416-fp32"]) + args.adapted
    print(f"held-out frames {args.first}.. of {args.video.name} (every {args.step})")
    print(
        f"{'model':<28} {'input':>9} {'tiles':>5} {'prec':>5} {'mAP50':>6} {'mAP50-95':>8} {'thr':>5} "
        f"{'P':>6} {'R':>6} {'R@P':>6} {'dnn ms/frame':>12}"
    )
    reference_precision: float | None = None
    for model in models:
        package = load_model(model, trust)
        i = package.intrinsics
        predictions, ms = run(model, args.video, args.first, args.step, trust)
        map50, map50_95 = score(predictions, args.reference)
        curve = sweep(predictions, args.reference)
        own = min(curve.points, key=lambda p: abs(p.threshold - i.thresholds.score)).counts
        if reference_precision is None:
            reference_precision = own.precision
        at = curve.best_recall(reference_precision)
        tiles = i.tiling.rows * i.tiling.cols + (1 if i.tiling.include_full and i.tiling.rows * i.tiling.cols > 1 else 0)
        print(
            f"{Path(model).stem:<28} {i.input.width}x{i.input.height:<5} {tiles:>5} {i.precision:>5} "
            f"{map50 * 100:>6.1f} {map50_95 * 100:>8.1f} {i.thresholds.score:>5.2f} {own.precision:>6.3f} "
            f"{own.recall:>6.3f} {at.counts.recall if at else float('nan'):>6.3f} {ms:>12.1f}"
        )
    print(f"R@P: best recall at precision >= {reference_precision:.3f} (the first model's at its threshold)")


if __name__ == "__main__":
    main()
