"""Multi-object tracking (ByteTrack-style) and the per-track state table the analytics share.

:class:`Tracker` follows ByteTrack (Zhang et al., 2022): constant-velocity Kalman motion, a first
association of high-score detections with all confirmed tracks (lost ones included), a second of
low-score detections with the still-tracked leftovers, and a third confirming tentative tracks.
Assignment is Hungarian (``scipy.optimize.linear_sum_assignment``) on ``1 - IoU``. A track is
reported once it has been matched ``min_hits`` frames in a row and survives ``max_lost_frames``
(30 when unset: this tracker counts frames, not seconds) frames without a match on its predicted box, so ids stay stable through short occlusions and
detection flicker. All tracks live in parallel arrays; lost tracks expire, so the state is bounded.

Why not a library: roboflow's ``trackers`` imports ``supervision`` and ``opencv-python`` at run
time, and supervision's ``ByteTrack`` writes into the caller's detections; apps import neither.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from edgesight.apps.track_rows import (
    INFEASIBLE,
    IdSource,
    KalmanRows,
    TrackState,
    assign,
    concat_rows,
    confirmed_states,
    reported,
    select_rows,
)
from edgesight.core.config import TrackingConfig
from edgesight.core.detections import Detections
from edgesight.geometry.boxes import box_iou
from edgesight.geometry.motion import kalman_initiate, kalman_predict, kalman_update, state_to_xyxy

__all__ = ["BYTETRACK_MEMORY_FRAMES", "ClassFilter", "HoldsTrackState", "TrackState", "TrackTable", "Tracker"]

IntArray = npt.NDArray[np.int64]
Float64Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(slots=True)
class _Tracks(KalmanRows):
    """All tracks as parallel arrays (row ``i`` of each array is one track): ByteTrack's fields."""

    lost: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))



_TENTATIVE, _TRACKED, _LOST = int(TrackState.TENTATIVE), int(TrackState.TRACKED), int(TrackState.LOST)
BYTETRACK_MEMORY_FRAMES = 30
"""Frames the ``bytetrack`` method keeps a lost track when ``max_lost_frames`` is unset (its old default)."""


def _associate(iou: Float64Array, min_iou: float) -> tuple[IntArray, IntArray]:
    """Hungarian matching on an IoU matrix; returns matched ``(row, col)`` with IoU >= min_iou."""
    return assign(np.where(iou >= min_iou, 1.0 - iou, INFEASIBLE))


class Tracker:
    """ByteTrack-style tracker: ``update(detections, timestamp) -> tracked detections``.

    The returned :class:`Detections` hold the detections matched to confirmed tracks, in input
    order, with their own (measured) boxes and a ``tracker_id``; the input is never modified.
    Ids start at 1 and are given when a track is confirmed, so tentative tracks use up no ids.

    Args:
        config: thresholds; defaults to :class:`TrackingConfig` defaults.

    Example:
        >>> t = Tracker(TrackingConfig(min_hits=2))
        >>> def frame(i):
        ...     return Detections.from_arrays([[10 + 2 * i, 10, 50 + 2 * i, 90]], [0.9], [0], ["person"])
        >>> out = [t.update(frame(i), timestamp=i / 30) for i in range(4)]
        >>> [o.tracker_id.tolist() for o in out]
        [[], [1], [1], [1]]
    """

    def __init__(self, config: TrackingConfig | None = None) -> None:
        self.config = config if config is not None else TrackingConfig()
        self._tracks = _Tracks()
        self._ids = IdSource()

    @property
    def num_tracks(self) -> int:
        """Tracks held in memory (tentative, tracked and lost); bounded by expiry."""
        return int(self._tracks.ids.shape[0])

    def states(self) -> Mapping[int, TrackState]:
        """State of every confirmed track by id (for inspection and tests)."""
        return confirmed_states(self._tracks.ids, self._tracks.state)

    def memory_frames(self) -> int:
        """Frames a lost track is kept: ``max_lost_frames``, or 30 (this tracker counts frames, not time)."""
        frames = self.config.max_lost_frames
        return BYTETRACK_MEMORY_FRAMES if frames is None else frames

    def update(self, detections: Detections, timestamp: float) -> Detections:
        """Advance all tracks by one frame and associate this frame's detections.

        Args:
            detections: boxes in source-frame pixels; ``tracker_id`` is ignored if set.
            timestamp: capture time (Unix seconds); kept for the caller's bookkeeping only,
                motion is modelled per frame.

        Returns:
            A new :class:`Detections` of the detections matched to confirmed tracks.
        """
        del timestamp  # motion is per frame; the argument keeps the analytics' one-verb signature
        cfg = self.config
        boxes = detections.xyxy.astype(np.float64)
        scores = detections.confidence
        det_class = detections.class_id
        n = boxes.shape[0]
        t = self._tracks
        det_to_track = np.full(n, -1, np.int64)
        track_matched = np.zeros(t.ids.shape[0], np.bool_)
        high = np.flatnonzero(scores >= cfg.track_thresh)
        if t.ids.shape[0]:
            mean, cov = kalman_predict(t.mean, t.cov, freeze_size=t.state == _LOST)
            t = _Tracks(t.ids, mean, cov, t.class_id, t.state, t.hits, t.lost)
            iou = box_iou(state_to_xyxy(t.mean), boxes)  # one matrix, sliced by each stage
            if cfg.class_aware:
                iou[t.class_id[:, None] != det_class[None, :]] = 0.0

            def match(ti: IntArray, di: IntArray, min_iou: float) -> None:
                if ti.shape[0] == 0 or di.shape[0] == 0:
                    return
                r, c = _associate(iou[np.ix_(ti, di)], min_iou)
                det_to_track[di[c]] = ti[r]
                track_matched[ti[r]] = True

            low = np.flatnonzero((scores >= cfg.low_thresh) & (scores < cfg.track_thresh))
            confirmed = np.flatnonzero(t.state != _TENTATIVE)
            match(confirmed, high, cfg.match_iou)
            match(confirmed[~track_matched[confirmed] & (t.state[confirmed] == _TRACKED)], low, cfg.low_match_iou)
            match(np.flatnonzero(t.state == _TENTATIVE), high[det_to_track[high] < 0], cfg.new_match_iou)

        t = self._apply_matches(t, det_to_track, track_matched, boxes)
        births = high[(det_to_track[high] < 0) & (scores[high] >= cfg.new_track_thresh)]
        t, birth_rows = self._birth(t, boxes[births], det_class[births])
        det_to_track[births] = birth_rows
        self._tracks = t

        return reported(detections, det_to_track, t.ids, t.state)

    def _apply_matches(
        self, t: _Tracks, det_to_track: IntArray, track_matched: BoolArray, boxes: Float64Array
    ) -> _Tracks:
        """Kalman-correct matched tracks, promote, age and drop the others; keeps det_to_track valid."""
        cfg = self.config
        matched_dets = np.flatnonzero(det_to_track >= 0)
        rows = det_to_track[matched_dets]
        mean, cov = t.mean, t.cov  # fresh arrays from kalman_predict: safe to write in place
        if rows.shape[0]:
            mean[rows], cov[rows] = kalman_update(t.mean[rows], t.cov[rows], boxes[matched_dets])
        hits = np.where(track_matched, t.hits + 1, t.hits)
        lost = np.where(track_matched, 0, t.lost + 1)
        state = t.state.copy()
        state[track_matched & (t.state == _LOST)] = _TRACKED
        promote = track_matched & (t.state == _TENTATIVE) & (hits >= cfg.min_hits)
        state[~track_matched & (t.state == _TRACKED)] = _LOST
        ids = t.ids
        if np.any(promote):
            ids = ids.copy()
            ids[promote] = self._ids.take(int(np.count_nonzero(promote)))
            state[promote] = _TRACKED
        keep = np.where(t.state == _TENTATIVE, track_matched, lost <= self.memory_frames())
        new_index = np.cumsum(keep) - 1
        det_to_track[matched_dets] = new_index[rows]  # matched tracks are always kept
        updated = _Tracks(ids, mean, cov, t.class_id, state, hits.astype(np.int32), lost.astype(np.int32))
        return updated if keep.all() else select_rows(updated, keep)

    def _birth(
        self, t: _Tracks, boxes: Float64Array, class_id: npt.NDArray[np.int32]
    ) -> tuple[_Tracks, IntArray]:
        """Start tentative tracks (tracked at once when ``min_hits == 1``); returns their rows."""
        k = boxes.shape[0]
        first_row = t.ids.shape[0]
        if k == 0:
            return t, np.zeros(0, np.int64)
        mean, cov = kalman_initiate(boxes)
        confirmed_now = self.config.min_hits <= 1
        born = _Tracks(
            ids=self._ids.take(k) if confirmed_now else np.full(k, -1, np.int64),
            mean=mean,
            cov=cov,
            class_id=class_id.astype(np.int32),
            state=np.full(k, _TRACKED if confirmed_now else _TENTATIVE, np.int8),
            hits=np.ones(k, np.int32),
            lost=np.zeros(k, np.int32),
        )
        return concat_rows(t, born), np.arange(first_row, first_row + k, dtype=np.int64)


class TrackTable:
    """Per-track state of an analytics rule set, as named arrays with one row per track id.

    Rows are created on first sight with each column's fill value and dropped by
    :meth:`pop_expired` once a track has not been seen for more than ``ttl_frames`` frames, so the
    table never outgrows the live tracks. Columns are private to the owning app.

    Args:
        ttl_frames: frames after the last sighting before a track's state is dropped.
        columns: name -> ``(shape of one row, dtype, fill value)``.

    Example:
        >>> table = TrackTable(2, {"hits": ((), np.int64, 0)})
        >>> rows = table.rows(np.array([7, 9]), frame_index=0)
        >>> table.cols["hits"][rows] += 1
        >>> table.pop_expired(frame_index=3)["id"].tolist(), len(table)
        ([7, 9], 0)
    """

    def __init__(self, ttl_frames: int, columns: Mapping[str, tuple[tuple[int, ...], Any, Any]]) -> None:
        self.ttl_frames = ttl_frames
        self._spec = dict(columns)
        self.ids: IntArray = np.zeros(0, np.int64)
        self.first_frame: IntArray = np.zeros(0, np.int64)
        self.last_frame: IntArray = np.zeros(0, np.int64)
        self.cols: dict[str, npt.NDArray[Any]] = {
            name: np.full((0, *shape), fill, dtype=dtype) for name, (shape, dtype, fill) in self._spec.items()
        }
        self._index: dict[int, int] = {}

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def rows(self, track_ids: IntArray, frame_index: int) -> IntArray:
        """Rows of these tracks (created if new), marking them seen at ``frame_index``."""
        found = [self._index.get(i, -1) for i in track_ids.tolist()]
        rows = np.asarray(found, dtype=np.int64)
        new = rows < 0
        if np.any(new):
            new_ids = track_ids[new]
            k = new_ids.shape[0]
            base = self.ids.shape[0]
            self.ids = np.concatenate([self.ids, new_ids])
            self.first_frame = np.concatenate([self.first_frame, np.full(k, frame_index, np.int64)])
            self.last_frame = np.concatenate([self.last_frame, np.full(k, frame_index, np.int64)])
            for name, (shape, dtype, fill) in self._spec.items():
                self.cols[name] = np.concatenate([self.cols[name], np.full((k, *shape), fill, dtype=dtype)])
            rows[new] = np.arange(base, base + k)
            self._index.update(zip(new_ids.tolist(), range(base, base + k), strict=True))
        self.last_frame[rows] = frame_index
        return rows

    def __contains__(self, track_id: object) -> bool:
        """Whether the table holds state for ``track_id``."""
        return track_id in self._index

    def rows_of(self, track_ids: IntArray) -> IntArray:
        """Rows of tracks already in the table (raises KeyError naming an unknown id)."""
        try:
            return np.asarray([self._index[i] for i in track_ids.tolist()], dtype=np.int64)
        except KeyError as exc:
            raise KeyError(f"TrackTable: no state for track id {exc.args[0]}") from None

    def pop_expired(self, frame_index: int) -> dict[str, npt.NDArray[Any]]:
        """Drop tracks unseen for over ``ttl_frames``; returns their ``id``, ``last_frame`` and columns."""
        expired = frame_index - self.last_frame > self.ttl_frames
        out: dict[str, npt.NDArray[Any]] = {"id": self.ids[expired], "last_frame": self.last_frame[expired]}
        if not np.any(expired):
            return out
        out.update({name: col[expired] for name, col in self.cols.items()})
        keep = ~expired
        self.ids, self.first_frame = self.ids[keep], self.first_frame[keep]
        self.last_frame = self.last_frame[keep]
        self.cols = {name: col[keep] for name, col in self.cols.items()}
        self._index = {int(i): r for r, i in enumerate(self.ids.tolist())}
        return out


class HoldsTrackState:
    """A rule that keeps per-track state in a :class:`TrackTable` (``self._table``), its retention settable.

    The analytics engine sets ``ttl_frames`` of every such rule to one frame more than the tracker
    keeps a lost track, at the stream's measured frame rate.
    """

    _table: TrackTable

    @property
    def ttl_frames(self) -> int:
        """Frames after its last sighting before a track's state is dropped."""
        return self._table.ttl_frames

    @ttl_frames.setter
    def ttl_frames(self, frames: int) -> None:
        self._table.ttl_frames = frames


class ClassFilter:
    """Which of ``r`` rules count which class names (an empty list counts every class).

    Example:
        >>> f = ClassFilter([["person"], [], ["car", "truck"]])
        >>> dets = Detections.from_arrays(np.zeros((2, 4)), [0.9, 0.9], [0, 7], ["person", "truck"])
        >>> f.matrix(dets).tolist()
        [[True, True, False], [False, True, True]]
    """

    def __init__(self, classes_per_rule: Sequence[Sequence[str]]) -> None:
        self._sets = [frozenset(c) for c in classes_per_rule]
        self._all = all(not s for s in self._sets)
        self._codes: dict[str, int] = {}
        self._table = np.zeros((0, len(self._sets)), dtype=np.bool_)

    def _code(self, class_name: str) -> int:
        code = self._codes.get(class_name)
        if code is None:
            row = np.array([[not s or class_name in s for s in self._sets]], dtype=np.bool_)
            self._table = np.concatenate([self._table, row])
            code = self._codes[class_name] = len(self._codes)
        return code

    def matrix(self, detections: Detections) -> BoolArray:
        """``(n, r)`` bool: detection ``i`` counts for rule ``j``."""
        n = len(detections)
        if self._all or n == 0:
            return np.full((n, len(self._sets)), self._all, dtype=np.bool_)
        codes = self._codes
        idx = [codes.get(name, -1) for name in detections.class_name.tolist()]
        if -1 in idx:
            idx = [self._code(name) for name in detections.class_name.tolist()]
        out: BoolArray = self._table[idx]
        return out
