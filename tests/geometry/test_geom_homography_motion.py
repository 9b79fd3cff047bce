"""Homography from 4 points and the batched constant-velocity Kalman filter."""

from __future__ import annotations

import numpy as np
import pytest

from edgesight.geometry import apply_homography, collinear_triple, homography_from_points
from edgesight.geometry.motion import kalman_initiate, kalman_predict, kalman_update, state_to_xyxy


def test_homography_reproduces_a_known_perspective_map() -> None:
    truth = np.array([[8.0, 1.5, -0.5], [0.3, 12.0, 0.2], [0.4, 0.9, 1.0]])
    image = np.array([[0.1, 0.6], [0.9, 0.55], [0.95, 0.95], [0.05, 0.9]])
    ground = apply_homography(truth, image)
    h = homography_from_points(image, ground)
    assert np.allclose(h, truth, atol=1e-9)
    probe = np.random.default_rng(3).uniform(0.1, 0.9, (50, 2))
    assert np.allclose(apply_homography(h, probe), apply_homography(truth, probe))


def test_rectangle_to_metres() -> None:
    h = homography_from_points([[0, 0], [1, 0], [1, 1], [0, 1]], [[0, 0], [20, 0], [20, 10], [0, 10]])
    assert np.allclose(apply_homography(h, [[0.25, 0.5]]), [[5.0, 5.0]])


@pytest.mark.parametrize("side", ["src", "dst"])
def test_collinear_points_are_rejected_with_indices(side: str) -> None:
    good = [[0, 0], [1, 0], [1, 1], [0, 1]]
    bad = [[0, 0], [1, 0], [2, 0], [0, 1]]
    src, dst = (bad, good) if side == "src" else (good, bad)
    with pytest.raises(ValueError, match=f"{side} points 0, 1 and 2 are collinear"):
        homography_from_points(src, dst)
    assert collinear_triple(bad) == (0, 1, 2)


def test_repeated_points_are_degenerate() -> None:
    with pytest.raises(ValueError, match="collinear"):
        homography_from_points([[0, 0], [0, 0], [1, 1], [0, 1]], [[0, 0], [1, 0], [1, 1], [0, 1]])


def test_points_on_the_horizon_map_to_nan() -> None:
    h = np.array([[1.0, 0, 0], [0, 1, 0], [0, 1, -1]])  # w = y - 1
    out = apply_homography(h, [[0.5, 1.0], [0.5, 0.5]])
    assert np.isnan(out[0]).all() and np.isfinite(out[1]).all()


def test_kalman_learns_constant_velocity_and_predicts_through_a_gap() -> None:
    mean, cov = kalman_initiate(np.array([[100.0, 100, 140, 220]]))
    for k in range(1, 20):
        mean, cov = kalman_predict(mean, cov)
        mean, cov = kalman_update(mean, cov, np.array([[100.0 + 3 * k, 100, 140 + 3 * k, 220]]))
    assert mean[0, 4] == pytest.approx(3.0, abs=0.1)
    for _ in range(10):  # ten frames without a measurement
        mean, cov = kalman_predict(mean, cov, freeze_size=np.array([True]))
    assert state_to_xyxy(mean)[0, 0] == pytest.approx(100 + 3 * 29, abs=2.0)
    assert np.all(cov[:, 0] > 0) and np.all(cov[:, 2] > 0)


def test_kalman_functions_do_not_mutate_inputs() -> None:
    mean, cov = kalman_initiate(np.array([[0.0, 0, 10, 10]]))
    m0, c0 = mean.copy(), cov.copy()
    kalman_update(*kalman_predict(mean, cov), np.array([[1.0, 1, 11, 11]]))
    assert np.array_equal(mean, m0) and np.array_equal(cov, c0)
