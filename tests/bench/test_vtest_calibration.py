"""The estimated vtest.avi calibration puts the reference people at a walking pace on the floor."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesight.apps.distance import floor_points
from edgesight.geometry.boxes import Anchor
from vtest_calibration import FPS, FRAME, estimate_calibration

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "vtest_people.csv"


def test_reference_people_walk_at_a_walking_pace_under_the_estimate() -> None:
    # The estimate used heights only; speeds are an independent check of its scale in depth.
    calibration = estimate_calibration(REFERENCE)
    rows = np.loadtxt(REFERENCE, delimiter=",", skiprows=1)
    xyxy = np.c_[rows[:, 2], rows[:, 3], rows[:, 2] + rows[:, 4], rows[:, 3] + rows[:, 5]]
    floor = floor_points(xyxy, Anchor.BOTTOM_CENTER, FRAME, calibration.homography())
    speeds = []
    for person in np.unique(rows[:, 1]):
        m = np.flatnonzero(rows[:, 1] == person)
        m = m[np.argsort(rows[m, 0])]
        if m.size > 20:  # over 2 s spans
            step = np.linalg.norm(floor[m[20:]] - floor[m[:-20]], axis=1)
            speeds += (step / ((rows[m[20:], 0] - rows[m[:-20], 0]) / FPS)).tolist()
    assert 1.0 < float(np.median(speeds)) < 1.6  # people walk at 1.2-1.5 m/s
