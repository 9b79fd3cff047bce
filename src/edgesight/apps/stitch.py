"""Trajectory stitching for the counters: which new track id continues which lost one.

The tracker sometimes loses a person in a group or behind an obstacle and, when it finds them
again, gives them a new id. Its ids stay as they are (re-linking is the tracker's business, and
its scores are measured on its ids), but a counter that saw only ids would meet a stranger: a new
id has no committed side of a line, so a crossing that spans the id change is lost, and no zone
membership, so it enters again. :class:`TrackStitcher` tells the line and zone counters which new
id continues which lost track, so that they carry that track's state over to it.

Policy (``analytics.stitch``): a new id continues a lost track when

* the new id is seen for the first time away from the frame's edge (a box reaching the border is
  someone walking into view: :func:`~edgesight.geometry.boxes.at_frame_edge`);
* the lost track has the same class, is not observed on this frame, was last seen at most
  ``window_s`` ago, away from the edge (someone last seen at the border has walked out), and has
  not been continued by another id already;
* the new box's bottom centre lies within ``radius + radius_per_s * seconds lost`` box heights
  (the taller of the two boxes) of the lost track's last bottom centre;
* where the sensor attached appearance vectors to both, they do not clearly differ (cosine at
  least ``min_similarity``): someone in a red coat appearing where a person in black was lost is
  someone else.

When several pairs qualify the assignment is optimal (Hungarian) on distance over radius, so each
lost track is continued at most once, each new id continues at most one track, and two people lost
together and found again each continue their own track (no crossing between them).

The distance is measured from where the lost track was *seen*, not from where its motion would
have taken it: on vtest.avi the people the tracker loses are mostly standing or turning in a group
(someone walks west, stops at the sign, walks back east), and predicting along the last velocity
picked the wrong lost track more often than it avoided one (lamp-post line: 10 + 14 crossings
with the prediction, 11 + 15 without, of 14 + 17). What the stitch cannot tell apart is one person
lost on one side of a line and a *different*, similarly dressed person appearing within the radius
on the other side, just then: that is counted as a crossing, as it would be if the tracker had
kept the id.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from edgesight.apps.track_rows import INFEASIBLE, assign
from edgesight.apps.tracking import HoldsTrackState, TrackTable
from edgesight.core.config import StitchConfig
from edgesight.core.detections import Detections
from edgesight.core.errors import InputError
from edgesight.core.events import FrameLike
from edgesight.geometry.boxes import at_frame_edge

__all__ = ["Link", "StandaloneStitch", "TrackStitcher"]

Float64Array = npt.NDArray[np.float64]

Link = tuple[int, int]
"""``(detection index of the new id in this frame's detections, id of the lost track it continues)``."""


class TrackStitcher(HoldsTrackState):
    """Links new track ids to lost tracks they continue: ``update(tracked, frame) -> list[Link]``.

    Args:
        config: the ``analytics.stitch`` section.
        ttl_frames: frames after its last sighting before a track is forgotten (the counters').

    Example:
        >>> from edgesight.core.events import FrameContext
        >>> stitcher = TrackStitcher(StitchConfig(), ttl_frames=31)
        >>> def seen(i, x, track_id):
        ...     det = Detections.from_arrays([[x, 200, x + 40, 300]], [0.9], [0], ["person"], [track_id])
        ...     return stitcher.update(det, FrameContext("cam", "main", i, i / 10, (640, 480)))
        >>> [seen(i, 300 + 5 * i, 7) for i in range(3)]  # id 7 walks right, then is lost
        [[], [], []]
        >>> seen(8, 330, 9)  # 0.6 s later, id 9 appears 0.2 box heights further: it continues 7
        [(0, 7)]
        >>> seen(9, 500, 10)  # 1.7 box heights from where 9 was lost: a new person
        []
    """

    def __init__(self, config: StitchConfig, ttl_frames: int) -> None:
        self.config = config
        self._table = TrackTable(
            ttl_frames,
            {
                "point": ((2,), np.float64, np.nan),  # last bottom centre, pixels
                "height": ((), np.float64, 0.0),
                "timestamp": ((), np.float64, 0.0),
                "edge": ((), np.bool_, False),
                "taken": ((), np.bool_, False),
                "class_name": ((), object, ""),
                "look": ((), object, None),  # last appearance vector (the sensor's), None if unknown
            },
        )

    def update(self, tracked: Detections, frame: FrameLike) -> list[Link]:
        """Record this frame's tracks; returns the new ids that continue a lost track.

        Args:
            tracked: tracked detections (``tracker_id`` set), boxes in pixels.
            frame: frame index, time and size.

        Returns:
            ``(detection index, lost track id)`` pairs, by detection index.

        Raises:
            InputError: ``tracked.tracker_id`` is None.
        """
        if tracked.tracker_id is None:
            raise InputError("TrackStitcher.update: detections need tracker_id, got None")
        if not self.config.enabled:
            return []
        fi, table = frame.frame_index, self._table
        cols = table.cols
        rows = table.rows(tracked.tracker_id, fi)
        boxes = tracked.xyxy.astype(np.float64)
        point = np.stack([(boxes[:, 0] + boxes[:, 2]) * 0.5, boxes[:, 3]], axis=1)
        edge = at_frame_edge(boxes, frame.frame_size)
        new = table.first_frame[rows] == fi
        links = self._links(tracked, frame, point, boxes[:, 3] - boxes[:, 1], new & ~edge)
        cols["point"][rows] = point
        cols["height"][rows] = boxes[:, 3] - boxes[:, 1]
        cols["timestamp"][rows] = frame.timestamp
        cols["edge"][rows] = edge
        cols["class_name"][rows] = tracked.class_name
        if tracked.embedding is not None:
            cols["look"][rows] = list(tracked.embedding)
        table.pop_expired(fi)
        return links

    def _links(
        self,
        tracked: Detections,
        frame: FrameLike,
        point: Float64Array,
        height: Float64Array,
        candidate: npt.NDArray[np.bool_],
    ) -> list[Link]:
        """Optimal pairs of (new id away from the edge, lost track within reach)."""
        if not np.any(candidate):
            return []
        cols, table = self._table.cols, self._table
        seconds = frame.timestamp - cols["timestamp"]
        lost = np.flatnonzero(
            (table.last_frame < frame.frame_index)
            & ~cols["edge"]
            & ~cols["taken"]
            & (seconds <= self.config.window_s)
        )
        if lost.shape[0] == 0:
            return []
        dets = np.flatnonzero(candidate)
        distance = np.linalg.norm(point[dets][None, :, :] - cols["point"][lost][:, None, :], axis=2)  # (l, d)
        scale = np.maximum(np.maximum(cols["height"][lost][:, None], height[dets][None, :]), 1.0)
        radius = scale * (self.config.radius + self.config.radius_per_s * seconds[lost][:, None])
        same_class = cols["class_name"][lost][:, None] == tracked.class_name[dets][None, :]
        ok = same_class & (distance <= radius) & self._may_look_alike(lost, tracked, dets)
        r, c = assign(np.where(ok, distance / np.maximum(radius, 1e-9), INFEASIBLE))
        cols["taken"][lost[r]] = True
        ids = table.ids[lost[r]].tolist()
        return sorted(zip(dets[c].tolist(), ids, strict=True))

    def _may_look_alike(
        self, lost: npt.NDArray[np.intp], tracked: Detections, dets: npt.NDArray[np.intp]
    ) -> npt.NDArray[np.bool_]:
        """``(lost, dets)``: False where both have appearance vectors and they clearly differ
        (cosine below ``min_similarity``): a stranger appearing where someone was lost is not them."""
        allowed = np.ones((lost.shape[0], dets.shape[0]), np.bool_)
        if tracked.embedding is None or self.config.min_similarity <= -1.0:
            return allowed
        looks = self._table.cols["look"][lost]
        known = np.array([look is not None and look.shape[0] == tracked.embedding.shape[1] for look in looks])
        if not np.any(known):
            return allowed
        similarity = np.stack(list(looks[known])) @ tracked.embedding[dets].T
        allowed[known] = similarity >= self.config.min_similarity
        return allowed


class StandaloneStitch:
    """The links a line or zone counter uses: the engine's, or when it runs alone, its own stitcher's.

    The analytics engine runs one :class:`TrackStitcher` for every counter and passes its links;
    a counter used on its own makes one on first use, kept to the counter's retention.
    """

    def __init__(self, config: StitchConfig) -> None:
        self._config = config
        self._stitcher: TrackStitcher | None = None

    def links(
        self, given: Sequence[Link] | None, tracked: Detections, frame: FrameLike, ttl_frames: int
    ) -> Sequence[Link]:
        """``given`` if the caller stitched, else this frame's links from the counter's own stitcher."""
        if given is not None:
            return given
        if self._stitcher is None:
            self._stitcher = TrackStitcher(self._config, ttl_frames)
        self._stitcher.ttl_frames = ttl_frames
        return self._stitcher.update(tracked, frame)
