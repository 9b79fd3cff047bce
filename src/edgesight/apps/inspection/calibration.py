"""The decision threshold, calibrated on held-out good parts for a target false-reject rate."""

from __future__ import annotations

import numpy as np

from edgesight.apps.inspection.errors import InspectionInputError

__all__ = ["MIN_HELD_OUT", "calibrate_threshold"]

MIN_HELD_OUT = 2


def calibrate_threshold(good_scores: np.ndarray, false_reject_rate: float) -> float:
    """The smallest held-out good score that rejects at most ``false_reject_rate`` of good parts.

    With few held-out parts the quantile is the largest score seen, i.e. no held-out good part is
    rejected; the rate then only reaches the target as the held-out set grows.

    Example:
        >>> calibrate_threshold(np.arange(1.0, 9.0), 0.25)
        7.0
        >>> calibrate_threshold(np.array([1.0, 2.0, 3.0, 4.0]), 0.0)
        4.0
    """
    if not 0.0 <= false_reject_rate < 1.0:
        raise InspectionInputError(f"false-reject rate must be in [0, 1), got {false_reject_rate}")
    if len(good_scores) < MIN_HELD_OUT:
        raise InspectionInputError(
            f"threshold calibration needs at least {MIN_HELD_OUT} held-out good parts, got {len(good_scores)}"
        )
    return float(np.quantile(good_scores, 1.0 - false_reject_rate, method="higher"))
