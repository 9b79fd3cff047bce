"""Accuracy of detections and tracks against a reference annotation (importable helpers for bench/).

Detection scoring follows the usual per-frame protocol:

* a detection and a ground-truth (GT) box *match* when their IoU is >= ``iou_threshold`` (0.5);
* in each frame the matching is a one-to-one Hungarian assignment that maximises the summed IoU
  over admissible pairs, so a second detection of the same person is a false positive (FP);
* GT boxes flagged *ignore* (too small, out of scope, ...) are "don't care": a detection that
  matches only an ignored box is neither a TP nor an FP, and an ignored box left unmatched is
  not a false negative (FN). Valid GT are matched first; only the detections left over may then be
  absorbed by ignored GT;
* optional ignore *regions* (``xyxy`` rectangles) absorb left-over detections whose area lies
  mostly (>= ``region_cover``) inside a region.

The precision-recall sweep re-runs the matching at every score threshold (no greedy shortcut).
Greedy NMS never lets a lower-scored box suppress a higher-scored one, so thresholding the output
of one low-threshold run gives the same boxes as running the model at each threshold (as long as
``max_detections`` is not reached).

MOT metrics (MOTA, IDF1, ID switches) come from ``motmetrics`` when it is installed.

Reference files use the MOTChallenge text layout ``frame,id,x,y,w,h,conf,class,visibility``
(see ``tests/data/README.md``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

IOU_THRESHOLD = 0.5


# --------------------------------------------------------------------------------------------- boxes


def iou_matrix(a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """IoU of every box in ``a`` ``(n, 4)`` with every box in ``b`` ``(m, 4)``, both ``xyxy``.

    Example:
        >>> iou_matrix([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]]).round(3).tolist()
        [[1.0, 0.333, 0.0]]
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def coverage(boxes: npt.ArrayLike, regions: npt.ArrayLike) -> FloatArray:
    """Largest fraction of each box's area that lies inside one of ``regions`` (all ``xyxy``).

    Example:
        >>> coverage([[0, 0, 10, 10], [20, 0, 30, 10]], [[5, 0, 100, 10]]).tolist()
        [0.5, 1.0]
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    regions = np.asarray(regions, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0 or len(regions) == 0:
        return np.zeros(len(boxes))
    ix1 = np.maximum(boxes[:, None, 0], regions[None, :, 0])
    iy1 = np.maximum(boxes[:, None, 1], regions[None, :, 1])
    ix2 = np.minimum(boxes[:, None, 2], regions[None, :, 2])
    iy2 = np.minimum(boxes[:, None, 3], regions[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-12)
    return np.asarray((inter / area[:, None]).max(axis=1))


def xywh_to_xyxy(xywh: npt.ArrayLike) -> FloatArray:
    """``[x, y, w, h]`` (top-left corner and size) to ``[x1, y1, x2, y2]``.

    Example:
        >>> xywh_to_xyxy([[10, 20, 5, 8]]).tolist()
        [[10.0, 20.0, 15.0, 28.0]]
    """
    b = np.asarray(xywh, dtype=np.float64).reshape(-1, 4).copy()
    b[:, 2:] += b[:, :2]
    return b


# ------------------------------------------------------------------------------------------ matching


@dataclass(frozen=True)
class FrameMatch:
    """Outcome of matching one frame's detections to its GT.

    Attributes:
        pairs: ``(k, 2)`` int array of ``(gt_index, det_index)`` true-positive pairs.
        det_status: ``(m,)`` per detection: 1 TP, 0 FP, -1 ignored (matched an ignored GT or
            mostly inside an ignore region).
        gt_matched: ``(n,)`` bool per GT box, True when a detection matched it.
        gt_ignore: ``(n,)`` bool per GT box, True for don't-care boxes.
    """

    pairs: npt.NDArray[np.intp]
    det_status: npt.NDArray[np.int8]
    gt_matched: BoolArray
    gt_ignore: BoolArray

    @property
    def tp(self) -> int:
        return int((self.det_status == 1).sum())

    @property
    def fp(self) -> int:
        return int((self.det_status == 0).sum())

    @property
    def fn(self) -> int:
        return int((~self.gt_matched & ~self.gt_ignore).sum())


def _assign(iou: FloatArray, threshold: float) -> list[tuple[int, int]]:
    """Maximum-IoU one-to-one assignment restricted to pairs with IoU >= threshold."""
    if iou.size == 0:
        return []
    ok = iou >= threshold
    if not ok.any():
        return []
    # Inadmissible pairs get a cost that no admissible assignment can beat, then are filtered out.
    cost = np.where(ok, -iou, 1.0)
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if ok[r, c]]


def match_frame(
    gt_xyxy: npt.ArrayLike,
    det_xyxy: npt.ArrayLike,
    *,
    gt_ignore: npt.ArrayLike | None = None,
    ignore_regions: npt.ArrayLike | None = None,
    iou_threshold: float = IOU_THRESHOLD,
    region_cover: float = 0.5,
) -> FrameMatch:
    """Match one frame's detections to its GT boxes (all ``xyxy`` pixels).

    Args:
        gt_xyxy: ``(n, 4)`` GT boxes.
        det_xyxy: ``(m, 4)`` detected boxes.
        gt_ignore: ``(n,)`` bools, True for don't-care GT (None: all GT are valid).
        ignore_regions: ``(r, 4)`` rectangles where unmatched detections are not counted.
        iou_threshold: minimum IoU of a match (a pair at exactly the threshold matches).
        region_cover: fraction of a detection's area inside a region that makes it ignored.

    Example:
        >>> m = match_frame([[0, 0, 10, 20], [50, 0, 60, 20]], [[1, 0, 11, 20], [1, 1, 10, 20], [90, 0, 99, 9]])
        >>> m.tp, m.fp, m.fn
        (1, 2, 1)
    """
    gt = np.asarray(gt_xyxy, dtype=np.float64).reshape(-1, 4)
    det = np.asarray(det_xyxy, dtype=np.float64).reshape(-1, 4)
    ignore = (
        np.zeros(len(gt), dtype=bool) if gt_ignore is None else np.asarray(gt_ignore, dtype=bool).reshape(-1)
    )
    if ignore.shape != (len(gt),):
        raise ValueError(f"gt_ignore must have shape ({len(gt)},), got {ignore.shape}")
    status = np.zeros(len(det), dtype=np.int8)
    matched = np.zeros(len(gt), dtype=bool)
    iou = iou_matrix(gt, det)

    valid = np.flatnonzero(~ignore)
    pairs = [(int(valid[r]), c) for r, c in _assign(iou[valid], iou_threshold)]
    for g, d in pairs:
        status[d] = 1
        matched[g] = True

    left = np.flatnonzero(status == 0)
    ignored_gt = np.flatnonzero(ignore)
    if len(left) and len(ignored_gt):
        # A don't-care box absorbs any number of left-over detections (duplicates included).
        absorbed = (iou[np.ix_(ignored_gt, left)] >= iou_threshold).any(axis=0)
        status[left[absorbed]] = -1
        for r, _c in _assign(iou[np.ix_(ignored_gt, left)], iou_threshold):
            matched[ignored_gt[r]] = True
    if ignore_regions is not None:
        left = np.flatnonzero(status == 0)
        if len(left):
            status[left[coverage(det[left], ignore_regions) >= region_cover]] = -1
    pair_arr = np.asarray(pairs, dtype=np.intp).reshape(-1, 2)
    return FrameMatch(pair_arr, status, matched, ignore)


@dataclass
class Counts:
    """Summed TP/FP/FN over frames.

    Example:
        >>> c = Counts(tp=90, fp=5, fn=10)
        >>> round(c.precision, 3), round(c.recall, 3)
        (0.947, 0.9)
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0
    ignored: int = 0
    frames: int = 0

    def add(self, m: FrameMatch) -> None:
        self.tp += m.tp
        self.fp += m.fp
        self.fn += m.fn
        self.ignored += int((m.det_status == -1).sum())
        self.frames += 1

    @property
    def gt(self) -> int:
        """Valid (not ignored) GT boxes."""
        return self.tp + self.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


# -------------------------------------------------------------------------------------------- frames


@dataclass(frozen=True)
class FrameBoxes:
    """Boxes of one frame: ``xyxy (n, 4)`` pixels, per-box ``score``, ``track_id`` and ``ignore``."""

    xyxy: FloatArray
    score: FloatArray
    track_id: npt.NDArray[np.int64]
    ignore: BoolArray

    @classmethod
    def empty(cls) -> FrameBoxes:
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool))

    @classmethod
    def from_arrays(
        cls,
        xyxy: npt.ArrayLike,
        score: npt.ArrayLike | None = None,
        track_id: npt.ArrayLike | None = None,
        ignore: npt.ArrayLike | None = None,
    ) -> FrameBoxes:
        b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        n = len(b)
        return cls(
            b,
            np.ones(n) if score is None else np.asarray(score, dtype=np.float64).reshape(n),
            np.full(n, -1, dtype=np.int64) if track_id is None else np.asarray(track_id, np.int64).reshape(n),
            np.zeros(n, dtype=bool) if ignore is None else np.asarray(ignore, dtype=bool).reshape(n),
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def select(self, mask: npt.ArrayLike) -> FrameBoxes:
        m = np.asarray(mask)
        return FrameBoxes(self.xyxy[m], self.score[m], self.track_id[m], self.ignore[m])


ClipBoxes = Mapping[int, FrameBoxes]
"""Boxes of a clip, by 0-based frame index (frames without boxes may be missing)."""


@dataclass(frozen=True)
class ReferenceRow:
    """One row of a MOT-format reference file."""

    frame: int
    track_id: int
    xywh: tuple[float, float, float, float]
    conf: float
    cls: int
    visibility: float


def read_mot(path: Path | str) -> list[ReferenceRow]:
    """Rows of a MOT-format CSV (``frame,id,x,y,w,h,conf,class,visibility``; a header line is allowed)."""
    rows: list[ReferenceRow] = []
    with open(path, newline="") as fh:
        for lineno, rec in enumerate(csv.reader(fh), start=1):
            if not rec or rec[0].strip().startswith("#") or rec[0].strip() == "frame":
                continue
            if len(rec) < 9:
                raise ValueError(
                    f"{path}:{lineno}: expected 9 fields frame,id,x,y,w,h,conf,class,vis; got {rec}"
                )
            rows.append(
                ReferenceRow(
                    frame=int(rec[0]),
                    track_id=int(rec[1]),
                    xywh=(float(rec[2]), float(rec[3]), float(rec[4]), float(rec[5])),
                    conf=float(rec[6]),
                    cls=int(float(rec[7])),
                    visibility=float(rec[8]),
                )
            )
    return rows


@dataclass(frozen=True)
class IgnoreRule:
    """Which reference boxes are don't-care when scoring.

    Attributes:
        min_height_px: GT shorter than this (box height in pixels) is ignored.
        min_visibility: GT with a lower visibility is ignored.
        honour_conf: a row with ``conf == 0`` is ignored (MOTChallenge convention).
        region_xyxy: when set, GT whose box centre lies outside this rectangle is ignored.
    """

    min_height_px: float = 0.0
    min_visibility: float = 0.0
    honour_conf: bool = True
    region_xyxy: tuple[float, float, float, float] | None = None

    def __call__(self, row: ReferenceRow) -> bool:
        x, y, w, h = row.xywh
        if h < self.min_height_px or row.visibility < self.min_visibility:
            return True
        if self.honour_conf and row.conf == 0:
            return True
        if self.region_xyxy is not None:
            cx, cy = x + w / 2, y + h / 2
            rx1, ry1, rx2, ry2 = self.region_xyxy
            if not (rx1 <= cx <= rx2 and ry1 <= cy <= ry2):
                return True
        return False


def reference_frames(rows: Iterable[ReferenceRow], rule: IgnoreRule | None = None) -> dict[int, FrameBoxes]:
    """Group reference rows by frame, flagging ignored boxes by ``rule``."""
    rule = rule or IgnoreRule()
    grouped: dict[int, list[ReferenceRow]] = {}
    for r in rows:
        grouped.setdefault(r.frame, []).append(r)
    out: dict[int, FrameBoxes] = {}
    for frame, rs in grouped.items():
        out[frame] = FrameBoxes.from_arrays(
            xywh_to_xyxy([r.xywh for r in rs]),
            [r.conf for r in rs],
            [r.track_id for r in rs],
            [rule(r) for r in rs],
        )
    return out


# ---------------------------------------------------------------------------------------- evaluation


def evaluate(
    reference: ClipBoxes,
    detections: ClipBoxes,
    frames: Iterable[int],
    *,
    score_threshold: float = 0.0,
    iou_threshold: float = IOU_THRESHOLD,
    ignore_regions: npt.ArrayLike | None = None,
) -> Counts:
    """TP/FP/FN over ``frames`` for detections scoring >= ``score_threshold``.

    Example:
        >>> ref = {0: FrameBoxes.from_arrays([[0, 0, 10, 20]])}
        >>> det = {0: FrameBoxes.from_arrays([[0, 0, 10, 20], [40, 0, 50, 20]], score=[0.9, 0.3])}
        >>> c = evaluate(ref, det, [0], score_threshold=0.5)
        >>> c.tp, c.fp, c.fn
        (1, 0, 0)
    """
    counts = Counts()
    empty = FrameBoxes.empty()
    for f in frames:
        gt = reference.get(f, empty)
        det = detections.get(f, empty)
        det = det.select(det.score >= score_threshold)
        counts.add(
            match_frame(
                gt.xyxy,
                det.xyxy,
                gt_ignore=gt.ignore,
                ignore_regions=ignore_regions,
                iou_threshold=iou_threshold,
            )
        )
    return counts


@dataclass(frozen=True)
class SweepPoint:
    threshold: float
    counts: Counts


@dataclass(frozen=True)
class Sweep:
    """Precision and recall at a series of score thresholds (ascending)."""

    points: list[SweepPoint] = field(default_factory=list)

    def best_recall(self, min_precision: float) -> SweepPoint | None:
        """The point with the highest recall whose precision is >= ``min_precision`` (ties: higher threshold).

        Example:
            >>> s = Sweep([SweepPoint(0.2, Counts(tp=95, fp=10, fn=5)), SweepPoint(0.4, Counts(tp=90, fp=4, fn=10))])
            >>> s.best_recall(0.95).threshold
            0.4
            >>> s.best_recall(0.99) is None
            True
        """
        ok = [p for p in self.points if p.counts.precision >= min_precision]
        if not ok:
            return None
        return max(ok, key=lambda p: (p.counts.recall, p.threshold))


def sweep_thresholds(
    reference: ClipBoxes,
    detections: ClipBoxes,
    frames: Sequence[int],
    thresholds: Iterable[float],
    **kwargs: Any,
) -> Sweep:
    """Run :func:`evaluate` at each threshold (same keyword arguments)."""
    return Sweep(
        [
            SweepPoint(t, evaluate(reference, detections, frames, score_threshold=t, **kwargs))
            for t in thresholds
        ]
    )


# --------------------------------------------------------------------------------------- MOT metrics


def mot_metrics(
    reference: ClipBoxes,
    tracks: ClipBoxes,
    frames: Iterable[int],
    iou_threshold: float = IOU_THRESHOLD,
) -> dict[str, float]:
    """MOTA, MOTP, IDF1, ID switches and friends from ``motmetrics`` (raises ImportError without it).

    ``tracks`` boxes must carry ``track_id``. Ignored reference boxes and the hypotheses that
    match them are removed before accumulation (the MOTChallenge preprocessing), using the
    same matching as :func:`match_frame`.
    """
    import motmetrics as mm  # optional dependency: pip install motmetrics

    acc = mm.MOTAccumulator(auto_id=False)
    empty = FrameBoxes.empty()
    for f in frames:
        gt = reference.get(f, empty)
        hyp = tracks.get(f, empty)
        m = match_frame(gt.xyxy, hyp.xyxy, gt_ignore=gt.ignore, iou_threshold=iou_threshold)
        gt = gt.select(~gt.ignore)
        hyp = hyp.select(m.det_status != -1)
        dist = 1.0 - iou_matrix(gt.xyxy, hyp.xyxy)
        dist[dist > 1.0 - iou_threshold] = np.nan
        acc.update(gt.track_id.tolist(), hyp.track_id.tolist(), dist, frameid=f)
    mh = mm.metrics.create()
    names = [
        "num_frames",
        "mota",
        "motp",
        "idf1",
        "idp",
        "idr",
        "num_switches",
        "num_false_positives",
        "num_misses",
        "mostly_tracked",
        "mostly_lost",
        "num_unique_objects",
    ]
    summary = mh.compute(acc, metrics=names, name="all")
    return {k: float(summary[k].iloc[0]) for k in names}
