"""Polygon zones: enter/exit with inertia, dwell time and count-in-zone events, all zones at once.

Per track and zone the counter keeps a committed membership. A track *enters* only after its
anchor has been inside for ``inertia_frames`` consecutive observed frames and *exits* after as many
frames outside (Frigate's zone inertia), so a box flickering on the border does not produce events.
Frames in which a track is not observed (a detection dropout) neither advance nor break a streak;
a track that disappears while inside exits with ``lost: true`` when its state expires.

Dwell time runs from the first frame of the entering streak to the first frame of the exiting
streak (or the last sighting for a lost track). Everything is vectorised over tracks x zones.

A new track id that continues a lost track (:mod:`edgesight.apps.stitch`: someone the tracker lost
in a group and found again under a new id) takes over its membership and its entry time, and the
lost id leaves no state behind: so the person does not enter twice, their dwell runs from the
first entry, their exit and dwell events name the new id, and the zone's count does not hold
both ids while the lost one waits to expire. The lost id keeps its own state, set aside: it counts
for nothing and exits no zone when it expires, unless the tracker finds it again. Then the
continuation was wrong (the new id was someone else): the lost id carries on from where it was,
and the new id's borrowed membership is undone. Where the new id stands inside a zone it enters
now (``side: null``, as for a track born inside), its dwell running from its own first sighting;
where it does not, it was never a member and leaves without an exit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from edgesight.apps.stitch import Link, StandaloneStitch
from edgesight.apps.tracking import ClassFilter, HoldsTrackState, TrackTable
from edgesight.core.config import StitchConfig, ZoneConfig
from edgesight.core.detections import Detections
from edgesight.core.errors import InputError
from edgesight.core.events import Event, EventType, FrameLike, Trigger
from edgesight.geometry.boxes import rule_anchor_points
from edgesight.geometry.polygons import crossed_edges, pad_polygons, points_in_polygons

__all__ = ["ZoneCounter"]

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
Float64Array = npt.NDArray[np.float64]

_DEFAULT_STITCH = StitchConfig()


class ZoneCounter(HoldsTrackState):
    """Events of a set of zones: ``update(tracked, frame) -> list[Event]``.

    Args:
        zones: validated zone configs (names unique).
        ttl_frames: frames after its last sighting before a track's zone state is dropped (one more
            than the tracker keeps a lost track; the analytics engine sets it, following the frame rate).
        stitch: when a new track id continues a lost track's membership
            (:mod:`edgesight.apps.stitch`); ``StitchConfig(window_s=0)`` follows ids alone.

    Example:
        >>> from edgesight.core.events import FrameContext
        >>> zone = ZoneConfig(name="till", polygon=[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)],
        ...                   inertia_frames=2)
        >>> counter = ZoneCounter([zone])
        >>> def step(i, x):
        ...     det = Detections.from_arrays([[x, 40, x + 20, 90]], [0.9], [0], ["person"], [5])
        ...     return counter.update(det, FrameContext("cam", "main", i, i / 10, (100, 100)))
        >>> [[e.type.value for e in step(i, x)] for i, x in enumerate([70, 20, 20, 70, 70])]
        [[], [], ['zone_enter', 'zone_count'], [], ['zone_exit', 'dwell', 'zone_count']]
        >>> counter.counts()
        {'till': {}}
    """

    def __init__(
        self, zones: Sequence[ZoneConfig], ttl_frames: int = 31, stitch: StitchConfig = _DEFAULT_STITCH
    ) -> None:
        self.zones = tuple(zones)
        z = len(self.zones)
        self._polygons = [zone.polygon_array() for zone in self.zones]
        self._padded = pad_polygons(self._polygons) if z else np.zeros((0, 3, 2))
        self._anchors = [zone.anchor for zone in self.zones]
        self._anchor_groups = [
            np.array([i for i, x in enumerate(self._anchors) if x is a], dtype=np.int64)
            for a in set(self._anchors)
        ]
        self._inertia = np.array([zone.inertia_frames for zone in self.zones], dtype=np.int32)
        self._classes = ClassFilter([zone.classes for zone in self.zones])
        self._last_interval_ts = np.full(z, -np.inf)
        self._stitch = StandaloneStitch(stitch)
        self._table = TrackTable(
            ttl_frames,
            {
                "inside": ((z,), np.bool_, False),
                "streak": ((z,), np.int32, 0),
                "streak_frame": ((z,), np.int64, 0),
                "streak_ts": ((z,), np.float64, 0.0),
                "streak_side": ((z,), np.int16, -1),
                "enter_frame": ((z,), np.int64, 0),
                "enter_ts": ((z,), np.float64, 0.0),
                "last_obs": ((z,), np.bool_, False),
                "last_pt": ((z, 2), np.float64, np.nan),
                "last_ts": ((), np.float64, 0.0),
                "class_name": ((), object, ""),
                "continued": ((), np.bool_, False),  # lost, and continued by a new id: set aside
                "continued_by": ((), np.int64, -1),  # the id that continued it (while set aside)
                "first_ts": ((), np.float64, 0.0),  # time of the track's own first sighting
            },
        )

    @property
    def num_tracks(self) -> int:
        """Tracks with zone state in memory (bounded by expiry)."""
        return len(self._table)

    def counts(self) -> dict[str, dict[str, int]]:
        """Objects currently in each zone, by class: ``{zone: {class_name: count}}``."""
        inside = self._members()
        names = self._table.cols["class_name"]
        return {zone.name: dict(Counter(names[inside[:, z]].tolist())) for z, zone in enumerate(self.zones)}

    def _members(self) -> BoolArray:
        """``(tracks, zones)``: the track counts as inside the zone (a continued lost track does not)."""
        cols = self._table.cols
        members: BoolArray = cols["inside"] & ~cols["continued"][:, None]
        return members

    def update(self, tracked: Detections, frame: FrameLike, links: Sequence[Link] | None = None) -> list[Event]:
        """Advance every track's zone membership by one frame.

        Args:
            tracked: tracked detections (``tracker_id`` set), boxes in pixels.
            frame: frame index, time, size and ids of the stream.
            links: this frame's stitches from a :class:`TrackStitcher` shared with other counters
                (the analytics engine runs one for lines and zones); None: this counter's own.

        Returns:
            This frame's events: enters and exits (and dwells) by zone, then zone counts.

        Raises:
            InputError: ``tracked.tracker_id`` is None.
        """
        if tracked.tracker_id is None:
            raise InputError("ZoneCounter.update: detections need tracker_id, got None")
        if not self.zones:
            return []
        fi, ts = frame.frame_index, frame.timestamp
        links = self._stitch.links(links, tracked, frame, self._table.ttl_frames)
        rows = self._table.rows(tracked.tracker_id, fi)
        cols = self._table.cols
        cols["first_ts"][rows[self._table.first_frame[rows] == fi]] = ts
        if links:
            self._continue(rows, links)
        pts = rule_anchor_points(tracked.xyxy, self._anchors, frame.frame_size)  # (n, z, 2)
        obs = np.zeros((len(tracked), len(self.zones)), dtype=np.bool_)
        for group in self._anchor_groups:  # one vectorised test per distinct anchor
            obs[:, group] = points_in_polygons(pts[:, group[0]], self._padded[group])
        obs &= self._classes.matrix(tracked)

        inside, streak = cols["inside"][rows], cols["streak"][rows]
        disagree = obs != inside
        events: list[Event] = []
        back = rows[cols["continued"][rows]]  # seen again: not the one its continuation took it for
        changed = np.any(cols["inside"][back], axis=0)  # it counts again
        takers = cols["continued_by"][back]
        cols["continued"][back], cols["continued_by"][back] = False, -1
        busy = disagree | (streak != 0)  # usually few (track, zone) pairs: work on those only
        if np.any(busy):
            ii, zz = np.nonzero(busy)
            events += self._advance(tracked, frame, rows, ii, zz, obs[ii, zz], pts, changed)
        cols["last_obs"][rows], cols["last_pt"][rows] = obs, pts
        cols["last_ts"][rows] = ts
        cols["class_name"][rows] = tracked.class_name
        if takers.shape[0]:
            events += self._undo_continuations(frame, takers, changed)
        events += self._expire(frame, changed)
        events += self._count_events(frame, changed)
        return events

    def _continue(self, rows: IntArray, links: Sequence[Link]) -> None:
        """New ids take over the membership of the lost tracks they continue, which are set aside."""
        table = self._table
        new = rows[[i for i, _ in links]]
        lost = table.rows_of(np.array([tid for _, tid in links], dtype=np.int64))
        for name, col in table.cols.items():
            if name != "first_ts":  # the new id's own first sighting, should the continuation be undone
                col[new] = col[lost]
        table.cols["continued"][lost] = True
        table.cols["continued_by"][lost] = table.ids[new]

    def _undo_continuations(self, frame: FrameLike, takers: IntArray, changed: BoolArray) -> list[Event]:
        """Give back what ids in ``takers`` borrowed from lost tracks that the tracker found again.

        A taker keeps the memberships where it was last observed inside, entering now with its
        dwell from its own first sighting; the others it never had. Takers that have expired, or
        that were lost and continued in turn, are left alone.
        """
        table, cols = self._table, self._table.cols
        known = [int(t) for t in takers.tolist() if t >= 0 and int(t) in table]
        rows = table.rows_of(np.array(known, dtype=np.int64))
        rows = rows[~cols["continued"][rows]]
        events: list[Event] = []
        for r in rows.tolist():
            inside, own = cols["inside"][r], cols["inside"][r] & cols["last_obs"][r]
            changed |= inside & ~own
            cols["inside"][r], cols["streak"][r] = own, 0
            cols["enter_frame"][r] = np.where(own, table.first_frame[r], cols["enter_frame"][r])
            cols["enter_ts"][r] = np.where(own, cols["first_ts"][r], cols["enter_ts"][r])
            for z in np.flatnonzero(own).tolist():
                changed[z] = True
                cls = str(cols["class_name"][r])
                events.append(self._event(EventType.ZONE_ENTER, frame, z, int(table.ids[r]), cls, side=None))
        return events

    def _advance(
        self,
        tracked: Detections,
        frame: FrameLike,
        rows: IntArray,
        ii: IntArray,
        zz: IntArray,
        obs: BoolArray,
        pts: Float64Array,
        changed: BoolArray,
    ) -> list[Event]:
        """Streaks, enters and exits of the (detection ``ii``, zone ``zz``) pairs that may change."""
        cols, fi, ts = self._table.cols, frame.frame_index, frame.timestamp
        rr = rows[ii]
        inside = cols["inside"][rr, zz]
        disagree = obs != inside
        streak = cols["streak"][rr, zz]
        starting = disagree & (streak == 0)
        streak = np.where(disagree, streak + 1, 0)
        streak_frame = np.where(starting, fi, cols["streak_frame"][rr, zz])
        streak_ts = np.where(starting, ts, cols["streak_ts"][rr, zz])
        side = np.where(starting, -1, cols["streak_side"][rr, zz]).astype(np.int16)
        last_pt = cols["last_pt"][rr, zz]
        moved = np.flatnonzero(starting & (cols["last_obs"][rr, zz] != obs) & np.isfinite(last_pt[:, 0]))
        if moved.shape[0]:
            side[moved] = crossed_edges(last_pt[moved], pts[ii[moved], zz[moved]], self._padded[zz[moved]])
        flip = disagree & (streak >= self._inertia[zz])
        enter_frame = np.where(flip & obs, streak_frame, cols["enter_frame"][rr, zz])
        enter_ts = np.where(flip & obs, streak_ts, cols["enter_ts"][rr, zz])
        cols["inside"][rr, zz] = inside ^ flip
        cols["streak"][rr, zz] = np.where(flip, 0, streak)
        cols["streak_frame"][rr, zz], cols["streak_ts"][rr, zz] = streak_frame, streak_ts
        cols["streak_side"][rr, zz] = side
        cols["enter_frame"][rr, zz], cols["enter_ts"][rr, zz] = enter_frame, enter_ts

        events: list[Event] = []
        for k in sorted(np.flatnonzero(flip).tolist(), key=lambda k: (zz[k], ii[k])):
            i, z = int(ii[k]), int(zz[k])
            changed[z] = True
            tid, cls = int(tracked.tracker_id[i]), str(tracked.class_name[i])  # type: ignore[index]
            edge_side = None if side[k] < 0 else int(side[k])
            if obs[k]:
                events.append(self._event(EventType.ZONE_ENTER, frame, z, tid, cls, side=edge_side))
            else:
                dwell_s = float(streak_ts[k] - enter_ts[k])
                dwell_frames = int(streak_frame[k] - enter_frame[k])
                events += self._exit_events(frame, z, tid, cls, edge_side, dwell_s, dwell_frames, lost=False)
        return events

    def _expire(self, frame: FrameLike, changed: BoolArray) -> list[Event]:
        """Exit events for tracks that vanished while inside, then drop their state."""
        gone = self._table.pop_expired(frame.frame_index)
        events: list[Event] = []
        if gone["id"].shape[0] == 0:
            return events
        for k, z in np.argwhere(gone["inside"] & ~gone["continued"][:, None]):
            changed[z] = True
            dwell_s = float(gone["last_ts"][k] - gone["enter_ts"][k, z])
            dwell_frames = int(gone["last_frame"][k] - gone["enter_frame"][k, z])
            events += self._exit_events(
                frame, int(z), int(gone["id"][k]), str(gone["class_name"][k]), None, dwell_s, dwell_frames,
                lost=True,
            )  # fmt: skip
        return events

    def _exit_events(
        self,
        frame: FrameLike,
        z: int,
        track_id: int,
        class_name: str,
        side: int | None,
        dwell_s: float,
        dwell_frames: int,
        *,
        lost: bool,
    ) -> list[Event]:
        dwell_ms = max(0, round(dwell_s * 1000))
        events = [
            self._event(
                EventType.ZONE_EXIT, frame, z, track_id, class_name,
                side=side, dwell_ms=dwell_ms, dwell_frames=max(0, dwell_frames), lost=lost,
            )
        ]  # fmt: skip
        min_dwell_s = self.zones[z].min_dwell_s
        if dwell_s >= min_dwell_s:
            events.append(
                self._event(
                    EventType.DWELL, frame, z, track_id, class_name,
                    dwell_ms=dwell_ms, dwell_frames=max(0, dwell_frames),
                    min_dwell_ms=round(min_dwell_s * 1000),
                )
            )  # fmt: skip
        return events

    def _event(
        self, kind: EventType, frame: FrameLike, z: int, track_id: int, class_name: str, **props: Any
    ) -> Event:
        return Event.create(
            kind, frame, self.zones[z].name, track_ids=(track_id,), class_name=class_name, **props
        )

    def _count_events(self, frame: FrameLike, changed: BoolArray) -> list[Event]:
        events: list[Event] = []
        inside = self._members()
        names = self._table.cols["class_name"]
        for z, zone in enumerate(self.zones):
            if zone.count_trigger is Trigger.EVENT:
                if not changed[z]:
                    continue
                trigger = Trigger.EVENT
            else:
                if frame.timestamp - self._last_interval_ts[z] < zone.count_interval_s:
                    continue
                self._last_interval_ts[z] = frame.timestamp
                trigger = Trigger.INTERVAL
            members = inside[:, z]
            by_class = dict(sorted(Counter(names[members].tolist()).items()))
            events.append(
                Event.create(
                    EventType.ZONE_COUNT, frame, zone.name, trigger=trigger,
                    track_ids=tuple(sorted(self._table.ids[members].tolist())),
                    count=int(np.count_nonzero(members)), counts_by_class=by_class,
                )
            )  # fmt: skip
        return events
