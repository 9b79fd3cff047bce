"""Queue maths: from line-crossing counts to a checkout staffing recommendation.

Pure functions and two small estimators; no I/O. Units are seconds throughout: arrival rates are
arrivals per second, the average handling time (AHT) is the mean service time of one customer in
seconds, and waits are seconds spent in the queue *before* service starts.

* :func:`littles_law_wait_s` — the current wait from the people in the queue (Little's law).
* :func:`erlang_c`, :func:`mean_wait_s`, :func:`service_level` — the M/M/c (Erlang C) model.
* :func:`recommend_counters` — the smallest number of open counters that meets a wait target.
* :class:`ArrivalRateEstimator` (sliding window, the one the queue app uses) and
  :class:`EwmaRateEstimator` (constant memory) — the arrival rate from entry-line crossings.

Errors: a bad argument (negative rate, no target, ...) raises
:class:`edgesight.core.errors.ConfigError` naming the argument and its value; a timestamp that goes
backwards in an estimator raises :class:`edgesight.core.errors.InputError` naming both timestamps.

The formulas and the worked example are in ``docs/queueing.md``.

Example:
    100 arrivals per 30 min, 3 min per customer (traffic 10 Erlang), 13 or 14 counters open:

    >>> lam, aht = 100 / 1800, 180.0
    >>> round(mean_wait_s(13, lam, aht), 1), round(service_level(13, lam, aht, 20.0), 2)
    (17.1, 0.8)
    >>> round(mean_wait_s(14, lam, aht), 1), round(service_level(14, lam, aht, 20.0), 2)
    (7.8, 0.89)
    >>> recommend_counters(lam, aht, target_mean_wait_s=10.0).counters
    14
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from edgesight.core.errors import ConfigError, InputError

__all__ = [
    "ArrivalRateEstimator",
    "EwmaRateEstimator",
    "StaffingAdvice",
    "erlang_b",
    "erlang_c",
    "littles_law_wait_s",
    "mean_wait_s",
    "recommend_counters",
    "service_level",
]


def _check_finite(name: str, value: float, *, minimum: float = 0.0, strict: bool = False) -> float:
    """Return ``value`` as float or raise ConfigError naming ``name`` when it is not finite/in range."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < minimum or (strict and v == minimum):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise ConfigError(f"{name} must be a finite number {bound}, got {value!r}")
    return v


def _check_counters(name: str, c: int) -> int:
    if isinstance(c, bool) or not isinstance(c, int) or c < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {c!r}")
    return c


def littles_law_wait_s(people_in_queue: float, arrivals_per_s: float) -> float:
    """Current expected wait by Little's law, ``W = L / lambda``.

    Args:
        people_in_queue: People waiting (not yet served), ``L``; may be a time average (fractional).
        arrivals_per_s: Arrival rate ``lambda`` in arrivals per second (e.g. from an entry line).

    Returns:
        Expected wait in seconds. With a zero arrival rate Little's law is undefined; we return
        ``math.inf`` when people are waiting (nobody arrives, so the queue never turns over at the
        measured rate) and ``0.0`` when the queue is empty.

    Raises:
        ConfigError: ``people_in_queue`` or ``arrivals_per_s`` is negative or not finite.

    Example:
        >>> littles_law_wait_s(6, 0.05)  # 6 people, 3 arrivals per minute
        120.0
        >>> littles_law_wait_s(2, 0.0), littles_law_wait_s(0, 0.0)
        (inf, 0.0)
    """
    people = _check_finite("people_in_queue", people_in_queue)
    lam = _check_finite("arrivals_per_s", arrivals_per_s)
    if lam == 0.0:
        return math.inf if people > 0.0 else 0.0
    return people / lam


def erlang_b(c: int, traffic: float) -> float:
    """Erlang B blocking probability of ``c`` servers offered ``traffic`` Erlang.

    Uses the recursion ``B(0) = 1``, ``B(k) = A B(k-1) / (k + A B(k-1))``; every term lies in
    ``[0, 1]``, so it neither overflows nor loses precision for thousands of servers.

    Args:
        c: Number of servers, >= 1.
        traffic: Offered traffic ``A = lambda * AHT`` in Erlang, >= 0.

    Returns:
        The blocking probability in ``[0, 1]``.

    Raises:
        ConfigError: ``c`` < 1 or ``traffic`` negative or not finite.

    Example:
        >>> round(erlang_b(2, 1.0), 4)
        0.2
    """
    _check_counters("c", c)
    a = _check_finite("traffic", traffic)
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def _c_from_b(c: int, a: float, b: float) -> float:
    """Erlang C from Erlang B of the same ``c`` and ``a`` (requires ``c > a``)."""
    return c * b / (c - a * (1.0 - b))


def erlang_c(c: int, traffic: float) -> float:
    """Probability that an arrival has to wait in an M/M/c queue (Erlang C).

    Computed as ``C = c B / (c - A (1 - B))`` from the Erlang B recursion (see :func:`erlang_b`), which is
    exact and stable for ``c`` up to thousands and any ``A`` (no factorials or powers).

    Args:
        c: Open counters (servers), >= 1.
        traffic: Offered traffic ``A = lambda * AHT`` in Erlang, >= 0.

    Returns:
        ``P_wait`` in ``[0, 1]``. When ``c <= A`` the queue is unstable (it grows without bound) and
        every arrival eventually waits: the result is ``1.0``.

    Raises:
        ConfigError: ``c`` < 1 or ``traffic`` negative or not finite.

    Example:
        >>> round(erlang_c(13, 10.0), 4), round(erlang_c(14, 10.0), 4)
        (0.2853, 0.1741)
        >>> erlang_c(10, 10.0)  # c <= A: unstable
        1.0
        >>> 0.0 < erlang_c(1000, 950.0) < 1.0
        True
    """
    _check_counters("c", c)
    a = _check_finite("traffic", traffic)
    if c <= a:
        return 1.0
    return _c_from_b(c, a, erlang_b(c, a))


def _wait_and_sl(
    c: int, a: float, p_wait: float, aht_s: float, target_s: float | None
) -> tuple[float, float]:
    """(mean wait, service level at ``target_s``) given ``P_wait``; SL is NaN when ``target_s`` is None."""
    if c <= a:
        return math.inf, (0.0 if target_s is not None else math.nan)
    asa = p_wait * aht_s / (c - a)
    sl = math.nan if target_s is None else 1.0 - p_wait * math.exp(-(c - a) * target_s / aht_s)
    return asa, sl


def mean_wait_s(c: int, arrivals_per_s: float, aht_s: float) -> float:
    """Mean wait in queue (average speed of answer, ASA) of an M/M/c queue.

    ``ASA = P_wait * AHT / (c - A)`` with ``A = arrivals_per_s * aht_s``.

    Args:
        c: Open counters, >= 1.
        arrivals_per_s: Arrival rate in arrivals per second, >= 0.
        aht_s: Average handling (service) time per customer in seconds, > 0.

    Returns:
        Mean wait in seconds over all customers (those served at once count as 0), or ``math.inf``
        when ``c <= A`` (unstable queue).

    Raises:
        ConfigError: an argument is out of range.

    Example:
        >>> round(mean_wait_s(13, 100 / 1800, 180.0), 2)
        17.12
        >>> mean_wait_s(10, 100 / 1800, 180.0)
        inf
    """
    lam = _check_finite("arrivals_per_s", arrivals_per_s)
    aht = _check_finite("aht_s", aht_s, strict=True)
    a = lam * aht
    return _wait_and_sl(c, a, erlang_c(c, a), aht, None)[0]


def service_level(c: int, arrivals_per_s: float, aht_s: float, target_s: float) -> float:
    """Fraction of customers whose wait is at most ``target_s`` in an M/M/c queue.

    ``SL(t) = 1 - P_wait * exp(-(c - A) * t / AHT)``.

    Args:
        c: Open counters, >= 1.
        arrivals_per_s: Arrival rate in arrivals per second, >= 0.
        aht_s: Average handling time in seconds, > 0.
        target_s: Acceptable wait in seconds, >= 0.

    Returns:
        The service level in ``[0, 1]``; ``0.0`` when ``c <= A`` (unstable: waits grow without bound).

    Raises:
        ConfigError: an argument is out of range.

    Example:
        >>> round(service_level(13, 100 / 1800, 180.0, 20.0), 4)
        0.7956
    """
    lam = _check_finite("arrivals_per_s", arrivals_per_s)
    aht = _check_finite("aht_s", aht_s, strict=True)
    t = _check_finite("target_s", target_s)
    a = lam * aht
    return _wait_and_sl(c, a, erlang_c(c, a), aht, t)[1]


@dataclass(frozen=True, slots=True)
class StaffingAdvice:
    """The outcome of :func:`recommend_counters`.

    Attributes:
        counters: Recommended number of open counters (the smallest that meets every target).
        traffic: Offered traffic ``A = lambda * AHT`` in Erlang.
        p_wait: Probability of waiting at all with ``counters`` open.
        mean_wait_s: Mean wait in seconds with ``counters`` open.
        service_level: Fraction served within ``target_s``; ``None`` when no ``target_s`` was given.
        target_mean_wait_s: The mean-wait target used, or ``None``.
        target_service_level: The service-level target used, or ``None``.
        target_s: The wait threshold of the service level, or ``None``.
    """

    counters: int
    traffic: float
    p_wait: float
    mean_wait_s: float
    service_level: float | None
    target_mean_wait_s: float | None
    target_service_level: float | None
    target_s: float | None


def _check_targets(
    target_mean_wait_s: float | None, target_service_level: float | None, target_s: float | None
) -> tuple[float | None, float | None, float | None]:
    if target_mean_wait_s is None and target_service_level is None:
        raise ConfigError(
            "recommend_counters needs a target: target_mean_wait_s and/or target_service_level "
            "(with target_s), got neither"
        )
    w = None if target_mean_wait_s is None else _check_finite("target_mean_wait_s", target_mean_wait_s)
    sl = None
    if target_service_level is not None:
        sl = _check_finite("target_service_level", target_service_level, strict=True)
        if sl >= 1.0:
            raise ConfigError(
                f"target_service_level must be a fraction in (0, 1), got {target_service_level!r}"
            )
        if target_s is None:
            raise ConfigError(
                f"target_service_level={target_service_level!r} needs target_s "
                "(the acceptable wait in s), got None"
            )
    t = None if target_s is None else _check_finite("target_s", target_s)
    return w, sl, t


def recommend_counters(
    arrivals_per_s: float,
    aht_s: float,
    *,
    target_mean_wait_s: float | None = None,
    target_service_level: float | None = None,
    target_s: float | None = None,
    max_counters: int = 100,
) -> StaffingAdvice:
    """The smallest number of counters whose Erlang C figures meet the target(s).

    Targets are compared exactly (no rounding): ``mean_wait_s <= target_mean_wait_s`` and
    ``service_level >= target_service_level``. When both are given, both must be met. Scans
    ``c = floor(A) + 1 .. max_counters`` updating Erlang B incrementally, so one call costs
    ``O(max_counters)``.

    Args:
        arrivals_per_s: Arrival rate in arrivals per second, >= 0.
        aht_s: Average handling time in seconds, > 0.
        target_mean_wait_s: Maximum acceptable mean wait in seconds.
        target_service_level: Minimum fraction (0..1, exclusive) of customers served within ``target_s``.
        target_s: The acceptable wait of the service-level target, in seconds. Also reported
            (``StaffingAdvice.service_level``) when only a mean-wait target is given.
        max_counters: The largest number of counters the site can open.

    Returns:
        A :class:`StaffingAdvice`.

    Raises:
        ConfigError: a rate or time is negative or not finite, no target is given,
            ``target_service_level`` is given without ``target_s`` or outside (0, 1), or no
            ``c <= max_counters`` meets the target(s) (the message gives the best figures reached).

    Example:
        >>> lam, aht = 100 / 1800, 180.0  # 100 per 30 min, 3 min each: A = 10 Erlang
        >>> advice = recommend_counters(lam, aht, target_mean_wait_s=10.0, target_s=20.0)
        >>> advice.counters, round(advice.mean_wait_s, 2), round(advice.service_level, 2)
        (14, 7.84, 0.89)
        >>> recommend_counters(lam, aht, target_service_level=0.79, target_s=20.0).counters
        13
    """
    lam = _check_finite("arrivals_per_s", arrivals_per_s)
    aht = _check_finite("aht_s", aht_s, strict=True)
    max_c = _check_counters("max_counters", max_counters)
    w_target, sl_target, t = _check_targets(target_mean_wait_s, target_service_level, target_s)
    a = lam * aht
    b = 1.0
    asa, sl = math.inf, 0.0
    for c in range(1, max_c + 1):
        b = a * b / (c + a * b)
        if c <= a:
            continue
        p = _c_from_b(c, a, b)
        asa, sl = _wait_and_sl(c, a, p, aht, t)
        meets_wait = w_target is None or asa <= w_target
        meets_sl = sl_target is None or sl >= sl_target
        if meets_wait and meets_sl:
            return StaffingAdvice(
                counters=c,
                traffic=a,
                p_wait=p,
                mean_wait_s=asa,
                service_level=None if t is None else sl,
                target_mean_wait_s=w_target,
                target_service_level=sl_target,
                target_s=t,
            )
    raise ConfigError(
        f"no counter count <= max_counters={max_c} meets the target (traffic {a:.3g} Erlang; with "
        f"{max_c} counters mean wait {asa:.3g} s, service level {sl:.3g}); raise max_counters or relax "
        f"target_mean_wait_s={target_mean_wait_s!r} / target_service_level={target_service_level!r}"
    )


class ArrivalRateEstimator:
    """Arrival rate over a sliding time window, from line-crossing timestamps.

    The rate is ``arrivals in (now - window_s, now] / window_s``. This is the estimator the queue app
    uses: Erlang C assumes a steady rate over the staffing interval, so a window equal to that interval
    (e.g. 15 min) estimates exactly the quantity the model needs, and the figure is auditable ("62
    people crossed the entry line in the last 15 minutes"). Memory is bounded by the arrivals inside one
    window (old timestamps are dropped on every call). Its relative standard error for Poisson arrivals
    is ``1 / sqrt(rate * window_s)``: 50 arrivals per window give about 14 %.

    Args:
        window_s: Window length in seconds, > 0.
        start_s: When observation started (e.g. app start). If given, during the first ``window_s``
            seconds the count is divided by the time observed so far instead of ``window_s``, so the
            rate is not underestimated while the window fills.

    Raises:
        ConfigError: ``window_s`` not positive or ``start_s`` not finite.

    Example:
        >>> est = ArrivalRateEstimator(window_s=60.0)
        >>> for ts in (1.0, 15.0, 30.0, 45.0, 59.0, 70.0):
        ...     est.add(ts)
        >>> est.rate(now=70.0)  # 5 crossings in (10, 70]
        0.08333333333333333
        >>> len(est)
        5
    """

    def __init__(self, window_s: float, *, start_s: float | None = None) -> None:
        self.window_s = _check_finite("window_s", window_s, strict=True)
        self.start_s = None if start_s is None else _check_finite("start_s", start_s, minimum=-math.inf)
        self._times: deque[float] = deque()

    def __len__(self) -> int:
        """Number of timestamps currently held (arrivals inside the last window)."""
        return len(self._times)

    def _prune(self, now: float) -> None:
        horizon = now - self.window_s
        while self._times and self._times[0] <= horizon:
            self._times.popleft()

    def add(self, timestamp: float) -> None:
        """Record one arrival (one crossing of the entry line) at ``timestamp`` seconds.

        Raises:
            InputError: ``timestamp`` is not finite or earlier than the previous one.
        """
        ts = float(timestamp)
        if not math.isfinite(ts):
            raise InputError(f"ArrivalRateEstimator.add: timestamp must be finite, got {timestamp!r}")
        if self._times and ts < self._times[-1]:
            raise InputError(
                f"ArrivalRateEstimator.add: timestamp {ts!r} is earlier than "
                f"the previous one {self._times[-1]!r}"
            )
        self._times.append(ts)
        self._prune(ts)

    def rate(self, now: float) -> float:
        """Arrivals per second over ``(now - window_s, now]``.

        Raises:
            InputError: ``now`` is earlier than the last recorded arrival.
        """
        t = float(now)
        if self._times and t < self._times[-1]:
            raise InputError(
                f"ArrivalRateEstimator.rate: now={t!r} is earlier than the last arrival {self._times[-1]!r}"
            )
        self._prune(t)
        span = self.window_s
        if self.start_s is not None:
            span = min(span, t - self.start_s)
        if span <= 0.0:
            return 0.0
        return len(self._times) / span


class EwmaRateEstimator:
    """Exponentially weighted arrival rate in constant memory.

    Each arrival adds ``1 / tau`` to a level that decays as ``exp(-dt / tau)`` with
    ``tau = half_life_s / ln 2``; for Poisson arrivals the level is an unbiased rate estimate with the
    same variance as a window of ``2 tau``. It reacts continuously (no cliff when an arrival leaves a
    window) and needs no buffer, which suits a trend display on a small device; the queue app uses
    :class:`ArrivalRateEstimator` because its figure is tied to a staffing interval and easy to audit.

    Args:
        half_life_s: Time for an arrival's weight to halve, in seconds, > 0.

    Raises:
        ConfigError: ``half_life_s`` not positive.

    Example:
        >>> est = EwmaRateEstimator(half_life_s=600.0)
        >>> for k in range(2000):  # one arrival every 10 s for about 5.5 h
        ...     est.add(10.0 * k)
        >>> round(est.rate(now=19995.0), 3)
        0.1
    """

    def __init__(self, half_life_s: float) -> None:
        self.half_life_s = _check_finite("half_life_s", half_life_s, strict=True)
        self._tau = self.half_life_s / math.log(2.0)
        self._level = 0.0
        self._last: float | None = None

    def add(self, timestamp: float) -> None:
        """Record one arrival at ``timestamp`` seconds.

        Raises:
            InputError: ``timestamp`` is not finite or earlier than the previous one.
        """
        ts = float(timestamp)
        if not math.isfinite(ts):
            raise InputError(f"EwmaRateEstimator.add: timestamp must be finite, got {timestamp!r}")
        self._level = self._decayed(ts, "add") + 1.0 / self._tau
        self._last = ts

    def _decayed(self, t: float, where: str) -> float:
        if self._last is None:
            return 0.0
        if t < self._last:
            raise InputError(
                f"EwmaRateEstimator.{where}: time {t!r} is earlier than the previous one {self._last!r}"
            )
        return self._level * math.exp(-(t - self._last) / self._tau)

    def rate(self, now: float) -> float:
        """Weighted arrivals per second at ``now``.

        Raises:
            InputError: ``now`` is earlier than the last recorded arrival.
        """
        return self._decayed(float(now), "rate")
