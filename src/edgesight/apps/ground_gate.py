"""The tracker's ground-speed gate: association in floor metres when a calibration exists.

In a perspective view a far (small) box and a near (large) box can overlap in the image while the
two people stand metres apart on the floor, and a radius in box heights says nothing about how far
someone can have walked. With ``analytics.calibration`` the tracker projects each box's foot point
(bottom centre) to the floor once per frame and forbids a track to take a detection whose foot
lies further from the track's last observed foot than the track can have gone::

    reach = max_ground_speed_mps x seconds since the last observation
            + GROUND_SLACK_M + the floor length of FOOT_JITTER box heights at the feet

The last term is box jitter: the bottom edge of a box wobbles by a share of its height (on
vtest.avi, at 10 fps, 99 % of detections move their bottom edge by at most 8 % of their height
from the box they overlap most, IoU > 0.6, in the previous frame), which is centimetres near the camera and metres near the horizon, where one pixel row
spans a long stretch of floor; a fixed slack either refuses people far away or lets anything pass
nearby. Time comes from the frames' timestamps, so dropped frames and a variable frame rate widen
the reach by exactly the time that passed. A box cut short (legs hidden by an occluder, or the
detector's extra upper-body box) has no foot on the floor, so a pair of overlapping boxes, one
cut short, is refused only when their heads, with both boxes extended to the taller one's
height, are out of reach too. A foot point at
or beyond the calibration's horizon (no floor position) is never gated: the gate only refuses what
the floor says is impossible.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edgesight.core.config import CalibrationConfig

__all__ = ["FOOT_JITTER", "GROUND_SLACK_M", "GroundGate", "GroundReach"]

Float64Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IndexArray = npt.NDArray[np.intp]

GROUND_SLACK_M = 0.5
"""Metres added to every reach: a box's foot is not the person's exact floor position."""

FOOT_JITTER = 0.1
"""Share of a box's height its bottom edge may wobble between frames, taken as floor slack."""

# A box under this share of the other's height in metres is cut short (legs hidden). Whole people
# differ less: the reference people of vtest.avi measure 1.50-1.87 m (5-95 %) under its estimate.
_CUT_SHORT = 0.8


def _overlapping(last: Float64Array, predicted: Float64Array, boxes: Float64Array) -> BoolArray:
    """``(t, d)`` detections overlapping the hull of a track's last and predicted boxes."""
    lo, hi = np.minimum(last[:, :2], predicted[:, :2]), np.maximum(last[:, 2:], predicted[:, 2:])
    return (
        (lo[:, None, 0] < boxes[None, :, 2])
        & (boxes[None, :, 0] < hi[:, None, 0])
        & (lo[:, None, 1] < boxes[None, :, 3])
        & (boxes[None, :, 1] < hi[:, None, 1])
    )


class GroundReach:
    """One frame's floor geometry between tracks and detections.

    Attributes:
        distance: ``(tracks, detections)`` metres between last observed feet and detected feet
            (NaN where either has no floor position).
        reach: ``(tracks, detections)`` metres the track may have moved towards the detection
            (inf where a box's jitter reaches beyond the horizon).
        too_far: ``(tracks, detections)`` pairs the floor rules out.
    """

    __slots__ = ("distance", "reach", "too_far")

    def __init__(self, distance: Float64Array, reach: Float64Array) -> None:
        self.distance = distance
        self.reach = reach
        self.too_far: BoolArray = distance > reach  # NaN compares False: never gated


class GroundGate:
    """Foot points on the floor and the speed limit that gates association.

    Args:
        calibration: the floor points; its homography maps normalised image points to metres.
        max_speed_mps: fastest ground speed a tracked object is taken to move.

    Example:
        >>> cal = CalibrationConfig(image_points=((0, 0), (1, 0), (1, 1), (0, 1)),
        ...                         ground_points_m=((0, 0), (10, 0), (10, 10), (0, 10)))
        >>> gate = GroundGate(cal, max_speed_mps=2.0)  # a top view: 100 px = 10 m
        >>> track, dets = np.array([[0.0, 40, 10, 50]]), np.array([[0.0, 40, 10, 50], [60, 40, 70, 50]])
        >>> r = gate.reach_of(track, track, dets, np.array([1.0]), (100, 100))
        >>> r.distance.tolist(), r.reach.round(2).tolist(), r.too_far.tolist()  # 6 m in 1 s > 2 m/s
        ([[0.0, 6.0]], [[2.6, 2.6]], [[False, True]])
    """

    def __init__(self, calibration: CalibrationConfig, max_speed_mps: float) -> None:
        if not max_speed_mps > 0:
            raise ValueError(f"tracking.max_ground_speed_mps={max_speed_mps} must be > 0")
        self.homography = calibration.homography()
        self.max_speed_mps = float(max_speed_mps)
        # The floor lies on the side of the horizon where the calibration's own points are.
        centre = np.mean(np.asarray(calibration.image_points, dtype=np.float64), axis=0)
        self._floor_sign = float(np.sign(self.homography[2] @ np.append(centre, 1.0)))

    def _floor(
        self, x: Float64Array, y: Float64Array, frame_size: tuple[int, int]
    ) -> tuple[Float64Array, Float64Array]:
        """Floor metres of pixel points; NaN at or beyond the horizon (apply_homography's sums, inlined)."""
        m = self.homography / np.array([frame_size[0], frame_size[1], 1.0])  # takes pixels
        w = m[2, 0] * x + m[2, 1] * y + m[2, 2]
        w[w * self._floor_sign <= 0] = np.nan
        return (m[0, 0] * x + m[0, 1] * y + m[0, 2]) / w, (m[1, 0] * x + m[1, 1] * y + m[1, 2]) / w

    def reach_of(
        self,
        track_boxes: Float64Array,
        predicted: Float64Array,
        det_boxes: Float64Array,
        seconds: Float64Array,
        frame_size: tuple[int, int],
    ) -> GroundReach:
        """Floor distances from tracks' last boxes to detections, and how far each track may have gone.

        Args:
            track_boxes: ``(t, 4)`` the tracks' last observed boxes, pixels.
            predicted: ``(t, 4)`` where the tracks are predicted now: a detection overlapping the
                last or the predicted box may be it cut short by an occluder (heads compared).
            det_boxes: ``(d, 4)`` this frame's boxes, pixels.
            seconds: ``(t,)`` time since each track's last observation (negative counts as 0).
            frame_size: ``(width, height)`` of the frame.
        """
        t = track_boxes.shape[0]
        boxes = np.concatenate([track_boxes, det_boxes])
        x, bottom = (boxes[:, 0] + boxes[:, 2]) * 0.5, boxes[:, 3]
        step = FOOT_JITTER * (bottom - boxes[:, 1])
        fx, fy = self._floor(x, bottom, frame_size)
        rx, ry = self._floor(x, bottom - step, frame_size)  # the feet raised by the jitter
        jitter = np.sqrt((fx - rx) ** 2 + (fy - ry) ** 2)
        jitter[np.isnan(jitter)] = np.inf
        dx, dy = fx[:t, None] - fx[None, t:], fy[:t, None] - fy[None, t:]
        distance = np.sqrt(dx * dx + dy * dy)
        travel = self.max_speed_mps * np.maximum(seconds, 0.0) + GROUND_SLACK_M
        reach = travel[:, None] + np.maximum(jitter[:t, None], jitter[None, t:])
        too_far = distance > reach  # NaN compares False: never gated
        rows, cols = np.nonzero(too_far & _overlapping(track_boxes, predicted, det_boxes))
        if rows.size:
            # Rough heights in metres (a sideways step of the jitter's length, measured on the floor
            # and scaled up to the box): about the same for one person anywhere, far lower for a
            # box whose legs are hidden.
            sx, sy = self._floor(x + step, bottom, frame_size)
            metres = (sx - fx) ** 2 + (sy - fy) ** 2  # squared: only compared
            a, b = metres[rows], metres[t + cols]
            cut = np.minimum(a, b) < _CUT_SHORT**2 * np.maximum(a, b)
            rows, cols = rows[cut], cols[cut]
            by_head = self._head_distance(boxes, x, rows, t + cols, frame_size)
            distance[rows, cols] = np.fmin(distance[rows, cols], by_head)
        return GroundReach(distance, reach)

    def _head_distance(
        self, boxes: Float64Array, x: Float64Array, i: IndexArray, j: IndexArray, frame_size: tuple[int, int]
    ) -> Float64Array:
        """Floor distance of box pairs ``(i, j)`` read from their tops, both boxes as tall as the taller."""
        height = boxes[:, 3] - boxes[:, 1]
        tall = np.maximum(height[i], height[j])
        tops = np.concatenate([boxes[i, 1] + tall, boxes[j, 1] + tall])
        hx, hy = self._floor(np.concatenate([x[i], x[j]]), tops, frame_size)
        k = i.size
        out: Float64Array = np.sqrt((hx[:k] - hx[k:]) ** 2 + (hy[:k] - hy[k:]) ** 2)
        return out
