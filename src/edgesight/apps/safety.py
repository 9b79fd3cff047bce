"""The safety app: danger-zone intrusions and person-vehicle proximity (``hazard`` events).

Two kinds of rule, checked on every frame's tracked detections (``update(tracked, frame)``):

* **intrusion** (``danger_zones``): a tracked object of a checked class that is not in
  ``allowed_classes`` has its ``anchor`` inside the zone. The zone's own point test is used, without
  the zone counter's inertia, so the hazard is raised on the very frame the anchor is inside.
* **proximity**: an object of ``classes_a`` (people) and one of ``classes_b`` (vehicles) are closer
  than ``min_m`` on the floor (through the calibration homography, as
  :func:`edgesight.apps.distance.floor_points`) or, without calibration, closer than
  ``min_px_fraction`` of the frame width in the image.

Each (rule, track) for intrusions and (rule, pair of tracks) for proximity is an *episode*:

1. ``min_frames`` consecutive observed frames in violation raise it: a ``hazard`` event with
   ``state: alert`` (with the default ``min_frames: 1``, on the frame of the violation). Frames in
   which the track is not detected neither advance nor break the count.
2. It stays raised while the violation continues and for ``cooldown_s`` after the last violating
   frame; a relapse within that time continues the same hazard. So a worker stepping in and out of a
   lane raises one alert, never a hazard that is silently in force, and alerts for one (rule, track)
   are at least ``cooldown_s`` apart.
3. It clears (``state: cleared``) when the track is observed out of violation and ``cooldown_s``
   has passed, or when the tracks are no longer detected for ``ttl_frames`` (``lost: true``).

Only episodes in violation or raised are kept, and lost tracks expire, so state is bounded by the
live violations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edgesight.apps.distance import floor_points
from edgesight.apps.tracking import ClassFilter
from edgesight.core.config import DangerZoneConfig, ProximityConfig, SafetyAppConfig, resolve_polygon
from edgesight.core.detections import Detections
from edgesight.core.errors import ConfigError, InputError
from edgesight.core.events import Event, EventType, FrameLike
from edgesight.geometry.boxes import anchor_points, rule_anchor_points
from edgesight.geometry.polygons import points_in_polygon

__all__ = ["SafetyApp"]

Float64Array = npt.NDArray[np.float64]
Key = tuple[int, tuple[int, ...]]
"""An episode: (rule index, track ids) — one id for an intrusion, a sorted pair for proximity."""


@dataclass(slots=True)
class _Episode:
    """One (rule, track(s)) in violation, or raised and cooling down."""

    class_name: str | None
    props: dict[str, Any]
    streak: int = 0
    active: bool = False
    start_ts: float = 0.0
    last_violation_ts: float = 0.0
    last_seen_frame: int = 0


class SafetyApp:
    """Hazards of a set of safety rules: ``update(tracked, frame) -> list[Event]``.

    Args:
        config: the rules (zone names, classes and calibration already checked at config load).
        zone_polygons: polygon of each zone of ``analytics.zones`` by name, for rules naming one.
        homography: ``(3, 3)`` normalised-image-to-floor map, needed by ``min_m`` proximity rules.
        ttl_frames: frames without a sighting before an episode is dropped (``lost``); one more
            than the tracker keeps a lost track (the analytics engine sets it, following the frame rate).

    Raises:
        ConfigError: a proximity rule uses ``min_m`` and no homography is given.

    Example:
        A person (track 7) walks into a forklift-only lane: the hazard comes on the first frame inside.

        >>> from edgesight.core.events import FrameContext
        >>> lane = DangerZoneConfig(name="lane", zone=[(0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)],
        ...                         allowed_classes=["truck"], severity="critical")
        >>> app = SafetyApp(SafetyAppConfig(danger_zones=[lane]), {})
        >>> def step(i, x):
        ...     det = Detections.from_arrays([[x, 20, x + 10, 80]], [0.9], [0], ["person"], [7])
        ...     return app.update(det, FrameContext("cam", "main", i, i / 10, (100, 100)))
        >>> [[(e.properties["state"], e.properties["severity"]) for e in step(i, x)]
        ...  for i, x in enumerate([30, 40, 50, 60])]
        [[], [], [('alert', 'critical')], []]
    """

    def __init__(
        self,
        config: SafetyAppConfig,
        zone_polygons: Mapping[str, Sequence[tuple[float, float]]],
        homography: Float64Array | None = None,
        ttl_frames: int = 31,
    ) -> None:
        self.config = config
        self.ttl_frames = ttl_frames
        self._zones = list(config.danger_zones)
        self._proximity = list(config.proximity)
        self._rules: list[DangerZoneConfig | ProximityConfig] = [*self._zones, *self._proximity]
        self._polygons = [np.asarray(resolve_polygon(z.zone, zone_polygons), np.float64) for z in self._zones]
        self._checked = ClassFilter([z.classes for z in self._zones])
        # ClassFilter reads an empty list as "every class"; an empty allowed_classes means "none".
        self._allowed = ClassFilter([z.allowed_classes for z in self._zones])
        self._any_allowed = np.array([bool(z.allowed_classes) for z in self._zones], dtype=np.bool_)
        self._groups = ClassFilter([c for r in config.proximity for c in (r.classes_a, r.classes_b)])
        for rule in self._proximity:
            if rule.min_m is not None and homography is None:
                raise ConfigError(
                    f"SafetyApp: proximity rule {rule.name!r} uses min_m and needs a calibration homography, got None"
                )
        self._h = None if homography is None else np.asarray(homography, dtype=np.float64)
        self._episodes: dict[Key, _Episode] = {}

    @property
    def num_episodes(self) -> int:
        """Episodes in memory: violations being counted plus raised hazards (bounded)."""
        return len(self._episodes)

    def active(self) -> list[tuple[str, tuple[int, ...]]]:
        """Raised hazards as ``(rule name, track ids)``, sorted."""
        return sorted((self._rules[k[0]].name, k[1]) for k, ep in self._episodes.items() if ep.active)

    def update(self, tracked: Detections, frame: FrameLike) -> list[Event]:
        """Check every rule on this frame and advance every episode.

        Args:
            tracked: tracked detections (``tracker_id`` set), boxes in pixels; not modified.
            frame: frame index, time, size and ids of the stream.

        Returns:
            ``hazard`` events decided on this frame (alerts and clears), by rule then tracks.

        Raises:
            InputError: ``tracked.tracker_id`` is None.
        """
        if tracked.tracker_id is None:
            raise InputError("SafetyApp.update: detections need tracker_id, got None")
        hits = self._intrusions(tracked, frame)
        hits.update(self._proximities(tracked, frame))
        observed = set(tracked.tracker_id.tolist())
        fi, ts = frame.frame_index, frame.timestamp
        keyed: list[tuple[Key, Event]] = []
        for key, hit in hits.items():
            ep = self._episodes.get(key)
            if ep is None:
                ep = self._episodes[key] = hit
            else:
                ep.class_name, ep.props = hit.class_name, hit.props
            ep.streak += 1
            ep.last_violation_ts, ep.last_seen_frame = ts, fi
            rule = self._rules[key[0]]
            if not ep.active and ep.streak >= rule.min_frames:
                ep.active, ep.start_ts = True, ts
                keyed.append((key, self._event(frame, key, ep, "alert", ep.props)))
        for key, ep in list(self._episodes.items()):
            if key in hits:
                continue
            rule = self._rules[key[0]]
            if all(t in observed for t in key[1]):
                ep.last_seen_frame, ep.streak = fi, 0
                if ep.active and ts - ep.last_violation_ts < rule.cooldown_s:
                    continue
                lost = False
            elif fi - ep.last_seen_frame > self.ttl_frames:
                lost = True
            else:
                continue  # not detected this frame: a dropout neither advances nor breaks anything
            del self._episodes[key]
            if ep.active:
                duration = round(max(ep.last_violation_ts - ep.start_ts, 0.0), 3)
                keyed.append(
                    (key, self._event(frame, key, ep, "cleared", {"duration_s": duration, "lost": lost}))
                )
        return [event for _, event in sorted(keyed, key=lambda ke: ke[0])]

    def _intrusions(self, tracked: Detections, frame: FrameLike) -> dict[Key, _Episode]:
        """Objects of a checked, not allowed class whose anchor is in a danger zone."""
        out: dict[Key, _Episode] = {}
        if not self._zones or len(tracked) == 0:
            return out
        assert tracked.tracker_id is not None
        pts = rule_anchor_points(tracked.xyxy, [z.anchor for z in self._zones], frame.frame_size)
        bad_matrix = self._checked.matrix(tracked) & ~(self._allowed.matrix(tracked) & self._any_allowed)
        names = tracked.class_name
        for j, zone in enumerate(self._zones):
            bad = bad_matrix[:, j]
            if not np.any(bad):
                continue
            bad[bad] = points_in_polygon(pts[bad, j], self._polygons[j])
            for i in np.flatnonzero(bad).tolist():
                point = [round(float(pts[i, j, 0]), 4), round(float(pts[i, j, 1]), 4)]
                out[(j, (int(tracked.tracker_id[i]),))] = _Episode(
                    class_name=str(names[i]),
                    props={"point": point, "allowed_classes": list(zone.allowed_classes)},
                )
        return out

    def _positions(self, tracked: Detections, rule: ProximityConfig, frame: FrameLike) -> Float64Array:
        """Floor metres (min_m) or pixels over the frame width (min_px_fraction) of each anchor."""
        if rule.min_m is not None:
            assert self._h is not None  # checked in __init__
            return floor_points(tracked.xyxy, rule.anchor, frame.frame_size, self._h)
        return anchor_points(tracked.xyxy, rule.anchor) / float(frame.frame_size[0])

    def _proximities(self, tracked: Detections, frame: FrameLike) -> dict[Key, _Episode]:
        """Pairs (classes_a x classes_b) closer than the rule's limit."""
        out: dict[Key, _Episode] = {}
        if not self._proximity or len(tracked) == 0:
            return out
        assert tracked.tracker_id is not None
        ids, names = tracked.tracker_id, tracked.class_name
        groups = self._groups.matrix(tracked)
        for p, rule in enumerate(self._proximity):
            in_a, in_b = groups[:, 2 * p], groups[:, 2 * p + 1]
            if not (np.any(in_a) and np.any(in_b)):
                continue
            pos = self._positions(tracked, rule, frame)
            limit = rule.min_m if rule.min_m is not None else rule.min_px_fraction
            assert limit is not None
            dist = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=2)  # NaN beyond the horizon
            close = in_a[:, None] & in_b[None, :] & (ids[:, None] != ids[None, :]) & (dist < limit)
            for a, b in np.argwhere(close).tolist():
                order = sorted([(int(ids[a]), str(names[a])), (int(ids[b]), str(names[b]))])
                key = (len(self._zones) + p, (order[0][0], order[1][0]))
                d = round(float(dist[a, b]), 3)
                out[key] = _Episode(
                    class_name=None,
                    props={
                        "distance_m": d if rule.min_m is not None else None,
                        "distance_fraction": None if rule.min_m is not None else d,
                        "threshold": limit,
                        "classes": [order[0][1], order[1][1]],
                    },
                )
        return out

    def _event(self, frame: FrameLike, key: Key, ep: _Episode, state: str, props: dict[str, Any]) -> Event:
        rule = self._rules[key[0]]
        kind = "intrusion" if isinstance(rule, DangerZoneConfig) else "proximity"
        return Event.create(
            EventType.HAZARD, frame, rule.name, track_ids=key[1], class_name=ep.class_name,
            state=state, kind=kind, severity=rule.severity.value, **props,
        )  # fmt: skip
