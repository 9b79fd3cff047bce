"""Homography from 4 points (``geometry.homography``): exact maps, metres, degenerate inputs."""

from __future__ import annotations

import numpy as np
import pytest

from edgesight.geometry import apply_homography, collinear_triple, homography_from_points


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
