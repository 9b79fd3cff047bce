"""The shelf app: occupancy, empty gaps and restock alerts of shelf zones (``restock`` events).

Per frame and shelf (``update(detections, frame)``):

1. **Occlusion guard.** Shoppers and staff stand in front of shelves and hide products, which would
   read as an emptying shelf. When the boxes of ``occluder_classes`` (``person`` by default) cover
   more than ``max_occlusion`` of the shelf zone's area, the frame is skipped for that shelf: no
   reading, no event, and :meth:`ShelfApp.occluded_frames` counts it.
2. **Occupancy.** Products are detections of the shelf's ``classes`` (or of every class but the
   occluders) whose ``anchor`` lies in the zone. ``count`` mode: ``min(products / capacity, 1)``;
   ``area`` mode: the area of the union of the product boxes inside the zone over the zone's area.
   Areas are measured on a fixed raster of the zone's bounding box (``GRID`` cells).
3. **Gaps.** Product boxes are projected on the shelf's horizontal extent (the zone's ``x`` range);
   uncovered stretches at least ``gap_min_width`` of that extent wide are gaps, reported as
   ``[x0, x1]`` normalised to the frame width.
4. **Trend and alarm.** The reading goes to a :class:`~edgesight.apps.retail.restock_trend.DepletionEstimator`
   (robust rate, time to empty, restock detection) and its robust level to a
   :class:`~edgesight.apps.retail.restock_trend.RestockAlarm` (raise after ``hold_s`` below
   ``low_threshold``, clear above ``high_threshold``). A ``restock`` event is sent when the alarm is
   raised (``state: alert``) and when it clears (``state: cleared``); with ``status_interval_s``
   every shelf's latest reading is also sent periodically (trigger ``interval``, ``state`` alert or ok).

State per shelf is bounded by the estimator's window (a fixed number of buckets).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edgesight.apps.retail.restock_trend import DepletionEstimator, DepletionState, RestockAlarm
from edgesight.apps.tracking import ClassFilter
from edgesight.core.config import OccupancyMode, ShelfAppConfig, ShelfConfig, resolve_polygon
from edgesight.core.detections import Detections
from edgesight.core.errors import ConfigError
from edgesight.core.events import Event, EventType, FrameLike, Trigger
from edgesight.geometry.boxes import anchor_points
from edgesight.geometry.polygons import points_in_polygon

__all__ = ["GAP_BINS", "GRID", "ShelfApp", "ShelfReading", "gaps_along", "union_cover"]

Float64Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

GRID = (96, 48)
"""Raster ``(columns, rows)`` over a shelf zone's bounding box for area and occlusion fractions."""

GAP_BINS = 240
"""Bins along a shelf's width for the gap projection (gap edges are exact to 1/240 of the width)."""


def union_cover(boxes: Float64Array, xs: Float64Array, ys: Float64Array) -> BoolArray:
    """Which raster cells (centres ``xs`` x ``ys``) lie in at least one box.

    Args:
        boxes: ``(k, 4)`` boxes ``xyxy`` in the raster's units.
        xs: ``(gx,)`` cell-centre x.
        ys: ``(gy,)`` cell-centre y.

    Returns:
        ``(gy, gx)`` bool.

    Example:
        >>> xs = ys = np.arange(4) + 0.5
        >>> union_cover(np.array([[0.0, 0.0, 2.0, 1.0], [1.0, 0.0, 3.0, 2.0]]), xs, ys).astype(int).tolist()
        [[1, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    """
    if boxes.shape[0] == 0:
        return np.zeros((ys.shape[0], xs.shape[0]), dtype=np.bool_)
    cols = (xs[None, :] >= boxes[:, 0:1]) & (xs[None, :] <= boxes[:, 2:3])  # (k, gx)
    rows = (ys[None, :] >= boxes[:, 1:2]) & (ys[None, :] <= boxes[:, 3:4])  # (k, gy)
    hits: BoolArray = (rows.T.astype(np.float32) @ cols.astype(np.float32)) > 0.0
    return hits


def gaps_along(
    intervals: Float64Array, x0: float, x1: float, min_width: float, bins: int = GAP_BINS
) -> list[tuple[float, float]]:
    """Stretches of ``[x0, x1]`` covered by no interval and at least ``min_width`` of it wide.

    Args:
        intervals: ``(k, 2)`` ``[start, end]`` along the same axis (clipped to ``[x0, x1]``).
        x0: start of the shelf.
        x1: end of the shelf (> x0).
        min_width: smallest gap as a fraction of ``x1 - x0``.
        bins: resolution of the projection.

    Returns:
        ``[(start, end), ...]`` from left to right, in the units of ``x0``/``x1``.

    Example:
        >>> gaps_along(np.array([[0.0, 0.2], [0.5, 0.6]]), 0.0, 1.0, 0.15, bins=100)
        [(0.2, 0.5), (0.6, 1.0)]
    """
    width = (x1 - x0) / bins
    centres = x0 + (np.arange(bins) + 0.5) * width
    covered = np.zeros(bins, dtype=np.bool_)
    if intervals.shape[0]:
        covered = np.any(
            (centres[None, :] >= intervals[:, 0:1]) & (centres[None, :] <= intervals[:, 1:2]), axis=0
        )
    edges = np.diff(np.concatenate([[1], covered.astype(np.int8), [1]]))
    starts, ends = np.flatnonzero(edges == -1), np.flatnonzero(edges == 1)
    need = math.ceil(min_width * bins - 1e-9)
    return [
        (round(x0 + s * width, 4), round(x0 + e * width, 4))
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True)
        if e - s >= need
    ]


@dataclass(frozen=True, slots=True)
class ShelfReading:
    """One shelf's state after a frame that was not occluded.

    Attributes:
        timestamp: time of the frame, Unix seconds.
        occupancy: this frame's reading, 0 (empty) .. 1 (full).
        item_count: products seen on the shelf.
        gaps: empty stretches ``(x0, x1)`` normalised to the frame width, left to right.
        trend: the depletion estimate (robust level, rate, time to empty).
        alert: the restock alert is raised.
    """

    timestamp: float
    occupancy: float
    item_count: int
    gaps: tuple[tuple[float, float], ...]
    trend: DepletionState
    alert: bool


class _Shelf:
    """Geometry, trend and alarm of one shelf."""

    def __init__(self, config: ShelfConfig, polygon: Sequence[tuple[float, float]]) -> None:
        self.config = config
        self.polygon = np.asarray(polygon, dtype=np.float64)
        (self.x0, y0), (self.x1, y1) = self.polygon.min(axis=0), self.polygon.max(axis=0)
        gx, gy = GRID
        self.xs = self.x0 + (np.arange(gx) + 0.5) * (self.x1 - self.x0) / gx
        self.ys = y0 + (np.arange(gy) + 0.5) * (y1 - y0) / gy
        cells = np.stack(np.meshgrid(self.xs, self.ys), axis=-1).reshape(-1, 2)
        self.inside = points_in_polygon(cells, self.polygon).reshape(gy, gx)
        self.cells = int(np.count_nonzero(self.inside))
        if self.cells == 0:
            raise ConfigError(
                f"shelf {config.name!r}: the zone is too thin to measure (no raster cell inside)"
            )
        self.estimator = DepletionEstimator(config.window_s, config.restock_jump)
        self.alarm = RestockAlarm(config.low_threshold, config.high_threshold, config.hold_s)
        self.reading: ShelfReading | None = None
        self.occluded_frames = 0

    def covered_fraction(self, boxes: Float64Array) -> float:
        """Fraction of the zone's area covered by the union of ``boxes`` (normalised ``xyxy``)."""
        near = (
            (boxes[:, 0] <= self.x1) & (boxes[:, 2] >= self.x0)
            & (boxes[:, 1] <= self.ys[-1]) & (boxes[:, 3] >= self.ys[0])
        )  # fmt: skip
        if not np.any(near):
            return 0.0
        cover = union_cover(boxes[near], self.xs, self.ys)
        return float(np.count_nonzero(cover & self.inside)) / self.cells

    def read(
        self, boxes: Float64Array, products: BoolArray, anchors: Float64Array, ts: float
    ) -> ShelfReading:
        """Occupancy, gaps and trend from this frame's product candidates (normalised boxes)."""
        cfg = self.config
        on_shelf = products.copy()
        if np.any(on_shelf):
            on_shelf[on_shelf] = points_in_polygon(anchors[on_shelf], self.polygon)
        items = boxes[on_shelf]
        if cfg.mode is OccupancyMode.COUNT:
            assert cfg.capacity is not None  # checked at config load
            occupancy = min(items.shape[0] / cfg.capacity, 1.0)
        else:
            occupancy = self.covered_fraction(items)
        spans = np.clip(items[:, [0, 2]], self.x0, self.x1)
        gaps = gaps_along(spans, float(self.x0), float(self.x1), cfg.gap_min_width)
        trend = self.estimator.update(ts, occupancy)
        alarm = self.alarm.update(ts, max(trend.level, 0.0))
        return ShelfReading(ts, occupancy, int(items.shape[0]), tuple(gaps), trend, alarm.active)


class ShelfApp:
    """Restock alerts of a set of shelves: ``update(detections, frame) -> list[Event]``.

    Args:
        config: the shelves (zone names already checked against the analytics config).
        zone_polygons: polygon of each zone of ``analytics.zones`` by name, for shelves that name one.

    Raises:
        ConfigError: a shelf zone is too thin for the raster.

    Example:
        Twelve bottles on a shelf of capacity 12, then three left, read once a second:

        >>> from edgesight.core.config import ShelfConfig
        >>> from edgesight.core.events import FrameContext
        >>> shelf = ShelfConfig(name="drinks", zone=[(0.0, 0.0), (1.0, 0.0), (1.0, 0.5), (0.0, 0.5)],
        ...                     classes=["bottle"], capacity=12, hold_s=10)
        >>> app = ShelfApp(ShelfAppConfig(shelves=[shelf]), {})
        >>> def bottles(n):
        ...     boxes = [[10 * i, 10, 10 * i + 8, 40] for i in range(n)]
        ...     return Detections.from_arrays(boxes, [0.9] * n, [39] * n, ["bottle"] * n)
        >>> events = [e for t in range(60)
        ...           for e in app.update(bottles(12 if t < 20 else 3), FrameContext("c", "m", t, t, (120, 100)))]
        >>> [(e.properties["state"], e.properties["item_count"], e.properties["gaps"]) for e in events]
        [('alert', 3, [[0.2333, 1.0]])]
    """

    def __init__(
        self, config: ShelfAppConfig, zone_polygons: Mapping[str, Sequence[tuple[float, float]]]
    ) -> None:
        self.config = config
        self._shelves = [_Shelf(s, resolve_polygon(s.zone, zone_polygons)) for s in config.shelves]
        # ClassFilter reads an empty list as "every class": mask the shelves without that list.
        self._occluders = ClassFilter([s.occluder_classes for s in config.shelves])
        self._has_occluders = np.array([bool(s.occluder_classes) for s in config.shelves], dtype=np.bool_)
        self._products = ClassFilter([s.classes for s in config.shelves])
        self._has_products = np.array([bool(s.classes) for s in config.shelves], dtype=np.bool_)
        self._last_status_ts = -math.inf

    def readings(self) -> dict[str, ShelfReading | None]:
        """The latest unoccluded reading of each shelf (None before the first)."""
        return {s.config.name: s.reading for s in self._shelves}

    def occluded_frames(self) -> dict[str, int]:
        """Frames skipped by the occlusion guard, per shelf."""
        return {s.config.name: s.occluded_frames for s in self._shelves}

    def update(self, detections: Detections, frame: FrameLike) -> list[Event]:
        """Read every shelf on this frame's detections (tracked or not; ``tracker_id`` is not used).

        Returns:
            ``restock`` events: alerts raised or cleared on this frame, then periodic status.
        """
        w, h = frame.frame_size
        boxes = detections.xyxy.astype(np.float64) / np.array([w, h, w, h], dtype=np.float64)
        occluder = self._occluders.matrix(detections) & self._has_occluders
        listed = self._products.matrix(detections)
        events: list[Event] = []
        for j, shelf in enumerate(self._shelves):
            cfg = shelf.config
            occluders = occluder[:, j]
            if np.any(occluders) and shelf.covered_fraction(boxes[occluders]) > cfg.max_occlusion:
                shelf.occluded_frames += 1
                continue
            products = listed[:, j] if self._has_products[j] else ~occluders
            anchors = anchor_points(boxes, cfg.anchor)
            was = shelf.reading.alert if shelf.reading is not None else False
            shelf.reading = shelf.read(boxes, products, anchors, frame.timestamp)
            if shelf.reading.alert != was:
                state = "alert" if shelf.reading.alert else "cleared"
                events.append(self._event(frame, shelf, shelf.reading, Trigger.EVENT, state))
        interval = self.config.status_interval_s
        if interval is not None and frame.timestamp - self._last_status_ts >= interval:
            self._last_status_ts = frame.timestamp
            for shelf in self._shelves:
                if shelf.reading is not None:
                    state = "alert" if shelf.reading.alert else "ok"
                    events.append(self._event(frame, shelf, shelf.reading, Trigger.INTERVAL, state))
        return events

    @staticmethod
    def _event(frame: FrameLike, shelf: _Shelf, r: ShelfReading, trigger: Trigger, state: str) -> Event:
        cfg, trend = shelf.config, r.trend
        to_low = trend.time_to_threshold(cfg.low_threshold).seconds
        props: dict[str, Any] = {
            "state": state,
            "occupancy": round(r.occupancy, 3),
            "level": round(min(max(trend.level, 0.0), 1.0), 3),
            "mode": cfg.mode.value,
            "item_count": r.item_count,
            "capacity": cfg.capacity,
            "gaps": [[x0, x1] for x0, x1 in r.gaps],
            "time_to_empty_s": None if trend.time_to_empty_s is None else round(trend.time_to_empty_s, 1),
            "time_to_low_s": None if to_low is None else round(to_low, 1),
            "rate_per_hour": None if trend.rate_per_s is None else round(trend.rate_per_s * 3600.0, 4) + 0.0,
            "low_threshold": cfg.low_threshold,
            "high_threshold": cfg.high_threshold,
        }
        return Event.create(EventType.RESTOCK, frame, cfg.name, trigger=trigger, **props)
