"""Detection accuracy of a network on labelled images: mAP50 and mAP50-95 with supervision's metric.

Used per epoch during training (on the head's outputs) and to compare fp32 with int8 (on whole
ONNX networks run with ONNX Runtime, with the sensor's pre-processing restated in
:mod:`edgesight.factory.preprocess`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import supervision as sv
from supervision.metrics import MeanAveragePrecision

from edgesight.core.intrinsics import Intrinsics
from edgesight.factory.datasets import DetectionSample
from edgesight.factory.preprocess import read_bgr, to_tensor

__all__ = ["EVAL_SCORE_THRESHOLD", "Accuracy", "best_score_threshold", "cell_grid", "decode", "evaluate_network", "mean_average_precision", "targets_of"]

EVAL_SCORE_THRESHOLD = 0.05
"""Detections below this score are dropped before mAP (the usual COCO-style evaluation floor)."""


@dataclass(frozen=True)
class Accuracy:
    map50: float
    map50_95: float

    def __str__(self) -> str:
        return f"mAP50 {self.map50 * 100:.1f}  mAP50-95 {self.map50_95 * 100:.1f}"


def cell_grid(
    width: int, height: int, strides: Sequence[int], centre_offset: float = 0.5
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Centres ``(P, 2)`` and strides ``(P,)`` of every head cell, in the decoder's order.

    ``centre_offset`` as the nanodet decoder's parameter (0.5 NanoDet, 0 NanoDet-Plus).

    Example:
        >>> centres, strides = cell_grid(64, 32, [32])
        >>> centres.tolist(), strides.tolist()
        ([[16.0, 16.0], [48.0, 16.0]], [32.0, 32.0])
    """
    centres, per_cell = [], []
    for s in strides:
        cols, rows = -(-width // s), -(-height // s)
        col, row = np.meshgrid(np.arange(cols), np.arange(rows))
        centres.append(np.stack([(col.ravel() + centre_offset) * s, (row.ravel() + centre_offset) * s], 1))
        per_cell.append(np.full(rows * cols, float(s)))
    return np.concatenate(centres).astype(np.float32), np.concatenate(per_cell).astype(np.float32)


def decode(
    scores: npt.NDArray[np.float32],
    reg_logits: npt.NDArray[np.float32],
    centres: npt.NDArray[np.float32],
    strides: npt.NDArray[np.float32],
    *,
    score_threshold: float,
    iou_threshold: float,
    max_detections: int,
) -> sv.Detections:
    """NanoDet outputs of one input (``(P, classes)`` sigmoid scores, ``(P, 4 * bins)`` logits) to boxes.

    Boxes are in input pixels; class-wise NMS as the sensor does it.
    """
    class_ids = scores.argmax(1)
    best = scores[np.arange(len(scores)), class_ids]
    keep = np.flatnonzero(best >= score_threshold)
    if keep.size == 0:
        return sv.Detections.empty()
    reg = reg_logits[keep].reshape(len(keep), 4, -1)
    prob = np.exp(reg - reg.max(-1, keepdims=True))
    dist = (prob @ np.arange(prob.shape[-1], dtype=np.float32)) / prob.sum(-1) * strides[keep, None]
    c = centres[keep]
    xyxy = np.concatenate([c - dist[:, :2], c + dist[:, 2:]], 1)
    det = sv.Detections(xyxy=xyxy.astype(np.float32), confidence=best[keep], class_id=class_ids[keep])
    det = det.with_nms(threshold=iou_threshold, class_agnostic=False)
    order = np.argsort(-det.confidence)[:max_detections]  # type: ignore[operator]
    return cast(sv.Detections, det[order])


def targets_of(sample: DetectionSample) -> sv.Detections:
    """The labelled boxes of a sample, for the metric."""
    if len(sample.xyxy) == 0:
        return sv.Detections.empty()
    return sv.Detections(xyxy=sample.xyxy, class_id=sample.class_ids.astype(int))


def mean_average_precision(predictions: list[sv.Detections], targets: list[sv.Detections]) -> Accuracy:
    """mAP50 and mAP50-95 (COCO-style, 101-point) over a list of images."""
    result = MeanAveragePrecision().update(predictions, targets).compute()
    return Accuracy(max(0.0, float(result.map50)), max(0.0, float(result.map50_95)))


def best_score_threshold(
    predictions: list[sv.Detections], targets: list[sv.Detections], candidates: Sequence[float] | None = None
) -> tuple[float, float]:
    """The score threshold with the best F1 (greedy matching at IoU 0.5) and that F1.

    This is the default threshold the package ships: the operating point found on validation.
    """
    grid = candidates if candidates is not None else [round(t, 2) for t in np.arange(0.1, 0.91, 0.05)]
    best = (float(grid[0]), -1.0)
    for threshold in grid:
        tp = fp = fn = 0
        for pred, target in zip(predictions, targets, strict=True):
            kept = cast(sv.Detections, pred[pred.confidence >= threshold]) if len(pred) else pred  # type: ignore[operator]
            matched = _greedy_matches(kept, target)
            tp += matched
            fp += len(kept) - matched
            fn += len(target) - matched
        f1 = 2 * tp / max(1, 2 * tp + fp + fn)
        if f1 > best[1]:
            best = (float(threshold), f1)
    return best


def _greedy_matches(pred: sv.Detections, target: sv.Detections) -> int:
    if len(pred) == 0 or len(target) == 0:
        return 0
    iou = sv.box_iou_batch(pred.xyxy, target.xyxy)
    iou[pred.class_id[:, None] != target.class_id[None, :]] = 0  # type: ignore[index]
    used: set[int] = set()
    matched = 0
    for p in np.argsort(-pred.confidence):  # type: ignore[operator]
        candidates = [t for t in np.argsort(-iou[p]) if iou[p, t] >= 0.5 and t not in used]
        if candidates:
            used.add(int(candidates[0]))
            matched += 1
    return matched


def evaluate_network(
    network: bytes, intrinsics: Intrinsics, samples: Sequence[DetectionSample], threads: int = 2
) -> tuple[Accuracy, list[sv.Detections]]:
    """Run a whole NanoDet ONNX network on labelled images; its accuracy and detections (image pixels)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(network, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    spec = intrinsics.input
    params = intrinsics.decoder.params
    strides = list(params.get("strides", [8, 16, 32]))
    centres, cell_strides = cell_grid(spec.width, spec.height, strides, float(params.get("centre_offset", 0.5)))
    chw = params.get("layout", "cells") == "chw"
    predictions, targets = [], []
    for sample in samples:
        tensor, letterbox = to_tensor(read_bgr(sample.image), spec)
        outputs = session.run(None, {name: tensor})
        cells = [o[0].reshape(o.shape[1], -1).T if chw else o[0] for o in outputs]  # (cells, channels) each
        scores, reg = np.concatenate(cells[0::2]), np.concatenate(cells[1::2])
        det = decode(
            scores,
            reg,
            centres,
            cell_strides,
            score_threshold=EVAL_SCORE_THRESHOLD,
            iou_threshold=intrinsics.thresholds.iou,
            max_detections=intrinsics.thresholds.max_detections,
        )
        if len(det):
            det.xyxy = letterbox.to_image(np.asarray(det.xyxy, np.float32))
        predictions.append(det)
        targets.append(targets_of(sample))
    return mean_average_precision(predictions, targets), predictions
