"""Shelf trend maths: how fast a shelf empties, when it will be empty, and when to call for a restock.

Input is a time series of shelf *occupancy*: a fraction where 1 is a full shelf zone and 0 an empty
one (for example the area of product boxes over the zone's area, or ``min(count / capacity, 1)``).
Timestamps are seconds (any epoch) and must not go backwards. Pure maths, no I/O.

* :func:`theil_sen` — a robust straight-line fit (median of pairwise slopes).
* :class:`DepletionEstimator` — the depletion rate over a sliding window, with restock detection,
  and the time until the shelf is empty or below a threshold (:class:`TimeToThreshold`).
* :class:`RestockAlarm` — a restock alert with hysteresis and a hold time, so noisy detections
  (shoppers occluding the shelf, a flickering box) do not make it flap.

Errors: constructor arguments out of range raise :class:`edgesight.core.errors.ConfigError`; a
reading that is not finite or negative, or a timestamp that goes backwards, raises
:class:`edgesight.core.errors.InputError`.

Example:
    A shelf losing 1 % per minute from 90 %, read every 10 s:

    >>> est = DepletionEstimator(window_s=1800.0)
    >>> for k in range(181):
    ...     state = est.update(10.0 * k, 0.9 - 0.01 * (10.0 * k) / 60)
    >>> round(state.rate_per_s * 60, 4), round(state.level, 3), round(state.time_to_empty_s / 60, 1)
    (0.01, 0.6, 60.0)
    >>> round(state.time_to_threshold(0.2).seconds / 60, 1)
    40.0
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edgesight.core.errors import ConfigError, InputError

__all__ = [
    "AlarmState",
    "DepletionEstimator",
    "DepletionState",
    "RestockAlarm",
    "TimeToThreshold",
    "theil_sen",
    "time_to_threshold",
]


def _positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0.0 or (v == 0.0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{name} must be a finite number {bound}, got {value!r}")
    return v


def _integer(name: str, value: int, lo: int, hi: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        bound = f">= {lo}" if hi is None else f"in {lo}..{hi}"
        raise ConfigError(f"{name} must be an integer {bound}, got {value!r}")
    return value


def theil_sen(
    t: Sequence[float] | npt.NDArray[np.float64], y: Sequence[float] | npt.NDArray[np.float64]
) -> tuple[float, float]:
    """Theil–Sen line fit: the median of all pairwise slopes, then the median intercept.

    Robust to up to about 29 % outliers (occlusions, missed detections). Times are centred on their
    last value before fitting, so epoch timestamps lose no precision.

    Args:
        t: ``(n,)`` sample times in seconds.
        y: ``(n,)`` values.

    Returns:
        ``(slope, intercept)`` with ``y ≈ intercept + slope * t`` (intercept at ``t = 0``).

    Raises:
        InputError: ``t`` and ``y`` differ in length, or fewer than two distinct times.

    Example:
        >>> slope, intercept = theil_sen([0, 1, 2, 3, 4], [1.0, 0.9, 0.0, 0.7, 0.6])  # one outlier
        >>> round(slope, 6), round(intercept, 6)
        (-0.1, 1.0)
    """
    tt = np.asarray(t, dtype=np.float64)
    yy = np.asarray(y, dtype=np.float64)
    if tt.shape != yy.shape or tt.ndim != 1:
        raise InputError(
            f"theil_sen: t and y must be 1-D of equal length, got shapes {tt.shape} and {yy.shape}"
        )
    ref = float(tt[-1]) if tt.size else 0.0
    tc = tt - ref
    i, j = np.triu_indices(tc.size, k=1)
    dt = tc[j] - tc[i]
    ok = dt != 0.0
    if not ok.any():
        raise InputError(f"theil_sen: need at least two distinct times, got {tt.size} samples")
    slope = float(np.median((yy[j][ok] - yy[i][ok]) / dt[ok]))
    level_at_ref = float(np.median(yy - slope * tc))
    return slope, level_at_ref - slope * ref


@dataclass(frozen=True, slots=True)
class TimeToThreshold:
    """When the shelf is expected to fall to ``threshold``.

    Attributes:
        threshold: Occupancy fraction of interest (0 means empty).
        seconds: Seconds from now; ``0.0`` when already at or below; ``None`` when the shelf is not
            depleting (or no rate is known yet) and is above the threshold.
        at_s: The expected timestamp (``now + seconds``), or ``None``.
    """

    threshold: float
    seconds: float | None
    at_s: float | None


def time_to_threshold(
    level: float, rate_per_s: float | None, threshold: float, now: float
) -> TimeToThreshold:
    """Linear extrapolation of a depleting level down to ``threshold``.

    Args:
        level: Current occupancy fraction.
        rate_per_s: Depletion rate (fraction per second, positive while emptying); ``None`` or
            ``<= 0`` means not depleting.
        threshold: Occupancy fraction of interest.
        now: Current timestamp in seconds.

    Returns:
        A :class:`TimeToThreshold`.

    Example:
        >>> time_to_threshold(0.5, 0.001, 0.2, now=100.0)
        TimeToThreshold(threshold=0.2, seconds=300.0, at_s=400.0)
        >>> time_to_threshold(0.5, -0.001, 0.2, now=100.0).seconds is None
        True
    """
    if level <= threshold:
        return TimeToThreshold(threshold, 0.0, now)
    if rate_per_s is None or rate_per_s <= 0.0:
        return TimeToThreshold(threshold, None, None)
    seconds = (level - threshold) / rate_per_s
    return TimeToThreshold(threshold, seconds, now + seconds)


@dataclass(frozen=True, slots=True)
class DepletionState:
    """What :meth:`DepletionEstimator.update` knows after one reading.

    Attributes:
        timestamp: Time of the reading, seconds.
        occupancy: The reading itself.
        level: Robust current occupancy: the Theil–Sen line at ``timestamp``, or the median of the
            window's points before a line can be fitted.
        rate_per_s: Depletion rate in occupancy fraction per second (positive while the shelf
            empties, negative while it fills); ``None`` until the window holds ``min_points`` points
            (finished buckets).
        depleting: ``rate_per_s`` is known and above the estimator's ``min_rate_per_s``.
        time_to_empty_s: Seconds until ``level`` reaches 0 at the current rate, or ``None`` when not
            depleting.
        restocked: This reading was a restock (more than ``restock_jump`` above the fitted line); the
            window restarted from it.
        n_points: Finished buckets (fitted points) in the window.
        window_start_s: Time of the oldest point in the window (or of the open bucket's first
            reading when no bucket has finished since a restart).
    """

    timestamp: float
    occupancy: float
    level: float
    rate_per_s: float | None
    depleting: bool
    time_to_empty_s: float | None
    restocked: bool
    n_points: int
    window_start_s: float

    def time_to_threshold(self, threshold: float) -> TimeToThreshold:
        """When ``level`` is expected to reach ``threshold`` (see :func:`time_to_threshold`).

        Example:
            >>> s = DepletionState(0.0, 0.5, 0.5, 0.01, True, 50.0, False, 10, -100.0)
            >>> s.time_to_threshold(0.3).seconds
            20.0
        """
        return time_to_threshold(
            self.level, self.rate_per_s if self.depleting else None, threshold, self.timestamp
        )


class DepletionEstimator:
    """Robust depletion rate of one shelf zone over a sliding time window.

    Readings are grouped into buckets of ``window_s / max_points`` seconds; each finished bucket
    becomes one point (mean time, median occupancy), so a shopper hiding the shelf for a few readings
    barely moves it. The window keeps the points of the last ``window_s`` seconds (at most
    ``max_points + 1``) and a bucket keeps at most ``max_bucket_readings`` readings (later readings in
    a full bucket still count for restock detection and the returned state), so memory and fitting
    cost do not depend on the sensor's rate. A Theil–Sen line is refitted whenever a bucket finishes,
    so the rate lags by at most one bucket.

    A reading more than ``restock_jump`` above the fitted line is a restock: the window restarts from
    that reading, so depletion before the restock never mixes with depletion after it. Restocks are
    only detected once a line exists (``min_points`` buckets after a start or restart; about 75 s with the
    defaults and a 30 min window), because a median of a few readings is not robust enough to
    judge a jump. A fill that is still going on then stays in the new window as a short ramp; Theil–Sen
    tolerates it and it slides out after ``window_s``. A single spurious reading more than
    ``restock_jump`` above the line also restarts the window, so choose ``restock_jump`` well above
    the detector's noise.

    Args:
        window_s: Window length in seconds, > 0 (e.g. 1800 for half an hour).
        restock_jump: Jump up in occupancy fraction that counts as a restock, > 0.
        max_points: Buckets per window (>= 3); bucket length is ``window_s / max_points``.
        min_points: Finished buckets needed before a rate is reported (2..max_points).
        max_bucket_readings: Most readings stored per bucket (>= 1).
        min_rate_per_s: Rates at or below this are "not depleting" (no time to empty); raise it above
            0 to silence noise-level slopes on a static shelf.

    Raises:
        ConfigError: an argument is out of range.

    Example:
        >>> est = DepletionEstimator(window_s=600.0, restock_jump=0.2)
        >>> for k in range(60):
        ...     s = est.update(10.0 * k, 0.5 - 0.0005 * 10.0 * k)
        >>> round(s.rate_per_s, 6), round(s.level, 3), s.restocked
        (0.0005, 0.205, False)
        >>> s = est.update(600.0, 0.95)  # the shelf was refilled
        >>> s.restocked, s.n_points, s.rate_per_s is None, s.level
        (True, 0, True, 0.95)
    """

    def __init__(
        self,
        window_s: float,
        restock_jump: float = 0.2,
        *,
        max_points: int = 120,
        min_points: int = 5,
        max_bucket_readings: int = 64,
        min_rate_per_s: float = 0.0,
    ) -> None:
        self.window_s = _positive("window_s", window_s)
        self.restock_jump = _positive("restock_jump", restock_jump)
        self.max_points = _integer("max_points", max_points, 3, None)
        self.min_points = _integer("min_points", min_points, 2, max_points)
        self.max_bucket_readings = _integer("max_bucket_readings", max_bucket_readings, 1, None)
        self.min_rate_per_s = _positive("min_rate_per_s", min_rate_per_s, allow_zero=True)
        self.bucket_s = self.window_s / max_points
        self._t: deque[float] = deque(maxlen=max_points + 1)  # finished buckets: mean time
        self._y: deque[float] = deque(maxlen=max_points + 1)  # finished buckets: median occupancy
        self._bucket_t: list[float] = []  # readings of the open bucket
        self._bucket_y: list[float] = []
        self._fit: tuple[float, float, float] | None = None  # (slope, level at ref, ref time)
        self._last_ts: float | None = None
        self.restocks = 0

    def __len__(self) -> int:
        """Finished buckets (points) currently in the window."""
        return len(self._t)

    def _level(self, ts: float) -> float:
        """The fitted line at ``ts``, else the median of the window's readings (never empty here)."""
        if self._fit is not None:
            slope, level_ref, ref = self._fit
            return level_ref + slope * (ts - ref)
        return statistics.median([*self._y, *self._bucket_y])

    def _restart(self) -> None:
        self._t.clear()
        self._y.clear()
        self._bucket_t.clear()
        self._bucket_y.clear()
        self._fit = None
        self.restocks += 1

    def _finish_bucket(self, now: float) -> None:
        self._t.append(statistics.fmean(self._bucket_t))
        self._y.append(statistics.median(self._bucket_y))
        self._bucket_t.clear()
        self._bucket_y.clear()
        horizon = now - self.window_s
        while self._t and self._t[0] <= horizon:
            self._t.popleft()
            self._y.popleft()
        if len(self._t) < self.min_points:
            self._fit = None
            return
        t = np.fromiter(self._t, dtype=np.float64) - now
        slope, level_now = theil_sen(t, np.fromiter(self._y, dtype=np.float64))
        self._fit = (slope, level_now, now)

    def update(self, timestamp: float, occupancy: float) -> DepletionState:
        """Take one occupancy reading and return the current estimate.

        Args:
            timestamp: Reading time in seconds, not earlier than the previous one.
            occupancy: Occupancy fraction (0 empty, 1 full; values above 1 are accepted).

        Returns:
            A :class:`DepletionState`.

        Raises:
            InputError: ``occupancy`` negative or not finite, or ``timestamp`` not finite or earlier
                than the previous reading.
        """
        ts, occ = float(timestamp), float(occupancy)
        if not math.isfinite(ts):
            raise InputError(f"DepletionEstimator.update: timestamp must be finite, got {timestamp!r}")
        if self._last_ts is not None and ts < self._last_ts:
            raise InputError(
                f"DepletionEstimator.update: timestamp {ts!r} is earlier than "
                f"the previous one {self._last_ts!r}"
            )
        if not math.isfinite(occ) or occ < 0.0:
            raise InputError(
                f"DepletionEstimator.update: occupancy must be a finite fraction >= 0, got {occupancy!r}"
            )
        self._last_ts = ts
        # Restocks are judged against the fitted line only: the median of a handful of readings
        # just after a start or restart can be dragged down by two occlusions and fake a jump.
        baseline = self._level(ts) if self._fit is not None else None
        restocked = baseline is not None and occ - baseline > self.restock_jump
        if restocked:
            self._restart()
        if self._bucket_t and ts - self._bucket_t[0] >= self.bucket_s:
            self._finish_bucket(ts)
        if len(self._bucket_t) < self.max_bucket_readings:
            self._bucket_t.append(ts)
            self._bucket_y.append(occ)
        level = self._level(ts)
        rate = None if self._fit is None else -self._fit[0]
        depleting = rate is not None and rate > self.min_rate_per_s
        return DepletionState(
            timestamp=ts,
            occupancy=occ,
            level=level,
            rate_per_s=rate,
            depleting=depleting,
            time_to_empty_s=time_to_threshold(level, rate if depleting else None, 0.0, ts).seconds,
            restocked=restocked,
            n_points=len(self._t),
            window_start_s=self._t[0] if self._t else self._bucket_t[0],
        )


@dataclass(frozen=True, slots=True)
class AlarmState:
    """Output of :meth:`RestockAlarm.update`.

    Attributes:
        active: The restock alert is raised.
        changed: ``active`` changed on this reading (raise or clear a notification).
        below_since_s: Start of the current run of readings below ``low``, or ``None``.
    """

    active: bool
    changed: bool
    below_since_s: float | None


class RestockAlarm:
    """Restock alert with hysteresis: raise after ``hold_s`` below ``low``, clear above ``high``.

    The alert is raised when every reading for at least ``hold_s`` seconds was below ``low`` (one
    reading at or above ``low`` restarts the count, so a shopper briefly hiding the shelf does not
    raise it). Once raised it stays raised until a reading is above ``high``: noise around ``low``
    cannot make it flap as long as ``high - low`` exceeds the noise. Feeding
    :attr:`DepletionState.level` instead of raw readings makes the hold count restart less often.

    Args:
        low: Occupancy fraction below which the shelf needs restocking.
        high: Occupancy fraction above which the alert clears; ``high > low``.
        hold_s: Seconds the occupancy must stay below ``low`` before the alert is raised, >= 0.

    Raises:
        ConfigError: thresholds not finite, ``low < 0`` or ``high <= low``, or ``hold_s < 0``.

    Example:
        >>> alarm = RestockAlarm(low=0.2, high=0.5, hold_s=60.0)
        >>> [alarm.update(t, occ).active for t, occ in [(0, 0.15), (30, 0.25), (40, 0.1), (100, 0.12)]]
        [False, False, False, True]
        >>> alarm.update(110, 0.3).active, alarm.update(120, 0.8)
        (True, AlarmState(active=False, changed=True, below_since_s=None))
    """

    def __init__(self, low: float, high: float, hold_s: float) -> None:
        self.low = _positive("low", low, allow_zero=True)
        self.high = _positive("high", high)
        if self.high <= self.low:
            raise ConfigError(f"high must be above low for hysteresis, got low={low!r}, high={high!r}")
        self.hold_s = _positive("hold_s", hold_s, allow_zero=True)
        self._active = False
        self._below_since: float | None = None
        self._last_ts: float | None = None

    @property
    def active(self) -> bool:
        """Whether the restock alert is currently raised."""
        return self._active

    def update(self, timestamp: float, occupancy: float) -> AlarmState:
        """Take one occupancy reading; return the alert state and whether it changed.

        Raises:
            InputError: ``occupancy`` or ``timestamp`` not finite, or ``timestamp`` earlier than the
                previous reading.
        """
        ts, occ = float(timestamp), float(occupancy)
        if not (math.isfinite(ts) and math.isfinite(occ)):
            raise InputError(
                f"RestockAlarm.update: need finite values, got timestamp={timestamp!r}, "
                f"occupancy={occupancy!r}"
            )
        if self._last_ts is not None and ts < self._last_ts:
            raise InputError(
                f"RestockAlarm.update: timestamp {ts!r} is earlier than the previous one {self._last_ts!r}"
            )
        self._last_ts = ts
        was = self._active
        if occ < self.low:
            if self._below_since is None:
                self._below_since = ts
            if ts - self._below_since >= self.hold_s:
                self._active = True
        else:
            self._below_since = None
            if occ > self.high:
                self._active = False
        return AlarmState(self._active, self._active != was, self._below_since)
