"""An ESTIMATED floor calibration of vtest.avi from people's heights: not a survey, for the bench only.

    python bench/vtest_calibration.py [--reference tests/data/vtest_people.csv]

vtest.avi comes with no measured floor points, so the ground-speed gate of the tracker can only be
tried on it with an estimate. The model: a pinhole camera (principal point at the frame's centre,
no roll) at height ``Hc`` pitched down by ``theta``, looking at a flat floor, and every reference
person 1.7 m tall. For a focal length ``f``, ``Hc`` and ``theta`` are fitted so that each reference
box's head row follows from its foot point (least squares over all boxes); heights alone barely
constrain ``f`` (the fit's residual is 6.0-6.6 px from f = 500 to 1550), so ``f`` is the value at
which people walking across the view and people walking along it have the same median speed.
Four floor points are then read off the fitted camera. Expect errors of tens of percent in
metres; do not copy these points into a device config as if they were measured.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.optimize import least_squares  # type: ignore[import-untyped,unused-ignore]

from edgesight.core.config import CalibrationConfig

ROOT = Path(__file__).resolve().parent.parent
PERSON_M = 1.7
FRAME = (768, 576)
FPS = 10.0  # vtest.avi's frame rate
IMAGE_POINTS = ((0.05, 0.35), (0.95, 0.35), (0.95, 0.98), (0.05, 0.98))  # normalised, on the walkway

F64 = npt.NDArray[np.float64]


def _ground(u: F64, v: F64, f: float, hc: float, theta: float) -> tuple[F64, F64]:
    """Floor point (x right, y forward, metres) seen at pixel ``(u, v)``."""
    rx, ry = (u - FRAME[0] / 2) / f, (v - FRAME[1] / 2) / f
    t = hc / (ry * np.cos(theta) + np.sin(theta))
    return t * rx, t * (np.cos(theta) - ry * np.sin(theta))


def _head_row(u: F64, v: F64, f: float, hc: float, theta: float) -> F64:
    """Image row of the head of a person standing with the foot at pixel ``(u, v)``."""
    _, y = _ground(u, v, f, hc, theta)
    up = PERSON_M - hc
    down = -np.sin(theta) * y - np.cos(theta) * up  # camera coordinates of the head
    ahead = np.cos(theta) * y - np.sin(theta) * up
    row: F64 = FRAME[1] / 2 + f * down / ahead
    return row


def _fit_camera(u: F64, v: F64, head: F64, f: float) -> tuple[float, float]:
    fit = least_squares(
        lambda p: _head_row(u, v, f, p[0], p[1]) - head, [8.0, 0.4], bounds=([1.0, 0.0], [100.0, 1.5])
    )
    return float(fit.x[0]), float(fit.x[1])


def _speed_mismatch(rows: F64, u: F64, v: F64, f: float, hc: float, theta: float) -> float:
    """|median speed walking across - along the view| over 2 s spans of the reference tracks."""
    x, y = _ground(u, v, f, hc, theta)
    across: list[float] = []
    along: list[float] = []
    for tid in np.unique(rows[:, 1]):
        m = np.flatnonzero(rows[:, 1] == tid)
        m = m[np.argsort(rows[m, 0])]
        k = int(2 * FPS)
        if m.size <= k:
            continue
        a, b = m[:-k], m[k:]
        speed = np.hypot(x[b] - x[a], y[b] - y[a]) / ((rows[b, 0] - rows[a, 0]) / FPS)
        du, dv = np.abs(u[b] - u[a]), np.abs(v[b] - v[a])
        across += speed[du > 3 * dv].tolist()
        along += speed[dv > du].tolist()
    return abs(float(np.median(across)) - float(np.median(along)))


def estimate_calibration(reference: Path = ROOT / "tests" / "data" / "vtest_people.csv") -> CalibrationConfig:
    """The estimated calibration (see the module docstring), from the reference boxes."""
    rows = np.loadtxt(reference, delimiter=",", skiprows=1)
    whole = (rows[:, 3] > 2) & (rows[:, 3] + rows[:, 5] < FRAME[1] - 2)  # head and feet in view
    rows = rows[whole]
    u, v, head = rows[:, 2] + rows[:, 4] / 2, rows[:, 3] + rows[:, 5], rows[:, 3]
    def mismatch(f: float) -> float:
        return _speed_mismatch(rows, u, v, f, *_fit_camera(u, v, head, f))

    f = min(np.arange(500.0, 1601.0, 50.0), key=mismatch)
    hc, theta = _fit_camera(u, v, head, f)
    px = np.array(IMAGE_POINTS) * FRAME
    gx, gy = _ground(px[:, 0], px[:, 1], f, hc, theta)
    ground = tuple((round(float(a), 2), round(float(b), 2)) for a, b in zip(gx, gy, strict=True))
    return CalibrationConfig(image_points=IMAGE_POINTS, ground_points_m=ground)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=ROOT / "tests" / "data" / "vtest_people.csv")
    args = parser.parse_args()
    print(estimate_calibration(args.reference).model_dump_json(indent=1))


if __name__ == "__main__":
    main()
