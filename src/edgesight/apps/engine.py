"""The analytics engine: one object per stream turning each ``FrameMeta`` into tracks and events.

It composes, in order: the tracker, the zones, the lines, distance, speed and the heatmap, each
enabled by its config section, then the apps of ``config.apps``: the queues (fed with the frame's
zone and line events and the zones' committed counts, so they redo no geometry), the shelves and
the safety rules (both fed with the tracked detections). ``update(meta)`` returns a new
``FrameMeta`` whose detections carry ``tracker_id`` (the input is left untouched) and the events
decided on that frame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from edgesight.apps.appearance_tracker import AppearanceTracker
from edgesight.apps.distance import DistanceMonitor, SpeedEstimator
from edgesight.apps.heatmap import Heatmap
from edgesight.apps.lines import LineCounter
from edgesight.apps.retail.queue import QueueApp
from edgesight.apps.retail.shelf import ShelfApp
from edgesight.apps.safety import SafetyApp
from edgesight.apps.stitch import TrackStitcher
from edgesight.apps.tracking import BYTETRACK_MEMORY_FRAMES, Tracker, TrackState
from edgesight.apps.zones import ZoneCounter
from edgesight.core.config import AnalyticsConfig, CalibrationConfig, TrackingConfig
from edgesight.core.events import Event, FrameContext
from edgesight.core.frame import FrameMeta

__all__ = ["Analytics", "AnalyticsResult", "make_tracker"]


def make_tracker(
    config: TrackingConfig, calibration: CalibrationConfig | None = None
) -> AppearanceTracker | Tracker:
    """The tracker ``config.method`` names: ``edgesight`` (default) or the plain ``bytetrack``.

    With a ``calibration`` and ``config.max_ground_speed_mps`` set, the default tracker gates
    association by ground speed; ``bytetrack`` stays as it was recorded.

    Example:
        >>> type(make_tracker(TrackingConfig(method="bytetrack"))).__name__
        'Tracker'
    """
    if config.method == "bytetrack":
        return Tracker(config)
    return AppearanceTracker(config, calibration)


def _gates_on_floor(config: TrackingConfig) -> bool:
    """Whether the tracker ``config`` names uses the floor calibration (its ground-speed gate)."""
    return config.method != "bytetrack" and config.max_ground_speed_mps is not None


@dataclass(frozen=True, slots=True)
class AnalyticsResult:
    """What one frame produced.

    Attributes:
        frame: the input frame with tracked detections (only confirmed, matched tracks).
        events: events decided on this frame: zones, lines, distance, speed, then the apps' (queue
            advice, restock, hazard).
        tracks: confirmed tracks after this frame: ``tracked`` (seen now) and ``lost`` (in a gap,
            still held); empty without a tracker. A measure of tracking quality per frame: many
            lost tracks mean occlusion or missed detections.
    """

    frame: FrameMeta
    events: tuple[Event, ...]
    tracks: Mapping[str, int] = field(default_factory=dict)


class Analytics:
    """Tracker + zones + lines + distance + speed + heatmap + apps of one stream.

    Args:
        config: the ``analytics`` section of the device config.
        device_id: device named in the events.
        stream_id: stream named in the events.

    Example:
        >>> from edgesight.core.detections import Detections
        >>> from edgesight.core.frame import ModelRef
        >>> cfg = AnalyticsConfig.model_validate({
        ...     "tracking": {"min_hits": 1},
        ...     "lines": [{"name": "door", "start": [0, 0.5], "end": [1, 0.5], "min_frames_on_side": 2}]})
        >>> engine = Analytics(cfg, "cam-1", "main")
        >>> def meta(i):
        ...     y = 20 + 10 * i
        ...     dets = Detections.from_arrays([[40, y, 60, y + 20]], [0.9], [0], ["person"])
        ...     return FrameMeta("cam-1", "main", i, i, i / 10, ModelRef("m", "1"), (100, 100), dets)
        >>> results = [engine.update(meta(i)) for i in range(7)]
        >>> results[0].frame.detections.tracker_id.tolist(), engine.counts()["lines"]
        ([1], {'door': {'in': {'person': 1}, 'out': {}}})
    """

    def __init__(self, config: AnalyticsConfig, device_id: str, stream_id: str) -> None:
        self.device_id = device_id
        self.stream_id = stream_id
        enabled = config.tracking.enabled
        self.tracker = make_tracker(config.tracking, config.calibration) if enabled else None
        self._build(config, self.tracker)

    def reconfigure(self, config: AnalyticsConfig) -> None:
        """Switch to a new ``analytics`` section live (a desired-twin change).

        Every rule restarts from the new config (zone occupancy, line sides, queue and shelf
        windows); the tracker is kept, with its track ids, when the ``tracking`` section (and,
        when the default tracker gates on the floor, the ``calibration``) is unchanged, so objects
        already in view keep their ids across the change.

        Example:
            >>> engine = Analytics(AnalyticsConfig(), "cam-1", "main")
            >>> tracker = engine.tracker
            >>> engine.reconfigure(AnalyticsConfig.model_validate({"heatmap": {"enabled": True}}))
            >>> engine.tracker is tracker, engine.heatmap is not None
            (True, True)
        """
        if (
            self.tracker is None
            or config.tracking != self.config.tracking
            or (_gates_on_floor(config.tracking) and config.calibration != self.config.calibration)
        ):
            enabled = config.tracking.enabled
            self.tracker = make_tracker(config.tracking, config.calibration) if enabled else None
        self._build(config, self.tracker)

    def _build(self, config: AnalyticsConfig, tracker: AppearanceTracker | Tracker | None) -> None:
        """(Re)create every rule of ``config`` around ``tracker``."""
        self.config = config
        self.tracker = tracker
        ttl = self._ttl = self._retention()
        self.zones = ZoneCounter(config.zones, ttl, config.stitch) if config.zones else None
        # The default tracker's crossings say when they were inferred across a gap; the earlier
        # tracker keeps its event format (replays recorded with it stay byte-identical).
        report_gaps = config.tracking.method != "bytetrack"
        self.lines = LineCounter(config.lines, ttl, report_gaps, config.stitch) if config.lines else None
        # One stitcher serves both counters: the same links, computed once a frame.
        counting = bool(config.zones or config.lines) and config.stitch.enabled
        self.stitcher = TrackStitcher(config.stitch, ttl) if counting else None
        homography = config.calibration.homography() if config.calibration is not None else None
        self.distance = (
            DistanceMonitor(config.distance, homography)
            if config.distance is not None and homography is not None
            else None
        )
        self.speed = (
            SpeedEstimator(config.speed, homography, ttl)
            if config.speed is not None and homography is not None
            else None
        )
        self.heatmap = Heatmap(config.heatmap) if config.heatmap.enabled else None
        polygons = {z.name: z.polygon for z in config.zones}
        apps = config.apps
        self.queues = [QueueApp(q) for q in apps.queues]
        self.shelf = ShelfApp(apps.shelf, polygons) if apps.shelf is not None else None
        self.safety = SafetyApp(apps.safety, polygons, homography, ttl) if apps.safety is not None else None

    def _retention(self) -> int:
        """Frames the rules keep a track's state: one more than the tracker keeps a lost track.

        The default tracker keeps one ``max_lost_s`` seconds, so this follows the stream's frame
        rate once two frames have measured it (until then, and without a tracker, 31 frames).
        """
        frames = self.tracker.memory_frames() if self.tracker is not None else math.inf
        if math.isfinite(frames):
            return math.ceil(frames - 1e-6) + 1  # 3 s / 0.1 s is 30.000000000000004 in floats
        fixed = self.config.tracking.max_lost_frames
        return (BYTETRACK_MEMORY_FRAMES if fixed is None else fixed) + 1

    def _retain(self, ttl_frames: int) -> None:
        """Hand a changed retention to every rule that keeps per-track state."""
        if ttl_frames == self._ttl:
            return
        self._ttl = ttl_frames
        for rule in (self.zones, self.lines, self.stitcher, self.speed, self.safety):
            if rule is not None:
                rule.ttl_frames = ttl_frames

    def update(self, meta: FrameMeta) -> AnalyticsResult:
        """Track this frame's detections and run every rule on them.

        Args:
            meta: one frame's metadata, detections in source-frame pixels.

        Returns:
            The tracked frame (a new object) and this frame's events.
        """
        tracked = meta.detections
        if isinstance(self.tracker, AppearanceTracker):
            tracked = self.tracker.update(meta.detections, meta.timestamp, meta.frame_size)
        elif self.tracker is not None:
            tracked = self.tracker.update(meta.detections, meta.timestamp)
        self._retain(self._retention())
        frame = FrameContext(
            self.device_id, self.stream_id, meta.frame_index, meta.timestamp, meta.frame_size
        )
        events: list[Event] = []
        links = self.stitcher.update(tracked, frame) if self.stitcher is not None else []
        if self.zones is not None:
            events += self.zones.update(tracked, frame, links)
        if self.lines is not None:
            events += self.lines.update(tracked, frame, links)
        if self.distance is not None:
            events += self.distance.update(tracked, frame)
        if self.speed is not None:
            events += self.speed.update(tracked, frame)
        if self.heatmap is not None:
            self.heatmap.update(tracked, frame)
        if self.queues:
            counts = self.zones.counts() if self.zones is not None else {}
            zone_counts = {name: sum(by_class.values()) for name, by_class in counts.items()}
            spatial = tuple(events)
            for queue in self.queues:
                events += queue.update(spatial, zone_counts, frame)
        if self.shelf is not None:
            events += self.shelf.update(tracked, frame)
        if self.safety is not None:
            events += self.safety.update(tracked, frame)
        return AnalyticsResult(
            frame=replace(meta, detections=tracked), events=tuple(events), tracks=self.track_counts()
        )

    def track_counts(self) -> dict[str, int]:
        """Confirmed tracks now: ``{"tracked": n, "lost": m}`` (empty without a tracker)."""
        if isinstance(self.tracker, AppearanceTracker):
            return self.tracker.track_counts()
        if self.tracker is not None:
            states = list(self.tracker.states().values())
            return {"tracked": states.count(TrackState.TRACKED), "lost": states.count(TrackState.LOST)}
        return {}

    def quality(self) -> dict[str, Any]:
        """Tracking quality: the current track counts and, per line, crossings inferred across gaps."""
        return {"tracks": self.track_counts(), "lines": self.lines.quality() if self.lines is not None else {}}

    def counts(self) -> dict[str, Any]:
        """Live counts: ``{"lines": {line: {direction: {class: n}}}, "zones": {zone: {class: n}}}``."""
        return {
            "lines": self.lines.counts() if self.lines is not None else {},
            "zones": self.zones.counts() if self.zones is not None else {},
        }
