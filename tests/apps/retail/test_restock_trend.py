"""Tests of apps.retail.restock_trend: Theil–Sen, depletion rate, restock detection, restock alarm."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from edgesight.apps.retail.restock_trend import (
    DepletionEstimator,
    DepletionState,
    RestockAlarm,
    TimeToThreshold,
    theil_sen,
    time_to_threshold,
)
from edgesight.core.errors import ConfigError, InputError

# A shelf that goes from 90 % to 10 % in two hours.
RATE = 0.8 / 7200


def noisy_shelf(
    seed: int, t: npt.NDArray[np.float64], start: float = 0.9, rate: float = RATE
) -> npt.NDArray[np.float64]:
    """Linear depletion + Gaussian noise (sd 0.03) + 10 % of readings occluded by shoppers."""
    rng = np.random.default_rng(seed)
    occ = start - rate * t + rng.normal(0.0, 0.03, t.size)
    occluded = rng.random(t.size) < 0.1
    occ[occluded] *= rng.uniform(0.2, 0.6, int(occluded.sum()))
    return np.clip(occ, 0.0, None)


def run(est: DepletionEstimator, t: npt.NDArray[np.float64], occ: npt.NDArray[np.float64]) -> DepletionState:
    state = None
    for ts, o in zip(t.tolist(), occ.tolist(), strict=True):
        state = est.update(ts, o)
    assert state is not None
    return state


# --- Theil–Sen --------------------------------------------------------------------------------


def test_theil_sen_exact_line_and_epoch_timestamps() -> None:
    t = 1.7e9 + np.arange(50.0)
    slope, intercept = theil_sen(t, 0.8 - 0.002 * (t - 1.7e9))
    assert slope == pytest.approx(-0.002, rel=1e-9)
    assert intercept + slope * 1.7e9 == pytest.approx(0.8, abs=1e-6)


def test_theil_sen_shrugs_off_outliers_that_break_least_squares() -> None:
    t = np.arange(100.0)
    y = 1.0 - 0.005 * t
    y[::5] = 0.0  # 20 % occluded readings
    slope, _ = theil_sen(t, y)
    ols = float(np.polyfit(t, y, 1)[0])
    assert slope == pytest.approx(-0.005, rel=0.02)
    assert abs(ols / -0.005 - 1) > 0.1


def test_theil_sen_rejects_bad_input() -> None:
    with pytest.raises(InputError, match=r"\(3,\) and \(2,\)"):
        theil_sen([0, 1, 2], [1, 2])
    with pytest.raises(InputError, match="two distinct times"):
        theil_sen([5.0, 5.0], [1.0, 2.0])


# --- depletion --------------------------------------------------------------------------------


def test_noisy_linear_depletion_rate_and_time_to_empty_within_10_percent() -> None:
    t = np.arange(0.0, 3601.0, 2.0)  # a reading every 2 s for an hour
    est = DepletionEstimator(window_s=1800.0)
    state = run(est, t, noisy_shelf(seed=3, t=t))
    true_level = 0.9 - RATE * 3600  # 0.5
    assert state.rate_per_s is not None and state.depleting
    assert state.rate_per_s == pytest.approx(RATE, rel=0.10)
    assert state.time_to_empty_s == pytest.approx(true_level / RATE, rel=0.10)  # 4500 s
    below_20 = state.time_to_threshold(0.2).seconds
    assert below_20 == pytest.approx((true_level - 0.2) / RATE, rel=0.10)
    assert est.restocks == 0  # occlusions are not restocks


@pytest.mark.parametrize("seed", range(5))
def test_depletion_estimate_is_stable_across_noise_draws(seed: int) -> None:
    t = np.arange(0.0, 3601.0, 2.0)
    state = run(DepletionEstimator(window_s=1800.0), t, noisy_shelf(seed=100 + seed, t=t))
    assert state.rate_per_s == pytest.approx(RATE, rel=0.10)
    assert state.time_to_empty_s == pytest.approx(4500.0, rel=0.10)


def test_rate_unknown_until_enough_points() -> None:
    est = DepletionEstimator(window_s=1800.0, min_points=5)  # 15 s buckets
    first = est.update(0.0, 0.9)
    assert first.rate_per_s is None and first.time_to_empty_s is None and not first.depleting
    assert first.time_to_threshold(0.2) == TimeToThreshold(0.2, None, None)
    for k in range(1, 40):
        state = est.update(2.0 * k, 0.9 - RATE * 2.0 * k)
    assert state.n_points == 4 and state.rate_per_s is None
    state = est.update(80.0, 0.9 - RATE * 80.0)  # finishes the fifth 16 s bucket
    assert state.n_points == 5 and state.rate_per_s == pytest.approx(RATE)


def test_restock_jump_restarts_window() -> None:
    t1 = np.arange(0.0, 3600.0, 2.0)
    est = DepletionEstimator(window_s=1800.0, restock_jump=0.2)
    before = run(est, t1, noisy_shelf(seed=5, t=t1))
    assert before.level == pytest.approx(0.5, abs=0.05)

    jump = est.update(3600.0, 0.95)
    assert jump.restocked and est.restocks == 1
    assert jump.n_points == 0 and jump.rate_per_s is None and jump.level == 0.95

    # After the refill the shelf empties three times faster; the old rate must not leak in.
    fast = 3 * RATE
    t2 = np.arange(3602.0, 3602.0 + 900.0, 2.0)
    after = run(est, t2, noisy_shelf(seed=6, t=t2 - 3600.0, start=0.95, rate=fast))
    assert est.restocks == 1
    assert after.rate_per_s == pytest.approx(fast, rel=0.10)
    assert after.window_start_s >= 3600.0


def test_no_restock_without_a_fitted_line() -> None:
    est = DepletionEstimator(window_s=1800.0)
    est.update(0.0, 0.2)
    assert not est.update(2.0, 0.9).restocked  # no line yet: cannot judge a jump


def test_filling_or_static_shelf_is_not_depleting() -> None:
    est = DepletionEstimator(window_s=600.0, min_rate_per_s=1e-5)
    for k in range(200):
        filling = est.update(5.0 * k, 0.3 + 0.0002 * 5.0 * k)
    assert filling.rate_per_s is not None and filling.rate_per_s < 0
    assert not filling.depleting and filling.time_to_empty_s is None
    static = DepletionEstimator(window_s=600.0, min_rate_per_s=1e-5)
    for k in range(200):
        state = static.update(5.0 * k, 0.6 + (0.01 if k % 2 else -0.01))
    assert not state.depleting and state.time_to_empty_s is None


def test_time_to_threshold_cases() -> None:
    eta = time_to_threshold(0.5, 0.01, 0.3, now=10.0)
    assert eta.threshold == 0.3
    assert eta.seconds == pytest.approx(20.0) and eta.at_s == pytest.approx(30.0)
    assert time_to_threshold(0.2, 0.01, 0.3, now=10.0) == TimeToThreshold(0.3, 0.0, 10.0)  # already below
    assert time_to_threshold(0.5, 0.0, 0.3, now=10.0).seconds is None
    assert time_to_threshold(0.5, None, 0.3, now=10.0).seconds is None


def test_bounded_memory_over_100k_updates() -> None:
    # A 20 Hz sensor for 5000 s with a restock every 1000 s: 100k readings.
    est = DepletionEstimator(window_s=600.0, max_points=60, max_bucket_readings=64)
    longest_window = longest_bucket = 0
    for k in range(100_000):
        ts = 0.05 * k
        state = est.update(ts, 0.95 - 0.0008 * (ts % 1000.0))
        longest_window = max(longest_window, len(est))
        longest_bucket = max(longest_bucket, len(est._bucket_t))
    assert longest_window <= est.max_points + 1
    assert longest_bucket <= est.max_bucket_readings
    assert est.restocks == 4
    assert state.rate_per_s == pytest.approx(0.0008, rel=0.01)


def test_depletion_rejects_bad_input() -> None:
    with pytest.raises(ConfigError, match=r"window_s must be .* got 0"):
        DepletionEstimator(window_s=0)
    with pytest.raises(ConfigError, match=r"restock_jump .* got -0\.1"):
        DepletionEstimator(window_s=60.0, restock_jump=-0.1)
    with pytest.raises(ConfigError, match=r"min_points must be an integer in 2\.\.10, got 11"):
        DepletionEstimator(window_s=60.0, max_points=10, min_points=11)
    est = DepletionEstimator(window_s=60.0)
    est.update(10.0, 0.5)
    with pytest.raises(InputError, match=r"5\.0 is earlier than the previous one 10\.0"):
        est.update(5.0, 0.5)
    with pytest.raises(InputError, match="got nan"):
        est.update(11.0, float("nan"))
    with pytest.raises(InputError, match=r"got -0\.2"):
        est.update(11.0, -0.2)


# --- restock alarm ----------------------------------------------------------------------------


def test_alarm_does_not_flap_on_noise_around_threshold() -> None:
    rng = np.random.default_rng(11)
    t = np.arange(0.0, 3600.0, 1.0)
    occ = 0.2 + rng.uniform(-0.08, 0.08, t.size)  # hovering at the low threshold
    alarm = RestockAlarm(low=0.2, high=0.4, hold_s=30.0)
    changes = sum(alarm.update(ts, o).changed for ts, o in zip(t.tolist(), occ.tolist(), strict=True))
    naive = int(np.count_nonzero(np.diff(occ < 0.2)))
    assert naive > 1000  # a plain comparator would flap on almost every reading
    assert changes <= 1  # at most one raise, never a clear


def test_alarm_hold_ignores_short_dips() -> None:
    alarm = RestockAlarm(low=0.2, high=0.4, hold_s=60.0)
    for ts in range(0, 1800):
        occluded = ts % 300 < 20  # a shopper hides the shelf for 20 s every 5 min
        assert not alarm.update(float(ts), 0.05 if occluded else 0.6).active


def test_alarm_raises_after_hold_and_clears_above_high() -> None:
    alarm = RestockAlarm(low=0.2, high=0.4, hold_s=60.0)
    assert alarm.update(0.0, 0.15).below_since_s == 0.0
    assert not alarm.update(59.0, 0.15).active
    raised = alarm.update(60.0, 0.15)
    assert raised.active and raised.changed
    assert not alarm.update(61.0, 0.15).changed
    assert alarm.update(70.0, 0.35).active  # between the thresholds: stays raised
    cleared = alarm.update(80.0, 0.9)
    assert not cleared.active and cleared.changed and not alarm.active


def test_alarm_with_zero_hold_raises_at_once() -> None:
    assert RestockAlarm(low=0.2, high=0.4, hold_s=0.0).update(0.0, 0.1).active


def test_alarm_rejects_bad_input() -> None:
    with pytest.raises(ConfigError, match=r"low=0\.5, high=0\.3"):
        RestockAlarm(low=0.5, high=0.3, hold_s=10.0)
    with pytest.raises(ConfigError, match=r"hold_s .* got -1"):
        RestockAlarm(low=0.1, high=0.3, hold_s=-1)
    alarm = RestockAlarm(low=0.1, high=0.3, hold_s=10.0)
    alarm.update(5.0, 0.5)
    with pytest.raises(InputError, match=r"4\.0 is earlier"):
        alarm.update(4.0, 0.5)
    with pytest.raises(InputError, match="occupancy=inf"):
        alarm.update(6.0, float("inf"))
