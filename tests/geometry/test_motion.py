"""The batched constant-velocity Kalman filter of ``geometry.motion``."""

from __future__ import annotations

import numpy as np
import pytest

from edgesight.geometry.motion import kalman_initiate, kalman_predict, kalman_update, state_to_xyxy


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
