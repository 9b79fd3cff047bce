"""The tracking bench's noise model: one draw per seed, of about the stated size, on real detections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detection_noise import Noise, perturb
from edgesight.core.detections import Detections
from edgesight.sensor.pipeline import Sensor, SensorSettings
from edgesight.sensor.sources import open_source
from edgesight.sensor.zoo import load_model

VIDEO = Path(__file__).resolve().parents[2] / "data" / "vtest.avi"
MODEL = "nanodet-plus-m-416-int8"
FRAMES = 20


@pytest.fixture(scope="module")
def video() -> tuple[list[Detections], tuple[int, int]]:
    """The sensor's detections, with colour vectors, of the first frames of vtest.avi."""
    package = load_model(MODEL)
    thresholds = package.intrinsics.thresholds.model_copy(update={"score": 0.2})  # the example config's
    settings = SensorSettings(thresholds=thresholds, appearance=True, sessions=1)
    out, size = [], (0, 0)
    with open_source(str(VIDEO)) as src:
        for meta in Sensor(src, package, settings).run(max_frames=FRAMES):
            out.append(meta.detections)
            size = meta.frame_size
    assert sum(len(d) for d in out) > 100 and all(d.embedding is not None for d in out)
    return out, size


def _cat(video: list[Detections], key: str) -> np.ndarray:
    return np.concatenate([getattr(d, key) for d in video])


def test_the_same_seed_gives_the_same_draw_and_another_seed_another(
    video: tuple[list[Detections], tuple[int, int]],
) -> None:
    dets, size = video
    a, b, c = perturb(dets, size, 1), perturb(dets, size, 1), perturb(dets, size, 2)
    for key in ("xyxy", "confidence", "embedding"):
        assert np.array_equal(_cat(a, key), _cat(b, key)), key
        assert not np.array_equal(_cat(a, key), _cat(c, key)), key
    assert [len(d) for d in a] == [len(d) for d in dets]


def test_boxes_move_by_about_sigma_and_scores_and_looks_keep_their_form(
    video: tuple[list[Detections], tuple[int, int]],
) -> None:
    dets, size = video
    noise = Noise(box_px=2.0)
    moved = perturb(dets, size, 7, noise)
    step = _cat(moved, "xyxy") - _cat(dets, "xyxy")
    # The Gaussian's standard deviation at vtest.avi's 768 px width; boxes within 10 px of the
    # border are left out (their corners are clipped to the frame).
    assert size == (768, 576)
    xyxy = _cat(dets, "xyxy")
    inside = np.all((xyxy[:, :2] > 10) & (xyxy[:, 2:] < np.array(size) - 10), axis=1)
    assert 1.8 < step[inside].std() < 2.2
    assert abs(step[inside].mean()) < 0.2
    # Scores: the same multiset (rank-mapped), not all in the same place.
    assert np.array_equal(np.sort(_cat(moved, "confidence")), np.sort(_cat(dets, "confidence")))
    assert np.mean(_cat(moved, "confidence") != _cat(dets, "confidence")) > 0.5
    looks, before = _cat(moved, "embedding"), _cat(dets, "embedding")
    assert np.allclose(np.linalg.norm(looks, axis=1), 1.0, atol=1e-5) and looks.min() >= 0
    assert 0.99 < np.median((looks * before).sum(axis=1)) < 1.0
