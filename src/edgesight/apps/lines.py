"""Counting lines: direction-aware crossings with anti-flicker, all tracks and lines at once.

Direction convention (image coordinates, ``y`` down): looking along the line from ``start`` to
``end`` as drawn on the screen, an object moving from the **left** side to the **right** side
crosses ``left_to_right`` (default name ``"in"``, Azure status ``CrossRight``); the opposite is
``right_to_left`` (``"out"``, ``CrossLeft``). For a line drawn left to right across the image, "in"
is moving down the image.

Per track and line the counter keeps a *committed side*. A crossing counts once, when

1. a motion step of the anchor (last observed position -> current one, so dropouts are bridged)
   crosses the line **segment** (not the infinite line) from the committed side, and
2. the track then stays ``min_frames_on_side`` observed frames on the new side.

Going back to the committed side before that cancels the pending crossing, so a box jittering over
the line counts once, when it finally settles. An anchor within the line's ``dead_band`` (box
heights, measured in pixels) is on the line, on neither side: the step tested runs from the last
point short of the band to the first one past it. Frame counts alone cannot tell a person standing
on the line and swaying across it from someone crossing back and forth (each side is held for
seconds); the distance can, so such a person counts once, when they walk on. A new track commits
to the side it is first seen on, so a track born on the far side cannot cross; it need not hold
that side first, since the tracker reports a track only once it has confirmed it over several
frames (``tracking.min_hits``), and someone first reported a step before the line still counts.

Tracks that vanish or appear mid-frame: a new id that continues a lost track
(:mod:`edgesight.apps.stitch`, ``analytics.stitch``: first seen away from the frame's edge, near
where a track of its class was lost shortly before) takes over that track's whole line state, its
committed sides, pending crossings and last point. The step from where the lost track was last
seen to where the new id appears is then tested like any step across a gap, so a person lost on
one side and re-born under a new id on the other counts once, in the right direction. A new id
that continues nothing and crosses in the same direction, for the same class, within
``reid_radius`` and ``reid_window_s`` of a crossing by a track that is no longer observed and was
born after that crossing is taken as the same object re-found by the tracker and is not counted
again (a continued id is as old as the track it continues, so this never holds the lost track's
own crossings against it).

Counting through occlusion: a track the tracker kept through a gap (lost on one side, re-found
on the other) crosses on the step from its last observed point to the re-found one, so it counts
once, in the right direction. With ``report_gaps`` such a crossing's event says so
(``inferred: true`` and ``gap_frames``, the frames the track went unseen across the step) and
:meth:`LineCounter.quality` gives each line's share of inferred crossings: a confidence measure
(the line was crossed, but when and where exactly was not seen).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edgesight.apps.stitch import Link, StandaloneStitch
from edgesight.apps.tracking import ClassFilter, HoldsTrackState, TrackTable
from edgesight.core.config import LineConfig, StitchConfig
from edgesight.core.detections import Detections
from edgesight.core.errors import InputError
from edgesight.core.events import Event, EventType, FrameLike, LineStatus
from edgesight.geometry.boxes import rule_anchor_points
from edgesight.geometry.lines import cross_2d, crossing_points, segments_cross

__all__ = ["LineCounter"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_MEMORY_LIMIT = 256
_DEFAULT_STITCH = StitchConfig()


@dataclass(frozen=True, slots=True)
class _Crossing:
    """A counted crossing, remembered for ``reid_window_s`` to catch re-found tracks."""

    timestamp: float
    frame_index: int
    point: tuple[float, float]
    side: int
    class_name: str
    track_id: int
    gap_frames: int = 0


class LineCounter(HoldsTrackState):
    """Crossings and cumulative counts of a set of lines: ``update(tracked, frame) -> list[Event]``.

    Args:
        lines: validated line configs (names unique).
        ttl_frames: frames after its last sighting before a track's line state is dropped (one more
            than the tracker keeps a lost track; the analytics engine sets it, following the frame rate).
        report_gaps: crossings on a step across frames the track went unseen say so
            (``inferred``, ``gap_frames``).
        stitch: when a new track id continues a lost track's line state
            (:mod:`edgesight.apps.stitch`); ``StitchConfig(window_s=0)`` counts by id alone.

    Example:
        >>> from edgesight.core.events import FrameContext
        >>> door = LineConfig(name="door", start=(0.0, 0.5), end=(1.0, 0.5), min_frames_on_side=2)
        >>> counter = LineCounter([door])
        >>> def step(i, y):
        ...     det = Detections.from_arrays([[40, y - 20, 60, y]], [0.9], [0], ["person"], [3])
        ...     return counter.update(det, FrameContext("cam", "main", i, i / 10, (100, 100)))
        >>> events = [e for i, y in enumerate([30, 35, 40, 55, 60, 65]) for e in step(i, y)]
        >>> [(e.properties["direction"], e.properties["status"]) for e in events]
        [('in', 'CrossRight')]
        >>> counter.counts()
        {'door': {'in': {'person': 1}, 'out': {}}}
    """

    def __init__(
        self,
        lines: Sequence[LineConfig],
        ttl_frames: int = 31,
        report_gaps: bool = False,
        stitch: StitchConfig = _DEFAULT_STITCH,
    ) -> None:
        self.lines = tuple(lines)
        self.report_gaps = report_gaps
        self._inferred = [0] * len(self.lines)
        k = len(self.lines)
        self._start = np.array([ln.start for ln in self.lines], dtype=np.float64).reshape(k, 2)
        self._end = np.array([ln.end for ln in self.lines], dtype=np.float64).reshape(k, 2)
        self._anchors = [ln.anchor for ln in self.lines]
        self._min_frames = np.array([ln.min_frames_on_side for ln in self.lines], dtype=np.int32)
        self._dead_band = np.array([ln.dead_band for ln in self.lines], dtype=np.float64)
        self._banded = bool(np.any(self._dead_band > 0))
        self._classes = ClassFilter([ln.classes for ln in self.lines])
        self._counts: list[dict[int, dict[str, int]]] = [{1: {}, -1: {}} for _ in self.lines]
        self._suppressed = [0] * k
        self._memory: list[deque[_Crossing]] = [deque(maxlen=_MEMORY_LIMIT) for _ in self.lines]
        self._stitch = StandaloneStitch(stitch)
        self._table = TrackTable(
            ttl_frames,
            {
                "committed": ((k,), np.int8, 0),
                "run_side": ((k,), np.int8, 0),
                "run_len": ((k,), np.int32, 0),
                "run_crossed": ((k,), np.bool_, False),
                "run_frame": ((k,), np.int64, 0),
                "run_gap": ((k,), np.int64, 0),
                "seen_frame": ((), np.int64, -1),
                "run_point": ((k, 2), np.float64, np.nan),
                "last_side": ((k,), np.int8, 0),
                "last_pt": ((k, 2), np.float64, np.nan),
                # the side of the line itself (no dead band) and the frame the anchor last went over it
                "line_side": ((k,), np.int8, 0),
                "over_frame": ((k,), np.int64, 0),
            },
        )

    @property
    def num_tracks(self) -> int:
        """Tracks with line state in memory (bounded by expiry)."""
        return len(self._table)

    def counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """Cumulative crossings: ``{line: {direction name: {class_name: count}}}``."""
        return {
            ln.name: {
                ln.left_to_right: dict(sorted(self._counts[i][1].items())),
                ln.right_to_left: dict(sorted(self._counts[i][-1].items())),
            }
            for i, ln in enumerate(self.lines)
        }

    def suppressed(self) -> dict[str, int]:
        """Crossings not counted because they repeated a lost track's crossing (a re-found object)."""
        return {ln.name: self._suppressed[i] for i, ln in enumerate(self.lines)}

    def quality(self) -> dict[str, dict[str, int]]:
        """Per line: crossings counted, how many were inferred across a gap, and suppressed repeats.

        Example:
            >>> LineCounter([LineConfig(name="door", start=(0, 0.5), end=(1, 0.5))]).quality()
            {'door': {'crossings': 0, 'inferred': 0, 'suppressed': 0}}
        """
        return {
            ln.name: {
                "crossings": sum(self._counts[i][1].values()) + sum(self._counts[i][-1].values()),
                "inferred": self._inferred[i],
                "suppressed": self._suppressed[i],
            }
            for i, ln in enumerate(self.lines)
        }

    def update(self, tracked: Detections, frame: FrameLike, links: Sequence[Link] | None = None) -> list[Event]:
        """Advance every track's line state by one frame.

        Args:
            tracked: tracked detections (``tracker_id`` set), boxes in pixels.
            frame: frame index, time, size and ids of the stream.
            links: this frame's stitches from a :class:`TrackStitcher` shared with other counters
                (the analytics engine runs one for lines and zones); None: this counter's own.

        Returns:
            This frame's ``line_crossing`` events, by line then track.

        Raises:
            InputError: ``tracked.tracker_id`` is None.
        """
        if tracked.tracker_id is None:
            raise InputError("LineCounter.update: detections need tracker_id, got None")
        if not self.lines:
            return []
        fi = frame.frame_index
        links = self._stitch.links(links, tracked, frame, self._table.ttl_frames)
        rows = self._table.rows(tracked.tracker_id, fi)
        if links:
            self._continue(rows, links)
        cols = self._table.cols
        seen = cols["seen_frame"][rows]
        gap = np.where(seen >= 0, fi - seen - 1, 0)  # frames unseen before this step
        cols["seen_frame"][rows] = fi
        pts = rule_anchor_points(tracked.xyxy, self._anchors, frame.frame_size)  # (n, k, 2) normalised
        raw_side, line_side = self._sides(pts, tracked.xyxy, frame.frame_size)
        went_over = (line_side != 0) & (line_side != cols["line_side"][rows])
        over_frame = np.where(went_over, fi, cols["over_frame"][rows])
        cols["line_side"][rows] = np.where(line_side != 0, line_side, cols["line_side"][rows])
        cols["over_frame"][rows] = over_frame
        last_side, prev = cols["last_side"][rows], cols["last_pt"][rows]
        side = np.where(raw_side != 0, raw_side, last_side)  # on the line: still on the last side
        active = self._classes.matrix(tracked) & (side != 0)
        crossed = np.zeros(side.shape, dtype=np.bool_)
        point = np.full(pts.shape, np.nan)
        switched = (last_side != 0) & (side != last_side)  # rare: only these steps can cross
        if np.any(switched):
            ii, jj = np.nonzero(switched)
            crossed[ii, jj] = segments_cross(prev[ii, jj], pts[ii, jj], self._start[jj], self._end[jj])
            point[ii, jj] = crossing_points(prev[ii, jj], pts[ii, jj], self._start[jj], self._end[jj])

        committed = cols["committed"][rows]
        run_side, run_len = cols["run_side"][rows], cols["run_len"][rows]
        run_crossed = cols["run_crossed"][rows]
        back = active & (side == committed)
        new_run = active & ~back & (run_side != side)
        cont = active & ~back & (run_side == side)
        run_side = np.where(back, 0, np.where(new_run, side, run_side)).astype(np.int8)
        run_len = np.where(back, 0, np.where(new_run, 1, np.where(cont, run_len + 1, run_len)))
        run_crossed = np.where(back, False, np.where(new_run, crossed, run_crossed))
        # When the anchor went over the line, not when it left the dead band (the same frame without one).
        run_frame = np.where(new_run, over_frame, cols["run_frame"][rows])
        run_gap = np.where(new_run, gap[:, None], cols["run_gap"][rows])
        run_point = np.where(new_run[..., None], point, cols["run_point"][rows])
        # A track's first side commits at once; later sides only after min_frames_on_side frames.
        done = active & ~back & (run_len >= np.where(committed == 0, 1, self._min_frames))
        counted = done & (committed != 0) & run_crossed

        cols["committed"][rows] = np.where(done, side, committed)
        cols["run_side"][rows] = np.where(done, 0, run_side)
        cols["run_len"][rows] = np.where(done, 0, run_len)
        cols["run_crossed"][rows] = run_crossed & ~done
        cols["run_frame"][rows], cols["run_point"][rows] = run_frame, run_point
        cols["run_gap"][rows] = run_gap
        off_line = (raw_side != 0)[..., None]  # a step is measured from the last point off the line
        cols["last_side"][rows], cols["last_pt"][rows] = side, np.where(off_line, pts, prev)

        events: list[Event] = []
        if np.any(counted):
            observed = set(tracked.tracker_id.tolist())
            first_frame = self._table.first_frame[rows]
            for i, j in sorted(map(tuple, np.argwhere(counted)), key=lambda ij: (ij[1], ij[0])):
                crossing = _Crossing(
                    timestamp=frame.timestamp,
                    frame_index=int(run_frame[i, j]),
                    point=(float(run_point[i, j, 0]), float(run_point[i, j, 1])),
                    side=int(side[i, j]),
                    class_name=str(tracked.class_name[i]),
                    track_id=int(tracked.tracker_id[i]),
                    gap_frames=int(run_gap[i, j]),
                )
                event = self._count(j, crossing, int(first_frame[i]), observed, frame)
                if event is not None:
                    events.append(event)
        self._table.pop_expired(fi)
        self._forget(frame.timestamp)
        return events

    def _sides(
        self, pts: FloatArray, xyxy: npt.NDArray[np.floating[Any]], frame_size: tuple[int, int]
    ) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int8]]:
        """``(banded, plain)`` sides of every line for each anchor: +1 right, -1 left, 0 on the line.

        ``banded`` counts an anchor within the line's dead band as on the line; ``plain`` is the
        line alone (the same array when no line has a band).
        """
        a, b = self._start[None], self._end[None]
        cross = cross_2d(b - a, pts - a)
        line_side = np.sign(cross).astype(np.int8)
        if not self._banded:
            return line_side, line_side
        # In pixels: normalised coordinates stretch x and y differently.
        scale = np.asarray(frame_size, dtype=np.float64)
        along = (self._end - self._start) * scale
        distance = np.abs(cross) * scale[0] * scale[1] / np.hypot(along[:, 0], along[:, 1])[None]
        height = (xyxy[:, 3] - xyxy[:, 1]).astype(np.float64)[:, None]
        on_line = distance <= self._dead_band[None] * height
        return np.where(on_line, 0, line_side).astype(np.int8), line_side

    def _continue(self, rows: IntArray, links: Sequence[Link]) -> None:
        """New ids take over the line state of the lost tracks they continue.

        Their last point and committed sides included, so the step from where the lost track was
        last seen to where the new id appears is tested like any step across a gap; and their
        birth frame, so the lost track's own crossings are not taken for ones this id repeats.
        """
        table = self._table
        new = rows[[i for i, _ in links]]
        lost = table.rows_of(np.array([tid for _, tid in links], dtype=np.int64))
        for col in table.cols.values():
            col[new] = col[lost]
        table.first_frame[new] = table.first_frame[lost]

    def _count(
        self, j: int, crossing: _Crossing, born_frame: int, observed: set[int], frame: FrameLike
    ) -> Event | None:
        """Count one crossing of line ``j`` unless it repeats a lost track's crossing."""
        line = self.lines[j]
        for old in self._memory[j]:
            if (
                old.side == crossing.side
                and old.class_name == crossing.class_name
                and old.track_id != crossing.track_id
                and old.track_id not in observed
                and born_frame > old.frame_index
                and crossing.timestamp - old.timestamp <= line.reid_window_s
                and math.dist(crossing.point, old.point) <= line.reid_radius
            ):
                self._suppressed[j] += 1
                return None
        self._memory[j].append(crossing)
        per_class = self._counts[j][crossing.side]
        per_class[crossing.class_name] = per_class.get(crossing.class_name, 0) + 1
        self._inferred[j] += crossing.gap_frames > 0
        right = crossing.side > 0
        gap: dict[str, Any] = (
            {"inferred": True, "gap_frames": crossing.gap_frames} if self.report_gaps and crossing.gap_frames else {}
        )
        return Event.create(
            EventType.LINE_CROSSING,
            frame,
            line.name,
            track_ids=(crossing.track_id,),
            class_name=crossing.class_name,
            direction=line.left_to_right if right else line.right_to_left,
            status=(LineStatus.CROSS_RIGHT if right else LineStatus.CROSS_LEFT).value,
            crossed_frame_index=crossing.frame_index,
            point=[round(crossing.point[0], 5), round(crossing.point[1], 5)],
            **gap,
        )

    def _forget(self, now: float) -> None:
        """Drop remembered crossings older than their line's ``reid_window_s``."""
        for j, memory in enumerate(self._memory):
            window = self.lines[j].reid_window_s
            while memory and now - memory[0].timestamp > window:
                memory.popleft()
