"""Analytics sections of the device config: tracking, zones, lines, calibration, distance, speed, heatmap.

Every image coordinate here is normalised to 0..1 of the source frame (``x`` right, ``y`` down) and
is checked; the apps scale it to pixels. Class names are checked against the model's labels given
in the validation context (``context={"known_classes": [...]}``), COCO-80 by default.

The ``apps`` section (queue, shelf, safety) lives in :mod:`edgesight.core.config_apps`; the
``check_apps_*`` functions here check that it names existing zones, lines and classes.

Line direction convention (see docs/events.md): looking from ``start`` to ``end`` on the screen, a
crossing from the left side to the right side is ``left_to_right`` (default name ``"in"``) and the
opposite is ``right_to_left`` (``"out"``).

Example:
    >>> cfg = AnalyticsConfig.model_validate({
    ...     "zones": [{"name": "till", "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.6]]}],
    ...     "lines": [{"name": "door", "start": [0.2, 0.8], "end": [0.8, 0.8]}],
    ... })
    >>> cfg.zones[0].anchor.value, cfg.lines[0].left_to_right
    ('bottom_center', 'in')
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Sequence
from typing import Annotated, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from edgesight.core.config_apps import AppsConfig
from edgesight.core.events import Trigger
from edgesight.geometry.boxes import Anchor
from edgesight.geometry.homography import homography_from_points
from edgesight.geometry.polygons import polygon_problem

__all__ = [
    "COCO_LABELS",
    "KNOWN_CLASSES_CONTEXT",
    "AnalyticsConfig",
    "AppsConfig",
    "CalibrationConfig",
    "DistanceConfig",
    "HeatmapConfig",
    "LineConfig",
    "SpeedConfig",
    "TrackingConfig",
    "ZoneConfig",
]

COCO_LABELS: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip
"""The 80 COCO class names, the default ``known_classes``."""

KNOWN_CLASSES_CONTEXT = "known_classes"
"""Validation-context key of the class names the model can output."""

Point = tuple[float, float]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9 _.:/-]+$")]
ClassList = Annotated[list[str], Field(max_length=100)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_normalised(points: Sequence[Point], what: str) -> None:
    for i, (x, y) in enumerate(points):
        for axis, value in (("x", x), ("y", y)):
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ValueError(f"{what}[{i}]: {axis}={value} outside 0..1")


def _check_classes(classes: list[str], info: ValidationInfo) -> list[str]:
    """Reject class names the model cannot output, suggesting the nearest known one."""
    context = info.context if isinstance(info.context, dict) else {}
    known: Collection[str] = context.get(KNOWN_CLASSES_CONTEXT) or COCO_LABELS
    for name in classes:
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown class {name!r}{hint} ({len(known)} known classes)")
    if len(set(classes)) != len(classes):
        dup = next(c for c in classes if classes.count(c) > 1)
        raise ValueError(f"class {dup!r} is listed twice")
    return classes


class TrackingConfig(_Section):
    """ByteTrack-style multi-object tracker."""

    enabled: bool = Field(True, description="track objects; zones, lines, distance and speed need it")
    track_thresh: float = Field(
        0.5, ge=0.0, le=1.0, description="score at or above which a detection joins the first association"
    )
    low_thresh: float = Field(
        0.1, ge=0.0, le=1.0, description="detections between low_thresh and track_thresh join the second one"
    )
    new_track_thresh: float = Field(
        0.6, ge=0.0, le=1.0, description="minimum score of an unmatched detection to start a track"
    )
    match_iou: float = Field(0.2, gt=0.0, le=1.0, description="minimum IoU, first association")
    low_match_iou: float = Field(0.5, gt=0.0, le=1.0, description="minimum IoU, second (low-score) stage")
    new_match_iou: float = Field(0.3, gt=0.0, le=1.0, description="minimum IoU to confirm a tentative track")
    min_hits: int = Field(3, ge=1, le=30, description="consecutive matched frames before a track is reported")
    max_lost_frames: int = Field(30, ge=0, le=1000, description="frames a track survives without a match")
    class_aware: bool = Field(True, description="a track only matches detections of its own class")
    method: Literal["edgesight", "bytetrack"] = Field(
        "edgesight",
        description="edgesight: ByteTrack plus appearance, observation-centric recovery and timestamps; "
        "bytetrack: IoU only, one Kalman step per frame (the earlier tracker, kept for replays)",
    )
    appearance: bool = Field(
        True, description="the sensor computes a torso colour histogram per box for the tracker (stays on the device)"
    )
    appearance_weight: float = Field(
        0.5, ge=0.0, le=2.0, description="weight of appearance distance against 1 - IoU in the association cost"
    )
    reid_similarity: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="appearance similarity to re-find a lost track away from its predicted box (1.0: off, "
        "as colour histograms alone confuse people dressed alike)",
    )

    @model_validator(mode="after")
    def check_thresholds(self) -> TrackingConfig:
        if self.low_thresh > self.track_thresh:
            raise ValueError(
                f"tracking.low_thresh={self.low_thresh} must be <= tracking.track_thresh={self.track_thresh}"
            )
        if self.new_track_thresh < self.track_thresh:
            raise ValueError(
                f"tracking.new_track_thresh={self.new_track_thresh} must be >= "
                f"tracking.track_thresh={self.track_thresh}"
            )
        return self


class ZoneConfig(_Section):
    """A polygon zone: enter/exit, dwell and count-in-zone events."""

    name: Name = Field(description="unique zone name, the event's rule")
    polygon: list[Point] = Field(
        min_length=3, max_length=64, description="vertices [x, y] normalised 0..1, in order, simple polygon"
    )
    classes: ClassList = Field(default_factory=list, description="class names counted; empty = all")
    anchor: Anchor = Field(Anchor.BOTTOM_CENTER, description="point of a box tested against the polygon")
    inertia_frames: int = Field(
        3, ge=1, le=300, description="consecutive frames inside (outside) before an enter (exit) counts"
    )
    min_dwell_s: float = Field(0.0, ge=0.0, le=86400.0, description="shortest stay reported as a dwell event")
    count_trigger: Trigger = Field(
        Trigger.EVENT, description="zone_count on every change (event) or every count_interval_s (interval)"
    )
    count_interval_s: float = Field(1.0, gt=0.0, le=3600.0, description="period of interval zone_count")

    @field_validator("polygon")
    @classmethod
    def check_polygon(cls, polygon: list[Point]) -> list[Point]:
        _check_normalised(polygon, "polygon")
        problem = polygon_problem(polygon)
        if problem is not None:
            raise ValueError(f"polygon {problem}")
        return polygon

    @field_validator("classes")
    @classmethod
    def check_classes(cls, classes: list[str], info: ValidationInfo) -> list[str]:
        return _check_classes(classes, info)

    def polygon_array(self) -> npt.NDArray[np.float64]:
        """``(k, 2)`` normalised vertices."""
        return np.asarray(self.polygon, dtype=np.float64)


class LineConfig(_Section):
    """A directed line segment counting crossings per direction and class."""

    name: Name = Field(description="unique line name, the event's rule")
    start: Point = Field(description="[x, y] normalised 0..1")
    end: Point = Field(description="[x, y] normalised 0..1")
    classes: ClassList = Field(default_factory=list, description="class names counted; empty = all")
    anchor: Anchor = Field(Anchor.BOTTOM_CENTER, description="point of a box whose motion crosses the line")
    min_frames_on_side: int = Field(
        3, ge=1, le=300, description="observed frames on the new side before a crossing counts (anti-flicker)"
    )
    left_to_right: Name = Field(
        "in", description="direction name of a crossing from the left to the right side, looking start->end"
    )
    right_to_left: Name = Field("out", description="direction name of the opposite crossing")
    reid_radius: float = Field(
        0.05, ge=0.0, le=1.0,
        description="a new track crossing within this normalised distance of a lost track's crossing ...",
    )
    reid_window_s: float = Field(
        2.0, ge=0.0, le=60.0, description="... in the same direction within this time is not counted again"
    )

    @model_validator(mode="after")
    def check_segment(self) -> LineConfig:
        _check_normalised([self.start], "start")
        _check_normalised([self.end], "end")
        if math.dist(self.start, self.end) <= 1e-9:
            raise ValueError(f"start == end == {list(self.start)}: the line has zero length")
        if self.left_to_right == self.right_to_left:
            raise ValueError(
                f"left_to_right and right_to_left must differ, both are {self.left_to_right!r}"
            )
        return self

    @field_validator("classes")
    @classmethod
    def check_classes(cls, classes: list[str], info: ValidationInfo) -> list[str]:
        return _check_classes(classes, info)


class CalibrationConfig(_Section):
    """Four floor points seen in the image and measured on the ground: the image-to-floor homography."""

    image_points: tuple[Point, Point, Point, Point] = Field(description="4 x [x, y] normalised 0..1")
    ground_points_m: tuple[Point, Point, Point, Point] = Field(description="same points on the floor, m")

    @model_validator(mode="after")
    def check_homography(self) -> CalibrationConfig:
        _check_normalised(self.image_points, "image_points")
        for i, p in enumerate(self.ground_points_m):
            if not all(math.isfinite(v) and abs(v) <= 1e5 for v in p):
                raise ValueError(f"ground_points_m[{i}]: {list(p)} must be finite metres within +-100000")
        try:
            homography_from_points(self.image_points, self.ground_points_m)
        except ValueError as exc:
            text = str(exc).replace("src points", "image_points").replace("dst points", "ground_points_m")
            raise ValueError(
                f"{text} (image_points={[list(p) for p in self.image_points]}, "
                f"ground_points_m={[list(p) for p in self.ground_points_m]})"
            ) from None
        return self

    def homography(self) -> npt.NDArray[np.float64]:
        """``(3, 3)`` map from normalised image points to ground metres.

        Example:
            >>> c = CalibrationConfig(image_points=((0, 0), (1, 0), (1, 1), (0, 1)),
            ...                       ground_points_m=((0, 0), (8, 0), (8, 6), (0, 6)))
            >>> c.homography().round(6).diagonal().tolist()
            [8.0, 6.0, 1.0]
        """
        return homography_from_points(self.image_points, self.ground_points_m)


class DistanceConfig(_Section):
    """Distances on the floor between two groups of classes (Azure's person distance)."""

    name: Name = Field("distance", description="the event's rule")
    classes_a: ClassList = Field(default_factory=lambda: ["person"], min_length=1, description="first group")
    classes_b: ClassList = Field(default_factory=lambda: ["person"], min_length=1, description="second group")
    min_m: float = Field(1.5, ge=0.0, le=1000.0, description="pairs closer than this are TooClose")
    max_m: float | None = Field(None, gt=0.0, le=10000.0, description="pairs farther than this are TooFar")
    anchor: Anchor = Field(Anchor.FOOTPRINT, description="point of a box projected to the floor")
    trigger: Trigger = Field(Trigger.EVENT, description="on change of violating pairs, or every interval_s")
    interval_s: float = Field(1.0, gt=0.0, le=3600.0, description="period of interval events")

    @field_validator("classes_a", "classes_b")
    @classmethod
    def check_classes(cls, classes: list[str], info: ValidationInfo) -> list[str]:
        return _check_classes(classes, info)

    @model_validator(mode="after")
    def check_range(self) -> DistanceConfig:
        if self.max_m is not None and self.max_m <= self.min_m:
            raise ValueError(f"max_m={self.max_m} must be > min_m={self.min_m}")
        return self


class SpeedConfig(_Section):
    """Ground speed per track in m/s (needs calibration)."""

    name: Name = Field("speed", description="the event's rule")
    classes: ClassList = Field(default_factory=list, description="class names measured; empty = all")
    anchor: Anchor = Field(Anchor.BOTTOM_CENTER, description="point of a box projected to the floor")
    window_s: float = Field(1.0, gt=0.0, le=60.0, description="speeds are the fitted slope over this window")
    report_interval_s: float = Field(1.0, gt=0.0, le=3600.0, description="period of speed events per track")
    min_mps: float = Field(0.0, ge=0.0, le=1000.0, description="report only tracks at least this fast")

    @field_validator("classes")
    @classmethod
    def check_classes(cls, classes: list[str], info: ValidationInfo) -> list[str]:
        return _check_classes(classes, info)


class HeatmapConfig(_Section):
    """Occupancy grid of tracked objects' anchors."""

    enabled: bool = Field(False, description="accumulate the heatmap")
    grid: tuple[Annotated[int, Field(ge=1, le=512)], Annotated[int, Field(ge=1, le=512)]] = Field(
        (32, 18), description="[cols, rows] cells over the frame"
    )
    classes: ClassList = Field(default_factory=list, description="class names counted; empty = all")
    anchor: Anchor = Field(Anchor.BOTTOM_CENTER, description="point of a box accumulated")

    @field_validator("classes")
    @classmethod
    def check_classes(cls, classes: list[str], info: ValidationInfo) -> list[str]:
        return _check_classes(classes, info)


class AnalyticsConfig(_Section):
    """Zones, lines and apps of a device."""

    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="multi-object tracker")
    zones: list[ZoneConfig] = Field(default_factory=list, max_length=64, description="polygon zones")
    lines: list[LineConfig] = Field(default_factory=list, max_length=64, description="counting lines")
    calibration: CalibrationConfig | None = Field(None, description="image-to-floor homography")
    distance: DistanceConfig | None = Field(None, description="too close / too far (needs calibration)")
    speed: SpeedConfig | None = Field(None, description="ground speed (needs calibration)")
    heatmap: HeatmapConfig = Field(default_factory=HeatmapConfig, description="occupancy grid")
    apps: AppsConfig = Field(default_factory=AppsConfig, description="application rules")

    @model_validator(mode="after")
    def check_unique_names(self) -> AnalyticsConfig:
        zone_names, line_names = [z.name for z in self.zones], [ln.name for ln in self.lines]
        for key, names in (("zones", zone_names), ("lines", line_names)):
            seen: dict[str, int] = {}
            for i, name in enumerate(names):
                if name in seen:
                    raise ValueError(f"{key}[{i}].name: {name!r} is already used by {key}[{seen[name]}]")
                seen[name] = i
        return self

    @model_validator(mode="after")
    def check_calibration_present(self) -> AnalyticsConfig:
        for key, section in (("distance", self.distance), ("speed", self.speed)):
            if section is not None and self.calibration is None:
                raise ValueError(
                    f"{key} needs calibration: set analytics.calibration "
                    "(image_points, ground_points_m), got none"
                )
        return self

    @model_validator(mode="after")
    def check_tracking_enabled(self) -> AnalyticsConfig:
        if self.tracking.enabled:
            return self
        users = [f"zones[{i}]" for i in range(len(self.zones))]
        users += [f"lines[{i}]" for i in range(len(self.lines))]
        users += [k for k, v in (("distance", self.distance), ("speed", self.speed)) if v is not None]
        if users:
            raise ValueError(f"{users[0]} needs tracking.enabled=true, got tracking.enabled=false")
        return self

    @model_validator(mode="after")
    def check_apps_references(self) -> AnalyticsConfig:
        """Every zone and line an app names exists (and a queue's entry direction is one of its line's)."""
        zones = {z.name for z in self.zones}
        lines = {ln.name: ln for ln in self.lines}
        for i, q in enumerate(self.apps.queues):
            key = f"analytics.apps.queues[{i}]"
            _check_name(f"{key}.queue_zone", q.queue_zone, zones, "zone")
            _check_name(f"{key}.entry_line", q.entry_line, set(lines), "line")
            if q.service_zone is not None:
                _check_name(f"{key}.service_zone", q.service_zone, zones, "zone")
            line = lines[q.entry_line]
            if q.entry_direction not in (line.left_to_right, line.right_to_left):
                raise ValueError(
                    f"{key}.entry_direction: line {line.name!r} has no direction {q.entry_direction!r}; "
                    f"its directions are {line.left_to_right!r} and {line.right_to_left!r}"
                )
        if self.apps.shelf is not None:
            for i, shelf in enumerate(self.apps.shelf.shelves):
                if isinstance(shelf.zone, str):
                    _check_name(f"analytics.apps.shelf.shelves[{i}].zone", shelf.zone, zones, "zone")
        if self.apps.safety is not None:
            for i, rule in enumerate(self.apps.safety.danger_zones):
                if isinstance(rule.zone, str):
                    _check_name(f"analytics.apps.safety.danger_zones[{i}].zone", rule.zone, zones, "zone")
        return self

    @model_validator(mode="after")
    def check_apps_classes(self, info: ValidationInfo) -> AnalyticsConfig:
        """Every class an app names is one the model can output (like the zones' and lines' classes)."""
        lists: list[tuple[str, list[str]]] = []
        if self.apps.shelf is not None:
            for i, shelf in enumerate(self.apps.shelf.shelves):
                key = f"analytics.apps.shelf.shelves[{i}]"
                lists += [
                    (f"{key}.classes", shelf.classes),
                    (f"{key}.occluder_classes", shelf.occluder_classes),
                ]
        if self.apps.safety is not None:
            for i, zone in enumerate(self.apps.safety.danger_zones):
                key = f"analytics.apps.safety.danger_zones[{i}]"
                lists += [(f"{key}.classes", zone.classes), (f"{key}.allowed_classes", zone.allowed_classes)]
            for i, rule in enumerate(self.apps.safety.proximity):
                key = f"analytics.apps.safety.proximity[{i}]"
                lists += [(f"{key}.classes_a", rule.classes_a), (f"{key}.classes_b", rule.classes_b)]
        for key, classes in lists:
            try:
                _check_classes(classes, info)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        return self

    @model_validator(mode="after")
    def check_apps_need(self) -> AnalyticsConfig:
        """Proximity in metres needs calibration; queues and safety rules need track ids."""
        safety = self.apps.safety
        if safety is not None and self.calibration is None:
            for i, rule in enumerate(safety.proximity):
                if rule.min_m is not None:
                    raise ValueError(
                        f"analytics.apps.safety.proximity[{i}].min_m: {rule.name!r} measures metres on the "
                        "floor and needs analytics.calibration (image_points, ground_points_m), got none; "
                        "set calibration or use min_px_fraction"
                    )
        if not self.tracking.enabled:
            users = [f"analytics.apps.queues[{i}]" for i in range(len(self.apps.queues))]
            users += ["analytics.apps.safety"] if safety is not None else []
            if users:
                raise ValueError(f"{users[0]} needs tracking.enabled=true, got tracking.enabled=false")
        return self


def _check_name(key: str, name: str, known: Collection[str], kind: str) -> None:
    """Raise naming ``key`` when ``name`` is not among the ``known`` zone or line names."""
    if name in known:
        return
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    listed = ", ".join(repr(k) for k in sorted(known)) if known else f"none (add it under analytics.{kind}s)"
    raise ValueError(f"{key}: no {kind} named {name!r}; {hint}{kind}s are: {listed}")
