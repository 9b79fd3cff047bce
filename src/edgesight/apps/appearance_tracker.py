"""EdgeSight's default tracker: ByteTrack plus appearance, observation-centric recovery and time.

It keeps ByteTrack's stages (high-score detections first, low-score ones for the leftovers) and
adds what keeps identities through crossings and occlusions on a CPU budget:

* **Appearance.** When the sensor attached torso colour histograms
  (:mod:`edgesight.sensor.appearance`), the association cost is ``1 - IoU + w * (1 - similarity)``
  and a pair whose colours clearly differ (similarity below ``_APPEARANCE_VETO``) is never matched,
  so two people passing each other do not swap ids. Each track keeps a small **gallery** of its
  last ``_GALLERY_SIZE`` looks (at most one per ``_GALLERY_SPACING_S``, so about the last 0.8 s)
  and a detection is compared with the look it resembles most, as DeepSORT does: a person who
  turns round or is half hidden shows other colours than a second before, and a moving average
  of the two resembles neither (on vtest.avi it cost five id switches in the group at the sign;
  below 10 fps the gallery lost a few instead: BENCHMARKS.md, round 5).
  Looks come only from detections near no other track (an occluded box's colours are partly the
  occluder's). Without vectors (a metadata replay) the cost is IoU alone.
* **Observation-centric recovery** (OC-SORT, Cao et al., 2023). A track that missed up to
  ``_OCR_MAX_GAP`` frames is also tried against its *last observed* box, not only its drifting
  prediction (longer gaps let a passer-by take the spot: measured on vtest.avi); when a track is
  re-found after more than ``_REANCHOR_GAP`` frames, its velocity is re-estimated from the two
  observations across the gap instead of the Kalman filter's extrapolated state. A new track's
  velocity is likewise what its first two observations say: the filter starts at rest and learns
  a walker's speed over several frames, and a dropped frame then doubles the shortfall (someone
  walking in at the frame's edge on vtest.avi lost their first id at the first missing frame in
  every draw; with every third frame missing, 12.5 -> 11.6 id switches, unchanged at full rate).
* **A widening match** (C-BIoU's buffered IoU, Yang et al., WACV 2023). The first association
  compares boxes widened by ``tracking.motion_buffer`` x the seconds each track went unseen (at
  most 1 s) of their size on every side: someone who speeds up, turns, was missed for a few
  frames, or is seen at a low frame rate still overlaps their prediction. A match that only the
  widening makes needs the looks to agree (``_LOST_MIN_SIMILARITY``; without appearance vectors
  it is refused, so without looks it reaches no pair that plain IoU does not). The widening is larger for
  a track unseen longer, so a near-tie now goes to it (on vtest.avi that re-finds people at the
  sign; BENCHMARKS.md, ninth round).
* **Certainty.** A track unseen for some frames pays a little in the association cost (0.01 a
  frame period, at most 0.1). Before the widening match it decided near-ties for the track seen on
  the last frame; now it only tempers the widening's pull (int8 detections of vtest.avi: 9.9 id
  switches without it, 9.3 with).
* **Re-identification after longer gaps** (off by default, ``reid_similarity: 1.0``). A lost
  track can take a detection far from its predicted box when the appearance agrees (similarity
  >= ``reid_similarity``), the box has a similar height and it lies within a radius that grows
  with the time lost. Colour histograms alone confuse people dressed alike (on vtest.avi every
  setting tried merged different people), so enable it with a stronger vector.
* **Exits.** A track lost at the frame's edge has left: it expires after ``_EXIT_GRACE_FRAMES``
  so that nobody entering there inherits its id.
* **Ground gate** (with ``analytics.calibration`` and ``max_ground_speed_mps`` set, :mod:`edgesight.apps.ground_gate`). A track
  may not take a detection whose foot point, projected to the floor, lies further from the track's
  last observed foot than ``max_ground_speed_mps`` x the seconds since then, plus slack for box
  jitter: boxes that overlap in a perspective view but stand metres apart stay apart, and the
  re-identification radius is that reach in metres instead of box heights. It needs the
  ``frame_size`` of each update; without a calibration nothing changes.
* **Time.** Prediction advances by the time elapsed since the last frame in units of the stream's
  frame period (the shortest recent interval), so dropped frames and a variable frame rate
  neither stall nor overshoot the motion model. A lost track is kept ``max_lost_s`` seconds (in
  frame periods at the measured rate: 30 at 10 fps, 90 at 30 fps), or ``max_lost_frames`` frame
  periods when that is set.

Tracks live in parallel arrays; expired tracks are dropped, so memory is bounded.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edgesight.apps.ground_gate import GroundGate, GroundReach
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
from edgesight.apps.tracking import BYTETRACK_MEMORY_FRAMES
from edgesight.core.config import CalibrationConfig, TrackingConfig
from edgesight.core.detections import Detections
from edgesight.geometry.boxes import at_frame_edge, box_iou, buffered_iou
from edgesight.geometry.motion import (
    kalman_initiate,
    kalman_predict,
    kalman_update,
    state_to_xyxy,
    xyxy_to_cxcywh,
)

__all__ = ["AppearanceTracker"]

IntArray = npt.NDArray[np.int64]
Float64Array = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

_TENTATIVE, _TRACKED, _LOST = int(TrackState.TENTATIVE), int(TrackState.TRACKED), int(TrackState.LOST)
_APPEARANCE_VETO = 0.5  # similarity below which two boxes are different people whatever the IoU
_GALLERY_SIZE = 8  # looks a track remembers (a ring buffer; the oldest is overwritten)
# At most one look per this many seconds: 8 looks span about 0.8 s at 10 fps and above (every frame
# at 10 fps, every third at 30 fps). Longer (1.2 s and more on vtest.avi) lets a track's older
# colours match a neighbour; 2-5 looks lost IDF1; a moving average blurs a person who turns.
_GALLERY_SPACING_S = 0.09
_CLEAN_OVERLAP = 0.3  # a detection overlapped this much by two predicted tracks is not "clean"
_REID_BASE_RADIUS, _REID_RADIUS_PER_S = 0.5, 0.5  # re-id radius in box heights: base + per second lost
_REID_HEIGHT_RATIO = 1.35  # a re-found box may be at most this much taller or shorter
_PERIOD_WINDOW = 32  # frame intervals remembered to estimate the stream's frame period
_MAX_STEPS = 100.0  # a longer pause (source stalled) is predicted as this many frames
_REANCHOR_GAP = 3.0  # frame periods unseen after which the velocity is re-estimated from observations
_EXIT_GRACE_FRAMES = 5  # a track lost at the border has left unless re-found this quickly
_LOST_MIN_SIMILARITY = 0.75  # appearance a lost track needs to take a detection (when known)
_OCR_MAX_GAP = 2.0  # frame periods: older last observations are where someone else may now stand
# A track seen on the last frame is surer than one predicted across a gap: each frame period unseen
# adds this to its association cost (at most _UNSEEN_COST_CAP). With plain IoU it gave near-ties to
# the track that was seen (vtest.avi frame 684, one box over two people in depth: 0.32 for a track
# lost a frame earlier against 0.33; 22.4 -> 21.1 id switches over 17 draws). The widening match
# widens a longer-unseen track more, which outweighs this in such a tie; it remains a small brake.
_UNSEEN_COST_PER_PERIOD = 0.01
_UNSEEN_COST_CAP = 0.1
# The first association's buffer stops growing after this long unseen (tracking.motion_buffer x 1 s
# a side). Capped at 0.3-0.5 s it kept fewer people at the sign on vtest.avi (lamp post 11.8 + 15.8
# of 13 + 17, 10.9 id switches); at 1 s or more, 12.7 + 16.7 and 9.0.
_BUFFER_MAX_S = 1.0


@dataclass(slots=True)
class _Tracks(KalmanRows):
    """All tracks as parallel arrays (row ``i`` of each array is one track): the shared fields and these."""

    lost: Float64Array = field(default_factory=lambda: np.zeros(0))  # frame periods since last seen
    last_box: Float64Array = field(default_factory=lambda: np.zeros((0, 4)))  # last observed xyxy
    # (n, _GALLERY_SIZE, d) unit vectors; slots not yet written repeat the first look, so the
    # best match needs no mask. looks: looks written (0: appearance unknown); look_at: time of the newest.
    gallery: Float32Array = field(default_factory=lambda: np.zeros((0, _GALLERY_SIZE, 0), np.float32))
    looks: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    look_at: Float64Array = field(default_factory=lambda: np.zeros(0))
    seen_at: Float64Array = field(default_factory=lambda: np.zeros(0))  # timestamp of last_box


class AppearanceTracker:
    """Tracker with appearance, OC-SORT recovery and timestamps: ``update(detections, t)``.

    Same contract as :class:`edgesight.apps.tracking.Tracker`: the result holds the detections
    matched to confirmed tracks, in input order, with a ``tracker_id``; the input is not modified.

    Args:
        config: thresholds; ``method`` is ignored here (see :func:`make_tracker`).
        calibration: the floor calibration; with it and a ``frame_size`` on each update,
            association is gated by ground speed.

    Example:
        >>> t = AppearanceTracker(TrackingConfig(min_hits=2))
        >>> def frame(i):
        ...     return Detections.from_arrays([[10 + 2 * i, 10, 50 + 2 * i, 90]], [0.9], [0], ["person"])
        >>> out = [t.update(frame(i), timestamp=i / 30) for i in (0, 1, 4, 5)]  # frames 2, 3 dropped
        >>> [o.tracker_id.tolist() for o in out]
        [[], [1], [1], [1]]
    """

    def __init__(
        self, config: TrackingConfig | None = None, calibration: CalibrationConfig | None = None
    ) -> None:
        self.config = config if config is not None else TrackingConfig()
        speed = self.config.max_ground_speed_mps
        self._gate = None if calibration is None or speed is None else GroundGate(calibration, speed)
        self._tracks = _Tracks()
        self._ids = IdSource()
        self._last_time: float | None = None
        self._intervals: deque[float] = deque(maxlen=_PERIOD_WINDOW)

    @property
    def num_tracks(self) -> int:
        """Tracks held in memory (tentative, tracked and lost); bounded by expiry."""
        return int(self._tracks.ids.shape[0])

    def states(self) -> Mapping[int, TrackState]:
        """State of every confirmed track by id (for inspection and tests)."""
        return confirmed_states(self._tracks.ids, self._tracks.state)

    def track_counts(self) -> dict[str, int]:
        """Confirmed tracks seen on the last frame (``tracked``) and in a gap (``lost``)."""
        state = self._tracks.state
        return {"tracked": int(np.count_nonzero(state == _TRACKED)), "lost": int(np.count_nonzero(state == _LOST))}

    def memory_frames(self) -> float:
        """Frame periods a lost track is kept: ``max_lost_frames``, else ``max_lost_s`` at the measured rate.

        Until timestamps have given a rate (a stream without a clock never does), 30 frames.

        Example:
            >>> t = AppearanceTracker(TrackingConfig(max_lost_s=2.0))
            >>> for i in range(3):
            ...     _ = t.update(Detections.empty(), timestamp=i / 25)
            >>> round(t.memory_frames(), 6)  # 2 s at 25 fps
            50.0
        """
        frames = self.config.max_lost_frames
        if frames is not None:
            return float(frames)
        period = min(self._intervals) if self._intervals else 0.0
        return self.config.max_lost_s / period if period > 0 else float(BYTETRACK_MEMORY_FRAMES)

    def _steps(self, timestamp: float) -> float:
        """Frame periods since the previous frame (1.0 on the first frame or without a clock)."""
        last, self._last_time = self._last_time, timestamp
        if last is None or not timestamp > last:
            return 1.0
        interval = timestamp - last
        self._intervals.append(interval)
        return float(min(max(interval / min(self._intervals), 1.0), _MAX_STEPS))

    def update(
        self, detections: Detections, timestamp: float, frame_size: tuple[int, int] | None = None
    ) -> Detections:
        """Advance all tracks to ``timestamp`` and associate this frame's detections.

        Args:
            detections: boxes in source-frame pixels, with ``embedding`` when the sensor made them.
            timestamp: capture time in seconds; the gap to the previous frame sets the prediction.
            frame_size: ``(width, height)``; with it, a track lost at the frame's edge is taken to
                have left and expires after ``_EXIT_GRACE_FRAMES`` instead of ``max_lost_frames``.

        Returns:
            A new :class:`Detections` of the detections matched to confirmed tracks.
        """
        cfg = self.config
        steps = self._steps(timestamp)
        period = min(self._intervals) if self._intervals else 0.0
        boxes = detections.xyxy.astype(np.float64)
        scores = detections.confidence
        n = boxes.shape[0]
        vectors = self._vectors(detections)
        t = self._tracks
        if t.gallery.shape[2] != vectors.shape[1] and t.ids.shape[0] == 0:
            t.gallery = np.zeros((0, _GALLERY_SIZE, vectors.shape[1]), np.float32)
        det_to_track = np.full(n, -1, np.int64)
        matched = np.zeros(t.ids.shape[0], np.bool_)
        high = np.flatnonzero(scores >= cfg.track_thresh)
        if t.ids.shape[0]:
            t.mean, t.cov = kalman_predict(t.mean, t.cov, freeze_size=t.state == _LOST, steps=steps)
            t.lost = t.lost + steps
            similarity = self._similarity(t, vectors)
            predicted = state_to_xyxy(t.mean)
            iou = box_iou(predicted, boxes)
            other_class = t.class_id[:, None] != detections.class_id[None, :] if cfg.class_aware else None
            if other_class is not None:
                iou[other_class] = 0.0
            # A lost track must look like the detection to take it (a bystander often fills the gap).
            veto = (similarity < _APPEARANCE_VETO) | (
                (t.state == _LOST)[:, None] & (similarity < _LOST_MIN_SIMILARITY)
            )
            ground = self._ground(t, boxes, timestamp, frame_size)
            if ground is not None:
                veto |= ground.too_far
            looks_apart = cfg.appearance_weight * np.where(np.isnan(similarity), 0.0, 1.0 - similarity)
            unseen = np.minimum(_UNSEEN_COST_PER_PERIOD * t.lost, _UNSEEN_COST_CAP)[:, None]
            extra_cost = looks_apart + unseen
            first_iou, first_veto = self._buffered(t, predicted, boxes, other_class, period, iou, similarity, veto)

            def match(ti: IntArray, di: IntArray, cost: Callable[[IntArray, IntArray], Float64Array]) -> None:
                if ti.shape[0] == 0 or di.shape[0] == 0:
                    return
                r, c = assign(cost(ti, di))
                det_to_track[di[c]] = ti[r]
                matched[ti[r]] = True

            def iou_cost(
                min_iou: float, last_observed: bool = False, overlap: Float64Array | None = None,
                vetoed: BoolArray | None = None,
            ) -> Callable[[IntArray, IntArray], Float64Array]:
                over = iou if overlap is None else overlap
                block = veto if vetoed is None else vetoed

                def cost(ti: IntArray, di: IntArray) -> Float64Array:
                    pair = np.ix_(ti, di)
                    sub = self._last_iou(t, ti, boxes, di, detections) if last_observed else over[pair]
                    return np.where((sub >= min_iou) & ~block[pair], 1.0 - sub + extra_cost[pair], INFEASIBLE)

                return cost

            def free(rows: IntArray) -> IntArray:
                return rows[~matched[rows]]

            def unmatched_high() -> IntArray:
                return high[det_to_track[high] < 0]

            confirmed = np.flatnonzero(t.state != _TENTATIVE)
            match(confirmed, high, iou_cost(cfg.match_iou, overlap=first_iou, vetoed=first_veto))
            low = np.flatnonzero((scores >= cfg.low_thresh) & (scores < cfg.track_thresh))
            left = free(confirmed)
            match(left[t.state[left] == _TRACKED], low, iou_cost(cfg.low_match_iou))
            # OC-SORT's recovery: the last observation, where a stopped or turned person still is.
            left = free(confirmed)
            match(left[t.lost[left] <= _OCR_MAX_GAP], unmatched_high(), iou_cost(cfg.match_iou, last_observed=True))
            if cfg.reid_similarity < 1.0:
                left = free(confirmed)
                lost_left = left[t.state[left] == _LOST]
                match(
                    lost_left,
                    unmatched_high(),
                    lambda ti, di: self._reid_cost(t, ti, boxes, di, similarity, period, detections, ground),
                )
            match(np.flatnonzero(t.state == _TENTATIVE), unmatched_high(), iou_cost(cfg.new_match_iou))
            clean = np.count_nonzero(iou > _CLEAN_OVERLAP, axis=0) <= 1  # no other track near this box
        else:
            clean = np.ones(n, np.bool_)

        t = self._apply_matches(t, det_to_track, matched, boxes, vectors, clean, frame_size, timestamp)
        births = high[(det_to_track[high] < 0) & (scores[high] >= cfg.new_track_thresh)]
        t, birth_rows = self._birth(t, boxes[births], detections.class_id[births], vectors[births], timestamp)
        det_to_track[births] = birth_rows
        self._tracks = t

        return reported(detections, det_to_track, t.ids, t.state)

    def _ground(
        self,
        t: _Tracks,
        boxes: Float64Array,
        timestamp: float,
        frame_size: tuple[int, int] | None,
    ) -> GroundReach | None:
        """Floor distances and reaches of this frame (None without a calibration or a frame size)."""
        if self._gate is None or frame_size is None:
            return None
        seconds = timestamp - t.seen_at
        return self._gate.reach_of(t.last_box, state_to_xyxy(t.mean), boxes, seconds, frame_size)

    def _buffered(
        self,
        t: _Tracks,
        predicted: Float64Array,
        boxes: Float64Array,
        other_class: BoolArray | None,
        period: float,
        iou: Float64Array,
        similarity: Float64Array,
        veto: BoolArray,
    ) -> tuple[Float64Array, BoolArray]:
        """The first association's overlap and veto: IoU of boxes widened by the time each track went unseen.

        A track seen on the last frame at 10 fps is widened by ``motion_buffer`` x 0.1 of its size a
        side; one unseen for a second or more by ``motion_buffer`` (``_BUFFER_MAX_S``). A pair that
        overlaps only once widened must also look alike (``_LOST_MIN_SIMILARITY``), since a
        neighbour may stand within the widened box; without appearance vectors such a pair is
        refused. Without a clock (no frame period yet) nothing is widened.
        """
        cfg = self.config
        if cfg.motion_buffer == 0.0 or period <= 0.0 or boxes.shape[0] == 0:
            return iou, veto
        seconds = np.minimum(t.lost * period, _BUFFER_MAX_S)
        wide = buffered_iou(predicted, boxes, cfg.motion_buffer * seconds)
        if other_class is not None:
            wide[other_class] = 0.0
        only_wide = (iou < cfg.match_iou) & (wide >= cfg.match_iou)
        # NaN (looks unknown) fails the comparison: without appearance the widening reaches no one
        # the plain IoU does not (re-finding further needs a calibration's ground reach).
        return wide, veto | (only_wide & ~(similarity >= _LOST_MIN_SIMILARITY))

    def _vectors(self, detections: Detections) -> Float64Array:
        """Appearance vectors of the detections, ``(n, 0)`` when appearance is off or absent."""
        if not self.config.appearance or detections.embedding is None:
            return np.zeros((len(detections), 0))
        return detections.embedding.astype(np.float64)

    @staticmethod
    def _similarity(t: _Tracks, dets: Float64Array) -> Float64Array:
        """Cosine similarity ``(tracks, dets)`` to each track's closest look; NaN where either is unknown."""
        n, k, width = t.gallery.shape
        if width == 0 or dets.shape[1] != width:
            return np.full((n, dets.shape[0]), np.nan)
        # float32: the vectors are float32 histograms, and it halves the cost of the k looks
        best = (t.gallery.reshape(n * k, width) @ dets.T.astype(np.float32)).reshape(n, k, -1).max(axis=1)
        known = (t.looks > 0)[:, None] & (np.abs(dets).sum(axis=1)[None, :] > 0)
        return np.where(known, best.astype(np.float64), np.nan)

    def _last_iou(
        self, t: _Tracks, ti: IntArray, boxes: Float64Array, di: IntArray, detections: Detections
    ) -> Float64Array:
        """IoU of tracks' last observed boxes with detections (class-aware when configured)."""
        overlap = box_iou(t.last_box[ti], boxes[di])
        if self.config.class_aware:
            overlap[t.class_id[ti][:, None] != detections.class_id[di][None, :]] = 0.0
        return overlap

    def _reid_cost(
        self,
        t: _Tracks,
        ti: IntArray,
        boxes: Float64Array,
        di: IntArray,
        similarity: Float64Array,
        period: float,
        detections: Detections,
        ground: GroundReach | None,
    ) -> Float64Array:
        """Cost of re-finding lost tracks by appearance within a radius that grows with time lost.

        The radius is the ground reach in metres with a calibration, else box heights.
        """
        if ti.size == 0 or di.size == 0:
            return np.zeros((ti.size, di.size))
        sim = similarity[np.ix_(ti, di)]
        last = xyxy_to_cxcywh(t.last_box[ti])
        det = xyxy_to_cxcywh(boxes[di])
        height = np.maximum(last[:, 3:4], 1.0)
        if ground is not None:
            radius = ground.reach[np.ix_(ti, di)]
            distance = np.nan_to_num(ground.distance[np.ix_(ti, di)])  # no floor position: not gated
        else:
            seconds_lost = t.lost[ti][:, None] * period
            radius = height * (_REID_BASE_RADIUS + _REID_RADIUS_PER_S * seconds_lost)
            distance = np.hypot(last[:, None, 0] - det[None, :, 0], last[:, None, 1] - det[None, :, 1])
        ratio = det[None, :, 3] / height
        ok = (
            (sim >= self.config.reid_similarity)
            & (distance <= radius)
            & (ratio <= _REID_HEIGHT_RATIO)
            & (ratio >= 1 / _REID_HEIGHT_RATIO)
        )
        if self.config.class_aware:
            ok &= t.class_id[ti][:, None] == detections.class_id[di][None, :]
        cost = 1.0 + (1.0 - np.nan_to_num(sim)) + distance / np.maximum(radius, 1e-9)
        return np.where(ok, cost, INFEASIBLE)

    def _apply_matches(
        self,
        t: _Tracks,
        det_to_track: IntArray,
        matched: BoolArray,
        boxes: Float64Array,
        vectors: Float64Array,
        clean: BoolArray,
        frame_size: tuple[int, int] | None,
        timestamp: float,
    ) -> _Tracks:
        """Correct matched tracks (re-anchored after a gap), promote, age and drop the others."""
        cfg = self.config
        dets = np.flatnonzero(det_to_track >= 0)
        rows = det_to_track[dets]
        if rows.shape[0]:
            gap = t.lost[rows]
            t.mean[rows], t.cov[rows] = kalman_update(t.mean[rows], t.cov[rows], boxes[dets])
            # OC-SORT's re-update: after a gap, the velocity is what the two observations say; and
            # so on a track's second observation, where the filter's velocity is still near zero.
            regained = (gap > _REANCHOR_GAP) | (t.hits[rows] == 1)
            if np.any(regained):
                r, d = rows[regained], dets[regained]
                now, before = xyxy_to_cxcywh(boxes[d]), xyxy_to_cxcywh(t.last_box[r])
                mean, cov = kalman_initiate(boxes[d])
                mean[:, 4:6] = (now[:, :2] - before[:, :2]) / gap[regained][:, None]
                t.mean[r], t.cov[r] = mean, cov
            t.last_box[rows] = boxes[dets]
            t.seen_at[rows] = timestamp
            if vectors.shape[1] and t.gallery.shape[2] == vectors.shape[1]:
                self._remember_looks(t, rows, dets, vectors, clean, timestamp)
        hits = np.where(matched, t.hits + 1, t.hits).astype(np.int32)
        lost = np.where(matched, 0.0, t.lost)
        state = t.state.copy()
        state[matched & (t.state == _LOST)] = _TRACKED
        promote = matched & (t.state == _TENTATIVE) & (hits >= cfg.min_hits)
        state[~matched & (t.state == _TRACKED)] = _LOST
        if np.any(promote):
            t.ids = t.ids.copy()
            t.ids[promote] = self._ids.take(int(np.count_nonzero(promote)))
            state[promote] = _TRACKED
        keep = np.where(t.state == _TENTATIVE, matched, lost <= self.memory_frames())
        if frame_size is not None:
            keep &= ~(at_frame_edge(t.last_box, frame_size) & (lost > _EXIT_GRACE_FRAMES))
        t.state, t.hits, t.lost = state, hits, lost
        new_index = np.cumsum(keep) - 1
        det_to_track[dets] = new_index[rows]
        return t if keep.all() else select_rows(t, keep)

    @staticmethod
    def _remember_looks(
        t: _Tracks, rows: IntArray, dets: IntArray, vectors: Float64Array, clean: BoolArray, timestamp: float
    ) -> None:
        """Add clean detections' vectors (near no other track) to their tracks' galleries, spaced in time."""
        r, d = rows[clean[dets]], dets[clean[dets]]
        due = (t.looks[r] == 0) | (timestamp - t.look_at[r] >= _GALLERY_SPACING_S)
        r, d = r[due], d[due]
        look = _unit(vectors[d])
        known = np.abs(look).sum(axis=1) > 0
        r, d, look = r[known], d[known], look[known]
        if r.size == 0:
            return
        first = t.looks[r] == 0  # a track born without appearance: its first look fills every slot
        t.gallery[r[first]] = look[first][:, None, :]
        rest = ~first
        t.gallery[r[rest], t.looks[r[rest]] % _GALLERY_SIZE] = look[rest]
        t.looks[r] += 1
        t.look_at[r] = timestamp

    @staticmethod
    def _first_looks(vectors: Float64Array, width: int) -> tuple[Float32Array, IntArray]:
        """Galleries and look counts of new tracks: every slot holds the detection's look, if any."""
        if vectors.shape[1] != width:
            vectors = np.zeros((vectors.shape[0], width))
        look = _unit(vectors)
        known = np.abs(look).sum(axis=1) > 0
        return np.repeat(look[:, None, :].astype(np.float32), _GALLERY_SIZE, axis=1), known.astype(np.int64)

    def _birth(
        self,
        t: _Tracks,
        boxes: Float64Array,
        class_id: npt.NDArray[np.int32],
        vectors: Float64Array,
        timestamp: float,
    ) -> tuple[_Tracks, IntArray]:
        """Start tentative tracks (tracked at once when ``min_hits == 1``); returns their rows."""
        k = boxes.shape[0]
        first_row = t.ids.shape[0]
        if k == 0:
            return t, np.zeros(0, np.int64)
        mean, cov = kalman_initiate(boxes)
        confirmed_now = self.config.min_hits <= 1
        gallery, looks = self._first_looks(vectors, t.gallery.shape[2])
        born = _Tracks(
            ids=self._ids.take(k) if confirmed_now else np.full(k, -1, np.int64),
            mean=mean,
            cov=cov,
            class_id=class_id.astype(np.int32),
            state=np.full(k, _TRACKED if confirmed_now else _TENTATIVE, np.int8),
            hits=np.ones(k, np.int32),
            lost=np.zeros(k),
            last_box=boxes.copy(),
            seen_at=np.full(k, timestamp),
            gallery=gallery,
            looks=looks,
            look_at=np.full(k, timestamp),
        )
        return concat_rows(t, born), np.arange(first_row, first_row + k, dtype=np.int64)


def _unit(vectors: Float64Array) -> Float64Array:
    """Rows scaled to unit length (zero rows, appearance unknown, stay zero)."""
    unit: Float64Array = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return unit
