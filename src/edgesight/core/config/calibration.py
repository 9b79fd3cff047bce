"""The ``analytics.calibration`` section: four floor points seen in the image and measured on the ground."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from pydantic import Field, model_validator

from edgesight.core.config.base import Point, StrictSection, check_normalised
from edgesight.geometry.homography import homography_from_points

__all__ = ["CalibrationConfig", "check_calibration_points"]


def check_calibration_points(cfg: CalibrationConfig) -> None:
    """Image points in the frame, finite ground points, and a homography that exists between them."""
    check_normalised(cfg.image_points, "image_points")
    for i, p in enumerate(cfg.ground_points_m):
        if not all(math.isfinite(v) and abs(v) <= 1e5 for v in p):
            raise ValueError(f"ground_points_m[{i}]: {list(p)} must be finite metres within +-100000")
    try:
        homography_from_points(cfg.image_points, cfg.ground_points_m)
    except ValueError as exc:
        text = str(exc).replace("src points", "image_points").replace("dst points", "ground_points_m")
        raise ValueError(
            f"{text} (image_points={[list(p) for p in cfg.image_points]}, "
            f"ground_points_m={[list(p) for p in cfg.ground_points_m]})"
        ) from None


class CalibrationConfig(StrictSection):
    """Four floor points seen in the image and measured on the ground: the image-to-floor homography."""

    image_points: tuple[Point, Point, Point, Point] = Field(description="4 x [x, y] normalised 0..1")
    ground_points_m: tuple[Point, Point, Point, Point] = Field(description="same points on the floor, m")

    @model_validator(mode="after")
    def _check(self) -> CalibrationConfig:
        check_calibration_points(self)
        return self

    def homography(self) -> npt.NDArray[np.float64]:
        """``(3, 3)`` map from normalised image points to ground metres.

        Example:
            >>> c = CalibrationConfig(image_points=((0, 0), (1, 0), (1, 1), (0, 1)),
            ...                       ground_points_m=((0, 0), (8, 0), (8, 6), (0, 6)))
            >>> c.homography().round(6).diagonal().tolist()
            [8.0, 6.0, 1.0]
        """
        return homography_from_points(self.image_points, self.ground_points_m)
