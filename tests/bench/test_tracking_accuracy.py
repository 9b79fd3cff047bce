"""The tracking bench counts the reference's line crossings by the same rule as the trackers'."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesight.core.config import LineConfig
from edgesight.core.detections import Detections
from evaluation import FrameBoxes, read_mot, reference_frames
from tracking_accuracy import EXTRA_LINES, CachedFrame, reference_crossings

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "vtest_people.csv"
SIZE = (768, 576)
LINE = LineConfig(name="door", start=(0.5, 1.0), end=(0.5, 0.0), left_to_right="east", right_to_left="west")


def video(n: int) -> list[CachedFrame]:
    empty = Detections.from_arrays(np.zeros((0, 4)), [], [], [])
    return [CachedFrame(i, i / 10, SIZE, empty) for i in range(n)]


def walker(xs: list[float]) -> dict[int, FrameBoxes]:
    """One reference person whose box centre is at ``xs[i]`` px in frame ``i``."""
    return {i: FrameBoxes.from_arrays([[x - 10, 200, x + 10, 260]], [1.0], [7]) for i, x in enumerate(xs)}


def test_a_walk_over_the_line_counts_once_in_its_direction() -> None:
    xs = [300.0 + 10 * i for i in range(20)]  # 300 -> 490 px, over the line at 384 px
    assert reference_crossings(walker(xs), [LINE], video(20)) == {"door": {"east": 1, "west": 0}}


def test_shuffling_on_the_line_counts_only_the_settled_side_changes() -> None:
    # Two px either side of the line every other frame, then a settled step east: one crossing.
    # (The walk starts 14 px west, past the dead band of 0.1 x its 60 px box.)
    xs = [370.0] * 5 + [386.0, 382.0] * 6 + [400.0] * 5
    assert reference_crossings(walker(xs), [LINE], video(len(xs))) == {"door": {"east": 1, "west": 0}}


def test_on_the_real_reference_the_rule_never_counts_more_than_raw_steps() -> None:
    frames = reference_frames(read_mot(REFERENCE))
    vertical = [x for x in EXTRA_LINES if x["start"][0] == x["end"][0]]  # lamp post, lawn
    lines = [LineConfig.model_validate({"left_to_right": "east", "right_to_left": "west", **x}) for x in vertical]
    ruled = reference_crossings(frames, lines, video(max(frames) + 1))
    for line in lines:
        # Upper bound: every sign change of a reference anchor's offset from the (infinite) line.
        x = line.start[0] * SIZE[0]
        offsets: dict[int, list[float]] = {}
        for f in sorted(frames):
            for tid, box in zip(frames[f].track_id.tolist(), frames[f].xyxy, strict=True):
                offsets.setdefault(tid, []).append((box[0] + box[2]) / 2 - x)
        raw = sum(int(np.count_nonzero(np.diff(np.sign(o)) != 0)) for o in offsets.values())
        assert 0 < sum(ruled[line.name].values()) <= raw
