"""What both trackers share: the track life cycle, rows of parallel arrays, Hungarian matching, ids.

:class:`edgesight.apps.tracking.Tracker` (``method: bytetrack``) and
:class:`edgesight.apps.appearance_tracker.AppearanceTracker` (``method: edgesight``) keep their
tracks as a dataclass of parallel arrays (row ``i`` of every field is one track) and differ in
which fields they keep and how they associate. The pieces here do not depend on either, so one
copy serves both; ByteTrack's output is unchanged by sharing them (the golden replay pins it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import IntEnum
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped,unused-ignore]

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from edgesight.core.detections import Detections

__all__ = [
    "INFEASIBLE",
    "IdSource",
    "KalmanRows",
    "TrackState",
    "assign",
    "concat_rows",
    "confirmed_states",
    "reported",
    "select_rows",
]

IntArray = npt.NDArray[np.int64]
Rows = TypeVar("Rows", bound="DataclassInstance")

INFEASIBLE = 1e6  # a cost at or above this marks a pair that must not be matched


class TrackState(IntEnum):
    """Life cycle of a track: tentative until ``min_hits``, tracked while matched, lost in a gap."""

    TENTATIVE = 0
    TRACKED = 1
    LOST = 2


@dataclass(slots=True)
class KalmanRows:
    """The fields every tracker keeps per track; each tracker's own row type extends it.

    ``ids`` are 0 or -1 until a track is confirmed; ``mean`` ``(n, 8)`` and ``cov`` ``(n, 3, 4)``
    are the Kalman state of :mod:`edgesight.geometry.motion`; ``state`` holds :class:`TrackState`
    values; ``hits`` counts matched frames.
    """

    ids: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    mean: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 8)))
    cov: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 3, 4)))
    class_id: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))
    state: npt.NDArray[np.int8] = field(default_factory=lambda: np.zeros(0, np.int8))
    hits: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))


def assign(cost: npt.NDArray[np.float64]) -> tuple[IntArray, IntArray]:
    """Hungarian matching on a ``(tracks, detections)`` cost matrix; pairs at ``INFEASIBLE`` are dropped.

    Example:
        >>> rows, cols = assign(np.array([[INFEASIBLE, INFEASIBLE], [0.2, 0.5], [0.1, 0.3]]))
        >>> rows.tolist(), cols.tolist()  # track 0 can match nothing; 1 and 2 share the detections
        ([1, 2], [0, 1])
    """
    rows, cols = linear_sum_assignment(cost)
    ok = cost[rows, cols] < INFEASIBLE
    return rows[ok].astype(np.int64), cols[ok].astype(np.int64)


def select_rows(tracks: Rows, keep: npt.NDArray[Any]) -> Rows:
    """The tracks at ``keep`` (a bool mask or indices), as a new instance of the same dataclass."""
    return type(tracks)(**{f.name: getattr(tracks, f.name)[keep] for f in fields(tracks)})


def concat_rows(tracks: Rows, more: Rows) -> Rows:
    """``tracks`` followed by ``more``, field by field, as a new instance."""
    return type(tracks)(
        **{f.name: np.concatenate([getattr(tracks, f.name), getattr(more, f.name)]) for f in fields(tracks)}
    )


def confirmed_states(ids: IntArray, state: npt.NDArray[np.int8]) -> Mapping[int, TrackState]:
    """State of every confirmed track (id > 0; tentative tracks have no id yet) by id."""
    return {int(i): TrackState(int(s)) for i, s in zip(ids, state, strict=True) if i > 0}


def reported(
    detections: Detections, det_to_track: IntArray, ids: IntArray, state: npt.NDArray[np.int8]
) -> Detections:
    """The detections whose track is tracked on this frame, in input order, with the track's id.

    ``det_to_track`` holds each detection's track row (-1: none); a tentative track's detection
    is not reported until the track is confirmed.

    Example:
        >>> from edgesight.core.detections import Detections
        >>> det = Detections.from_arrays([[0, 0, 9, 9], [20, 0, 29, 9]], [0.9, 0.8], [0, 0], ["person"] * 2)
        >>> out = reported(det, np.array([1, 0]), np.array([-1, 7]), np.array([0, 1], np.int8))
        >>> out.tracker_id.tolist()  # row 0 is tentative, so only the first detection (row 1) is reported
        [7]
    """
    rows = np.flatnonzero(det_to_track >= 0)
    track_rows = det_to_track[rows]
    shown = state[track_rows] == TrackState.TRACKED
    return detections[rows[shown]].with_tracker_id(ids[track_rows[shown]])


class IdSource:
    """Track ids 1, 2, 3, ... handed out in blocks as tracks are confirmed.

    Example:
        >>> ids = IdSource()
        >>> ids.take(2).tolist(), ids.take(1).tolist()
        ([1, 2], [3])
    """

    def __init__(self) -> None:
        self._next = 1

    def take(self, k: int) -> IntArray:
        """The next ``k`` ids."""
        out = np.arange(self._next, self._next + k, dtype=np.int64)
        self._next += k
        return out
