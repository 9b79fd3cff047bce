"""The tracking bench counts the reference's line crossings by the same rule as the trackers'."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgesight.core.config import AnalyticsConfig, DeviceConfig, LineConfig
from edgesight.core.detections import Detections
from evaluation import FrameBoxes, read_mot, reference_frames
from tracking_accuracy import (
    EXTRA_LINES,
    CachedFrame,
    GridScore,
    dropped_frames,
    grid_lines,
    main,
    reference_crossings,
    reference_ids_runner,
)

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


def test_the_grid_covers_the_frame_with_uniquely_named_lines_both_ways() -> None:
    grid = grid_lines()
    assert len(grid) == len({line.name for line in grid}) == 37
    vertical = [line for line in grid if line.start[0] == line.end[0]]
    assert [line.start[0] for line in vertical] == sorted(line.start[0] for line in vertical)
    assert vertical[0].start[0] == 0.08 and vertical[-1].start[0] == 0.92
    assert {line.left_to_right for line in grid} == {"eastbound", "northbound"}


def test_a_grid_walk_counts_on_every_vertical_line_it_passes() -> None:
    xs = [10.0 * i for i in range(77)]  # 0 -> 760 px: over every vertical line once, eastbound
    counted = reference_crossings(walker(xs), grid_lines(), video(len(xs)))
    east = [counted[name]["eastbound"] for name in counted if name.startswith("grid-x")]
    assert east == [1] * 22
    assert all(sum(counted[name].values()) == 0 for name in counted if name.startswith("grid-y"))


def test_grid_score_sums_errors_over_the_directions_the_reference_crosses() -> None:
    expected = {"a": {"in": 10, "out": 0}, "b": {"in": 20, "out": 4}}
    counts = {"a": {"in": 10, "out": 3}, "b": {"in": 18, "out": 5}}
    score = GridScore.of(counts, expected)
    # "a out" is not crossed in the reference, so its 3 do not count; b in is 10 % low, b out 25 % high.
    assert score == GridScore(directions=3, within=1, crossings=34, absolute_error=3, signed_error=-1)


def test_a_stream_that_loses_every_third_frame_keeps_the_others_indices_and_times() -> None:
    kept = dropped_frames(video(9), 3)
    assert [f.frame_index for f in kept] == [0, 1, 3, 4, 6, 7]
    assert [f.timestamp for f in kept] == pytest.approx([0.0, 0.1, 0.3, 0.4, 0.6, 0.7])
    whole = video(4)
    assert dropped_frames(whole, 0) is whole


@pytest.mark.parametrize("every", ["1", "-2"])
def test_drop_every_rejects_a_stream_that_would_lose_every_frame_or_a_negative(
    every: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["--drop-every", every])
    assert f"--drop-every must be 0 (no drops) or >= 2, got {every}" in capsys.readouterr().err


def test_the_ceiling_names_each_matched_box_by_its_reference_person_and_drops_the_rest() -> None:
    truth = walker([300.0 + 10 * i for i in range(20)])  # person 7 walks east over the door
    frames = []
    for i in range(20):
        x = 300.0 + 10 * i
        boxes = [[x - 11, 201, x + 9, 259], [600, 100, 620, 160]]  # person 7, 1 px off; a box on nobody
        frames.append(CachedFrame(i, i / 10, SIZE, Detections.from_arrays(boxes, [0.9, 0.8], [0, 0], ["person"] * 2)))
    frames[5] = CachedFrame(5, 0.5, SIZE, frames[5].detections[np.array([1])])  # person 7 missed once
    device = DeviceConfig(device_id="cam")
    run = reference_ids_runner(truth, AnalyticsConfig(lines=[LINE]), device)
    tracks, counts = run(frames)
    assert [tracks[i].track_id.tolist() for i in (0, 5, 19)] == [[7], [], [7]]
    assert counts == {"door": {"east": 1, "west": 0}}
