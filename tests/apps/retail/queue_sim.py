"""Discrete-event simulation of an M/M/c FIFO queue, to check the Erlang C maths in ``apps.retail.staffing``.

Test support only (not shipped): Erlang C is exact for M/M/c, so users get nothing from simulating the
same model; the simulation's job is to catch a wrong formula or a units slip in our code.

The event list is a ``heapq`` of service completions merged with the (sorted) arrival stream; a
``deque`` holds the waiting line in arrival order. Inter-arrival and service times are exponential,
drawn from a seeded ``numpy.random.Generator``. The first ``warmup`` customers are discarded (the
queue starts empty), the rest are cut into ``n_batches`` consecutive batches, and 95 % confidence
intervals come from the batch means with Student's t.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# Two-sided 95 % Student t quantiles t_{0.975, df} for df = 1..30.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t975(df: int) -> float:
    """Student t quantile for a two-sided 95 % interval with ``df`` degrees of freedom.

    A table for df <= 30, the Cornish-Fisher expansion around z = 1.96 above (error < 1e-4).

    Example:
        >>> t975(24), round(t975(120), 3)
        (2.064, 1.98)
    """
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


@dataclass(frozen=True, slots=True)
class Estimate:
    """A batch-means estimate: the mean and its 95 % confidence interval."""

    mean: float
    lo: float
    hi: float

    @property
    def half_width(self) -> float:
        """Half the width of the confidence interval."""
        return (self.hi - self.lo) / 2.0

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the interval."""
        return self.lo <= value <= self.hi


@dataclass(frozen=True, slots=True)
class SimResult:
    """Outcome of :func:`simulate_mmc` (waits in seconds, over customers after warm-up)."""

    mean_wait_s: Estimate
    service_level: Estimate
    n_customers: int
    n_batches: int


def batch_means(values: npt.NDArray[np.float64], n_batches: int) -> Estimate:
    """Mean of ``values`` with a 95 % CI from ``n_batches`` consecutive equal batches (tail dropped).

    Example:
        >>> e = batch_means(np.arange(100, dtype=float), 4)
        >>> e.mean, e.lo < e.mean < e.hi
        (49.5, True)
    """
    if n_batches < 2:
        raise ValueError(f"n_batches must be >= 2, got {n_batches}")
    size = len(values) // n_batches
    if size < 1:
        raise ValueError(f"{len(values)} values cannot fill {n_batches} batches")
    means = values[: size * n_batches].reshape(n_batches, size).mean(axis=1)
    centre = float(means.mean())
    half = t975(n_batches - 1) * float(means.std(ddof=1)) / math.sqrt(n_batches)
    return Estimate(centre, centre - half, centre + half)


def simulate_waits(
    counters: int, arrivals_per_s: float, aht_s: float, n: int, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """Queue waits (s) of ``n`` customers arriving at an empty M/M/c FIFO system, in arrival order.

    Example:
        >>> w = simulate_waits(1, 0.5, 1.0, 1000, np.random.default_rng(0))
        >>> w.shape, bool(w[0] == 0.0), bool((w >= 0).all())
        ((1000,), True, True)
    """
    if counters < 1 or arrivals_per_s <= 0 or aht_s <= 0:
        raise ValueError(f"need counters >= 1 and positive rates, got {counters}, {arrivals_per_s}, {aht_s}")
    arrive = np.cumsum(rng.exponential(1.0 / arrivals_per_s, n)).tolist()
    service = rng.exponential(aht_s, n).tolist()
    wait = [0.0] * n
    done: list[float] = []  # event heap: service completion times
    line: deque[int] = deque()  # customers waiting, FIFO
    busy = 0
    i = 0
    while i < n or line:
        if i < n and (not done or arrive[i] < done[0]):  # next event: an arrival
            if busy < counters:
                busy += 1
                heapq.heappush(done, arrive[i] + service[i])
            else:
                line.append(i)
            i += 1
        else:  # next event: a service completion
            t = heapq.heappop(done)
            if line:
                j = line.popleft()
                wait[j] = t - arrive[j]
                heapq.heappush(done, t + service[j])
            else:
                busy -= 1
    return np.asarray(wait)


def simulate_mmc(
    counters: int,
    arrivals_per_s: float,
    aht_s: float,
    *,
    target_s: float,
    n_customers: int = 100_000,
    warmup: int = 5_000,
    n_batches: int = 25,
    seed: int = 0,
) -> SimResult:
    """Simulate an M/M/c FIFO queue; mean wait and fraction waiting <= ``target_s``, with 95 % CIs.

    Example:
        >>> r = simulate_mmc(1, 0.5, 1.0, target_s=0.0, n_customers=20_000, seed=1)
        >>> r.mean_wait_s.contains(1.0), r.service_level.contains(0.5)  # M/M/1, rho = 0.5
        (True, True)
    """
    rng = np.random.default_rng(seed)
    waits = simulate_waits(counters, arrivals_per_s, aht_s, warmup + n_customers, rng)[warmup:]
    return SimResult(
        mean_wait_s=batch_means(waits, n_batches),
        service_level=batch_means((waits <= target_s).astype(np.float64), n_batches),
        n_customers=n_customers,
        n_batches=n_batches,
    )
