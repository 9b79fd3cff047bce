"""Floor distances and speeds of tracked objects, through the calibration homography.

Both project each box's anchor (normalised by the frame size) to the floor in metres.
:class:`DistanceMonitor` reports pairs of objects from two class groups that are too close (or too
far), like Azure's person distance operation. :class:`SpeedEstimator` fits a straight line to each
track's floor positions over the last ``window_s`` seconds and reports the slope's norm in m/s,
which smooths out box jitter that frame-to-frame differences would amplify.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from edgesight.apps.tracking import ClassFilter, HoldsTrackState, TrackTable
from edgesight.core.config import DistanceConfig, SpeedConfig
from edgesight.core.detections import Detections
from edgesight.core.errors import InputError
from edgesight.core.events import DistanceEventName, Event, EventType, FrameLike, Trigger
from edgesight.geometry.boxes import Anchor, rule_anchor_points
from edgesight.geometry.homography import apply_homography

__all__ = ["DistanceMonitor", "SpeedEstimator", "floor_points"]

Float64Array = npt.NDArray[np.float64]

SPEED_HISTORY = 128
"""Observations kept per track for speed; a window longer than this many frames is cut to them."""


def floor_points(
    xyxy: npt.ArrayLike, anchor: Anchor, frame_size: tuple[int, int], homography: Float64Array
) -> Float64Array:
    """Floor positions in metres of box anchors (NaN beyond the horizon).

    Args:
        xyxy: ``(n, 4)`` boxes in pixels.
        anchor: the point of each box that stands on the floor.
        frame_size: ``(width, height)`` of the frame in pixels.
        homography: ``(3, 3)`` map from normalised image points to metres.

    Returns:
        ``(n, 2)`` metres.

    Example:
        >>> floor_points([[40, 0, 60, 50]], Anchor.BOTTOM_CENTER, (100, 100), np.diag([10.0, 10.0, 1.0]))
        array([[5., 5.]])
    """
    pts = rule_anchor_points(xyxy, [anchor], frame_size)[:, 0, :]
    return apply_homography(homography, pts)


class DistanceMonitor:
    """TooClose / TooFar pairs between two class groups: ``update(tracked, frame) -> list[Event]``.

    With ``trigger: event`` an event is sent when the set of violating pairs of a kind changes and
    is not empty; with ``trigger: interval`` the current non-empty set is sent every ``interval_s``.

    Args:
        config: the distance rule.
        homography: ``(3, 3)`` map from normalised image points to floor metres.

    Example:
        >>> from edgesight.core.events import FrameContext
        >>> monitor = DistanceMonitor(DistanceConfig(min_m=2.0), np.diag([10.0, 10.0, 1.0]))
        >>> dets = Detections.from_arrays([[10, 0, 20, 50], [20, 0, 30, 50]], [0.9, 0.9], [0, 0],
        ...                               ["person", "person"], [1, 2])
        >>> e = monitor.update(dets, FrameContext("cam", "main", 0, 0.0, (100, 100)))[0]
        >>> e.properties["event_name"], e.properties["average_distance_m"], e.track_ids
        ('TooClose', 1.0, (1, 2))
    """

    def __init__(self, config: DistanceConfig, homography: Float64Array) -> None:
        self.config = config
        self._h = np.asarray(homography, dtype=np.float64)
        self._groups = ClassFilter([config.classes_a, config.classes_b])
        self._last_pairs: dict[DistanceEventName, frozenset[tuple[int, int]]] = {}
        self._last_interval_ts = -np.inf

    def update(self, tracked: Detections, frame: FrameLike) -> list[Event]:
        """Distances between every pair of group-a and group-b objects in this frame."""
        if tracked.tracker_id is None:
            raise InputError("DistanceMonitor.update: detections need tracker_id, got None")
        cfg = self.config
        groups = self._groups.matrix(tracked)
        pos = floor_points(tracked.xyxy, cfg.anchor, frame.frame_size, self._h)
        ok = np.all(np.isfinite(pos), axis=1)
        in_a, in_b = groups[:, 0] & ok, groups[:, 1] & ok
        ids = tracked.tracker_id
        dist = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=2)
        pair = (in_a[:, None] & in_b[None, :]) | (in_b[:, None] & in_a[None, :])
        pair &= ids[:, None] != ids[None, :]
        pair = np.triu(pair, k=1)
        kinds = [(DistanceEventName.TOO_CLOSE, pair & (dist < cfg.min_m), cfg.min_m)]
        if cfg.max_m is not None:
            kinds.append((DistanceEventName.TOO_FAR, pair & (dist > cfg.max_m), cfg.max_m))
        interval_due = (
            cfg.trigger is Trigger.INTERVAL and frame.timestamp - self._last_interval_ts >= cfg.interval_s
        )
        if interval_due:
            self._last_interval_ts = frame.timestamp
        events: list[Event] = []
        for name, violating, threshold in kinds:
            ii, jj = np.nonzero(violating)
            pairs = sorted(
                (min(int(ids[i]), int(ids[j])), max(int(ids[i]), int(ids[j])), float(dist[i, j]))
                for i, j in zip(ii, jj, strict=True)
            )
            key = frozenset((p[0], p[1]) for p in pairs)
            changed = key != self._last_pairs.get(name, frozenset())
            self._last_pairs[name] = key
            if not pairs or not (interval_due or (cfg.trigger is Trigger.EVENT and changed)):
                continue
            distances = [round(p[2], 3) for p in pairs]
            track_ids = tuple(sorted({p[0] for p in pairs} | {p[1] for p in pairs}))
            events.append(
                Event.create(
                    EventType.DISTANCE_VIOLATION, frame, cfg.name,
                    trigger=Trigger.INTERVAL if interval_due else Trigger.EVENT,
                    track_ids=track_ids,
                    event_name=name.value,
                    average_distance_m=round(float(np.mean([p[2] for p in pairs])), 3),
                    min_distance_m=min(distances),
                    threshold_m=threshold,
                    violation_count=len(track_ids),
                    pairs=[[p[0], p[1]] for p in pairs],
                    distances_m=distances,
                )
            )  # fmt: skip
        return events


class SpeedEstimator(HoldsTrackState):
    """Floor speed of each track in m/s: ``update(tracked, frame) -> list[Event]``.

    A speed event per track is sent every ``report_interval_s`` while the track is at least
    ``min_mps`` fast; :meth:`speeds` gives the latest estimate of every track seen this frame.

    Args:
        config: the speed rule.
        homography: ``(3, 3)`` map from normalised image points to floor metres.
        ttl_frames: frames after its last sighting before a track's history is dropped.

    Example:
        >>> from edgesight.core.events import FrameContext
        >>> est = SpeedEstimator(SpeedConfig(window_s=1.0), np.diag([10.0, 10.0, 1.0]))
        >>> for i in range(11):  # 1 px = 0.1 m per 0.1 s: 1 m/s
        ...     x = 10 + i
        ...     _ = est.update(Detections.from_arrays([[x, 0, x + 10, 50]], [0.9], [0], ["person"], [4]),
        ...                    FrameContext("cam", "main", i, i / 10, (100, 100)))
        >>> round(est.speeds()[4], 3)
        1.0
    """

    def __init__(self, config: SpeedConfig, homography: Float64Array, ttl_frames: int = 31) -> None:
        self.config = config
        self._h = np.asarray(homography, dtype=np.float64)
        self._classes = ClassFilter([config.classes])
        self._table = TrackTable(
            ttl_frames,
            {
                "t": ((SPEED_HISTORY,), np.float64, np.nan),
                "xy": ((SPEED_HISTORY, 2), np.float64, np.nan),
                "next": ((), np.int64, 0),
                "last_report": ((), np.float64, -np.inf),
            },
        )
        self._seen = (np.zeros(0, np.int64), 0.0)  # ids of the last update and its time

    @property
    def num_tracks(self) -> int:
        """Tracks with a speed history in memory (bounded by expiry)."""
        return len(self._table)

    def speeds(self) -> dict[int, float]:
        """Speed in m/s of each track seen in the last update that has enough history (computed on demand)."""
        ids, now = self._seen
        rows = self._table.rows_of(ids)
        speed = _window_speed(self._table.cols["t"][rows], self._table.cols["xy"][rows], now, self.config.window_s)
        return {i: s for i, s in zip(ids.tolist(), speed.tolist(), strict=True) if math.isfinite(s)}

    def update(self, tracked: Detections, frame: FrameLike) -> list[Event]:
        """Add this frame's floor positions and report speeds that are due."""
        if tracked.tracker_id is None:
            raise InputError("SpeedEstimator.update: detections need tracker_id, got None")
        cfg = self.config
        keep = self._classes.matrix(tracked)[:, 0]
        pos = floor_points(tracked.xyxy[keep], cfg.anchor, frame.frame_size, self._h)
        finite = np.all(np.isfinite(pos), axis=1)
        ids = tracked.tracker_id[keep][finite]
        names = tracked.class_name[keep][finite]
        pos = pos[finite]
        now = frame.timestamp
        rows = self._table.rows(ids, frame.frame_index)
        cols = self._table.cols
        slot = cols["next"][rows] % SPEED_HISTORY
        cols["t"][rows, slot] = now
        cols["xy"][rows, slot] = pos
        cols["next"][rows] += 1
        self._seen = (ids, now)
        due = np.flatnonzero(now - cols["last_report"][rows] >= cfg.report_interval_s)
        events: list[Event] = []
        if due.shape[0] == 0:
            self._table.pop_expired(frame.frame_index)
            return events
        speed = _window_speed(cols["t"][rows[due]], cols["xy"][rows[due]], now, cfg.window_s)
        measured = np.isfinite(speed)
        cols["last_report"][rows[due[measured]]] = now  # evaluated: next look in report_interval_s
        for k in np.flatnonzero(measured & (speed >= cfg.min_mps)).tolist():
            i = int(due[k])
            events.append(
                Event.create(
                    EventType.SPEED, frame, cfg.name, track_ids=(int(ids[i]),), class_name=str(names[i]),
                    speed_mps=round(float(speed[k]), 3), window_s=cfg.window_s,
                )
            )  # fmt: skip
        self._table.pop_expired(frame.frame_index)
        return events


def _window_speed(t: Float64Array, xy: Float64Array, now: float, window_s: float) -> Float64Array:
    """Least-squares speed over the samples within ``window_s`` of ``now`` (NaN under half a window).

    Args:
        t: ``(n, k)`` sample times (NaN = empty slot).
        xy: ``(n, k, 2)`` positions.
        now: current time.
        window_s: window length.
    """
    with np.errstate(invalid="ignore"):
        w = np.isfinite(t) & (t >= now - window_s - 1e-9)
    rel = np.where(w, t - now, 0.0)
    n = w.sum(axis=1)
    safe_n = np.maximum(n, 1)
    t_mean = rel.sum(axis=1) / safe_n
    dt = np.where(w, rel - t_mean[:, None], 0.0)
    xy0 = np.where(w[..., None], xy, 0.0)
    xy_mean = xy0.sum(axis=1) / safe_n[:, None]
    dxy = np.where(w[..., None], xy0 - xy_mean[:, None, :], 0.0)
    var_t = (dt * dt).sum(axis=1)
    cov = (dt[..., None] * dxy).sum(axis=1)
    span = np.where(n > 0, -np.min(np.where(w, rel, 0.0), axis=1), 0.0)
    enough = (n >= 2) & (span >= window_s / 2) & (var_t > 0)
    vel = cov / np.where(var_t > 0, var_t, 1.0)[:, None]
    out: Float64Array = np.where(enough, np.hypot(vel[:, 0], vel[:, 1]), np.nan)
    return out
