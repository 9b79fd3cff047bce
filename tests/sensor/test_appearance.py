"""Torso colour vectors on real frames: the same person matches across frames, others less."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from edgesight.sensor.appearance import EMBEDDING_SIZE, torso_histograms

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "vtest_people.csv"


def reference_boxes(frame: int) -> dict[int, list[float]]:
    with REFERENCE.open() as f:
        rows = [r for r in csv.reader(f) if r and r[0].isdigit() and int(r[0]) == frame]
    return {int(r[1]): [float(r[2]), float(r[3]), float(r[2]) + float(r[4]), float(r[3]) + float(r[5])] for r in rows}


def read_frame(path: Path, index: int) -> np.ndarray:
    capture = cv2.VideoCapture(str(path))
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, image = capture.read()
    capture.release()
    assert ok, f"could not read frame {index} of {path}"
    return image


def test_each_person_is_most_like_themselves_a_second_later(vtest_path: Path) -> None:
    first, later = reference_boxes(300), reference_boxes(310)
    people = sorted(set(first) & set(later))
    assert len(people) >= 4
    a = torso_histograms(read_frame(vtest_path, 300), [first[p] for p in people])
    b = torso_histograms(read_frame(vtest_path, 310), [later[p] for p in people])
    assert a.shape == (len(people), EMBEDDING_SIZE)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    similarity = a @ b.T
    same = np.diag(similarity)
    assert same.min() > 0.8
    # Most people are their own best match (two in dark clothes may tie: that is why the tracker
    # combines appearance with motion).
    assert np.mean(similarity.argmax(axis=1) == np.arange(len(people))) >= 0.75


def test_boxes_outside_the_frame_get_no_vector() -> None:
    image = np.full((100, 100, 3), 128, np.uint8)
    v = torso_histograms(image, [[200, 200, 240, 300], [10, 10, 50, 90]])
    assert not v[0].any() and v[1].any()
