"""Matching maths of bench/evaluation.py on synthetic boxes (fast, no model, no video)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from evaluation import (
    Counts,
    FrameBoxes,
    IgnoreRule,
    Sweep,
    SweepPoint,
    evaluate,
    iou_matrix,
    match_frame,
    mot_metrics,
    read_mot,
    reference_frames,
    sweep_thresholds,
)

A = [10.0, 10.0, 30.0, 70.0]  # a 20 x 60 person
B = [100.0, 50.0, 130.0, 140.0]


def shifted(box: list[float], dx: float) -> list[float]:
    return [box[0] + dx, box[1], box[2] + dx, box[3]]


def test_iou_matrix_known_values() -> None:
    iou = iou_matrix([A], [A, shifted(A, 10), shifted(A, 20)])
    assert iou[0, 0] == pytest.approx(1.0)
    assert iou[0, 1] == pytest.approx(1 / 3)  # overlap 10x60 = 600; union 2400 - 600 = 1800
    assert iou[0, 2] == pytest.approx(0.0)
    assert iou_matrix(np.zeros((0, 4)), [A]).shape == (0, 1)


def test_perfect_match() -> None:
    m = match_frame([A, B], [B, A])
    assert (m.tp, m.fp, m.fn) == (2, 0, 0)
    assert sorted(map(tuple, m.pairs.tolist())) == [(0, 1), (1, 0)]


def test_one_false_positive() -> None:
    m = match_frame([A], [A, B])
    assert (m.tp, m.fp, m.fn) == (1, 1, 0)
    assert m.det_status.tolist() == [1, 0]


def test_one_false_negative() -> None:
    m = match_frame([A, B], [A])
    assert (m.tp, m.fp, m.fn) == (1, 0, 1)
    assert m.gt_matched.tolist() == [True, False]


def test_empty_frames() -> None:
    assert (match_frame([], []).tp, match_frame([], []).fp, match_frame([], []).fn) == (0, 0, 0)
    m = match_frame([], [A])
    assert (m.tp, m.fp, m.fn) == (0, 1, 0)


def test_iou_just_under_half_is_a_miss_and_at_half_a_match() -> None:
    # Same height, shifted horizontally: IoU = (20 - d) / (20 + d); d = 20/3 gives exactly 0.5.
    under = shifted(A, 20 / 3 + 0.01)
    assert iou_matrix([A], [under])[0, 0] < 0.5
    m = match_frame([A], [under])
    assert (m.tp, m.fp, m.fn) == (0, 1, 1)
    at = [0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 5.0]  # IoU exactly 0.5
    m = match_frame([at[0]], [at[1]])
    assert (m.tp, m.fp, m.fn) == (1, 0, 0)


def test_duplicate_detections_count_as_false_positives() -> None:
    m = match_frame([A], [A, shifted(A, 1), shifted(A, 2)])
    assert (m.tp, m.fp, m.fn) == (1, 2, 0)
    assert m.det_status[0] == 1  # the best-overlapping detection is the TP


def test_hungarian_beats_greedy() -> None:
    # Greedy by IoU would pair g0 with d0 (IoU 0.82) and leave g1 with only d1 (IoU 0.33);
    # the optimal assignment pairs g0-d1 and g1-d0 (IoU 0.67 each) and matches both.
    g0, g1 = [0.0, 0.0, 10.0, 10.0], [3.0, 0.0, 13.0, 10.0]
    d0, d1 = [1.0, 0.0, 11.0, 10.0], [-2.0, 0.0, 8.0, 10.0]
    iou = iou_matrix([g0, g1], [d0, d1])
    assert iou[0, 0] > max(iou[0, 1], iou[1, 0]) and iou[1, 1] < 0.5  # the greedy trap
    m = match_frame([g0, g1], [d0, d1])
    assert (m.tp, m.fp, m.fn) == (2, 0, 0)
    assert sorted(map(tuple, m.pairs.tolist())) == [(0, 1), (1, 0)]


def test_ignored_gt_absorbs_detections_and_is_no_miss() -> None:
    small = [200.0, 10.0, 206.0, 25.0]
    m = match_frame([A, small], [A, small, shifted(small, 0.5)], gt_ignore=[False, True])
    assert (m.tp, m.fp, m.fn) == (1, 0, 0)
    assert m.det_status.tolist() == [1, -1, -1]
    m = match_frame([A, small], [A], gt_ignore=[False, True])
    assert (m.tp, m.fp, m.fn) == (1, 0, 0)


def test_valid_gt_is_matched_before_ignored_gt() -> None:
    # A detection overlapping a valid and an ignored GT box counts as TP for the valid one.
    m = match_frame([A, shifted(A, 2)], [shifted(A, 1)], gt_ignore=[True, False])
    assert (m.tp, m.fp, m.fn) == (1, 0, 0)
    assert m.pairs.tolist() == [[1, 0]]


def test_ignore_regions() -> None:
    region = [[300.0, 0.0, 400.0, 100.0]]
    inside = [310.0, 10.0, 330.0, 70.0]
    half_out = [290.0, 10.0, 330.0, 70.0]  # 75% inside
    mostly_out = [250.0, 10.0, 310.0, 70.0]  # 1/6 inside
    m = match_frame([A], [A, inside, half_out, mostly_out], ignore_regions=region)
    assert m.det_status.tolist() == [1, -1, -1, 0]
    assert (m.tp, m.fp, m.fn) == (1, 1, 0)


def test_ignore_rule_height_visibility_conf_region(tmp_path: Path) -> None:
    rows_csv = "\n".join(
        [
            "0,1,10,10,20,60,1,1,1.0",  # valid
            "0,2,50,10,6,15,1,1,1.0",  # 15 px tall
            "0,3,90,10,20,60,1,1,0.2",  # mostly occluded
            "0,4,130,10,20,60,0,1,1.0",  # conf 0: don't care
            "1,1,12,10,20,60,1,1,1.0",
        ]
    )
    path = tmp_path / "ref.csv"
    path.write_text("frame,id,x,y,w,h,conf,class,visibility\n" + rows_csv + "\n")
    rows = read_mot(path)
    assert len(rows) == 5
    ref = reference_frames(rows, IgnoreRule(min_height_px=20, min_visibility=0.3))
    assert ref[0].ignore.tolist() == [False, True, True, True]
    ref = reference_frames(rows, IgnoreRule(honour_conf=False))
    assert ref[0].ignore.tolist() == [False, False, False, False]
    ref = reference_frames(rows, IgnoreRule(region_xyxy=(0, 0, 80, 576)))
    assert ref[0].ignore.tolist() == [False, False, True, True]


def test_evaluate_and_sweep() -> None:
    ref = {0: FrameBoxes.from_arrays([A, B]), 1: FrameBoxes.from_arrays([A])}
    det = {
        0: FrameBoxes.from_arrays([A, B, [400, 0, 420, 60]], score=[0.9, 0.4, 0.3]),
        1: FrameBoxes.from_arrays([A], score=[0.8]),
    }
    c = evaluate(ref, det, [0, 1, 2])
    assert (c.tp, c.fp, c.fn, c.frames) == (3, 1, 0, 3)
    sweep = sweep_thresholds(ref, det, [0, 1, 2], [0.2, 0.35, 0.5])
    assert [(p.counts.tp, p.counts.fp) for p in sweep.points] == [(3, 1), (3, 0), (2, 0)]
    best = sweep.best_recall(0.95)
    assert best is not None and best.threshold == 0.35 and best.counts.recall == 1.0


def test_counts_edge_cases() -> None:
    c = Counts()
    assert c.precision == 1.0 and c.recall == 1.0
    assert Sweep([SweepPoint(0.5, Counts(tp=1, fp=9))]).best_recall(0.5) is None


def test_mot_metrics_id_switch() -> None:
    if importlib.util.find_spec("motmetrics") is None:
        pytest.skip("motmetrics is not installed")
    ref = {f: FrameBoxes.from_arrays([shifted(A, f), shifted(B, f)], track_id=[1, 2]) for f in range(4)}
    hyp = {f: FrameBoxes.from_arrays([shifted(A, f), shifted(B, f)], track_id=[7, 8]) for f in range(4)}
    hyp[2] = FrameBoxes.from_arrays([shifted(A, 2), shifted(B, 2)], track_id=[9, 8])  # id switch on A
    hyp[3] = FrameBoxes.from_arrays([shifted(A, 3), shifted(B, 3)], track_id=[9, 8])
    m = mot_metrics(ref, hyp, range(4))
    assert m["num_switches"] == 1
    assert m["mota"] == pytest.approx(1 - 1 / 8)
    assert m["idf1"] == pytest.approx(6 / 8)


def test_docstring_examples_run() -> None:
    import doctest

    import evaluation

    result = doctest.testmod(evaluation)
    assert result.attempted > 5 and result.failed == 0
