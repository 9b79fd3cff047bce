"""The ``analytics.tracking`` section: the multi-object tracker."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from edgesight.core.config.base import Fraction, PositiveFraction, StrictSection

__all__ = ["TrackingConfig", "check_tracking_thresholds"]


def check_tracking_thresholds(cfg: TrackingConfig) -> None:
    """``low_thresh <= track_thresh <= new_track_thresh``, else a message naming both keys and values.

    Example:
        >>> TrackingConfig(low_thresh=0.6, track_thresh=0.5)
        Traceback (most recent call last):
        ...
        pydantic_core._pydantic_core.ValidationError: 1 validation error for TrackingConfig
          Value error, tracking.low_thresh=0.6 must be <= tracking.track_thresh=0.5 ...
    """
    if cfg.low_thresh > cfg.track_thresh:
        raise ValueError(
            f"tracking.low_thresh={cfg.low_thresh} must be <= tracking.track_thresh={cfg.track_thresh}"
        )
    if cfg.new_track_thresh < cfg.track_thresh:
        raise ValueError(
            f"tracking.new_track_thresh={cfg.new_track_thresh} must be >= "
            f"tracking.track_thresh={cfg.track_thresh}"
        )


class TrackingConfig(StrictSection):
    """The multi-object tracker: ByteTrack-style association, plus appearance and gap recovery by default."""

    enabled: bool = Field(True, description="track objects; zones, lines, distance and speed need it")
    track_thresh: Fraction = Field(
        0.5, description="score at or above which a detection joins the first association"
    )
    low_thresh: Fraction = Field(
        0.1, description="detections between low_thresh and track_thresh join the second one"
    )
    new_track_thresh: Fraction = Field(
        0.6, description="minimum score of an unmatched detection to start a track"
    )
    match_iou: PositiveFraction = Field(0.2, description="minimum IoU, first association")
    low_match_iou: PositiveFraction = Field(0.5, description="minimum IoU, second (low-score) stage")
    new_match_iou: PositiveFraction = Field(0.3, description="minimum IoU to confirm a tentative track")
    min_hits: int = Field(3, ge=1, le=30, description="consecutive matched frames before a track is reported")
    # Seconds, not frames: an occlusion lasts as long at 30 fps as at 10 (3 s is 30 frames at 10 fps, 90 at 30).
    max_lost_s: float = Field(
        3.0, gt=0.0, le=600.0, description="seconds a track survives unseen (at the stream's measured frame rate)"
    )
    max_lost_frames: int | None = Field(
        None,
        ge=0,
        le=1000,
        description="frames a track survives unseen, instead of max_lost_s (method bytetrack: 30 when unset)",
    )
    class_aware: bool = Field(True, description="a track only matches detections of its own class")
    method: Literal["edgesight", "bytetrack"] = Field(
        "edgesight",
        description="edgesight: ByteTrack plus appearance, observation-centric recovery and timestamps; "
        "bytetrack: IoU only, one Kalman step per frame (the earlier tracker, kept for replays)",
    )
    appearance: bool = Field(
        True, description="the sensor computes a torso colour histogram per box for the tracker (stays on the device)"
    )
    # 1.0: the colour distance of two different people (median 1 - 0.62 = 0.38) then weighs as much
    # as the IoU difference of two overlapping candidates, so colour decides where motion cannot.
    # On vtest.avi (two detectors) 0.5 -> 1.0 cut id switches 22 -> 19 and 23 -> 19 and raised IDF1
    # 0.802 -> 0.803 and 0.724 -> 0.842; 1.5 saves two more switches but gives back IDF1 (0.829).
    appearance_weight: float = Field(
        1.0, ge=0.0, le=2.0, description="weight of appearance distance against 1 - IoU in the association cost"
    )
    # C-BIoU's buffered IoU (Yang et al., WACV 2023) in the first association, growing with the time a
    # track went unseen: someone who speeds up, turns, or was missed for a few frames (a dropped frame,
    # a low frame rate, a passer-by in front) still overlaps their prediction. On vtest.avi (16 draws,
    # BENCHMARKS.md ninth round) 3 cut the grid's line-count error 4.7 % -> 3.7 %, brought the lamp-post
    # line within 5 %, and at 5 fps cut id switches 26 -> 14; it cost the float32 detections 0.04 IDF1.
    motion_buffer: float = Field(
        3.0,
        ge=0.0,
        le=20.0,
        description="first association: widen predicted and detected boxes by this fraction of their size a "
        "side per second the track went unseen (at most 1 s), matching on the widened IoU; a match only the "
        "widening makes needs similar appearance. 0: plain IoU",
    )
    reid_similarity: Fraction = Field(
        1.0,
        description="appearance similarity to re-find a lost track away from its predicted box (1.0: off, "
        "as colour histograms alone confuse people dressed alike)",
    )

    # Off by default: on vtest.avi (the one video with a reference, calibrated only by an estimate
    # from people's heights) 4 m/s cost an id switch and 0.008 IDF1 (BENCHMARKS.md). It is for
    # perspective views with a surveyed calibration; 4 m/s is a running pace (walking 1.2-1.5 m/s).
    max_ground_speed_mps: float | None = Field(
        None,
        gt=0.0,
        le=100.0,
        description="with analytics.calibration: fastest floor speed (m/s) at which a track may have moved "
        "to take a detection since it was last seen (+0.5 m for box jitter), e.g. 4 for people; also the "
        "radius that lost tracks are re-found within. None (default) or no calibration: not used",
    )

    @model_validator(mode="after")
    def _check(self) -> TrackingConfig:
        check_tracking_thresholds(self)
        return self
