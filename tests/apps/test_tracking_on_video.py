"""The default tracker on vtest.avi, with the example config: people passing in depth keep their ids.

Each place is one where two people pass each other in depth while the detector draws boxes over
both. Our reference annotation had been wrong at each of them and was corrected on zoomed frames
(``tests/data/README.md``). Checked against the reference: through the passing, each person
leaves under the id they came with, and the two ids differ. Since the widening match
(``tracking.motion_buffer``), the unperturbed run on the AMD EPYC of BENCHMARKS.md's ninth round
slips once here: at frame 624 the man in black is under another track's id for one frame, then
back under his own. So one frame under another id is allowed; a lasting swap fails.

The detections differ a little by machine (bfloat16 arithmetic on AVX-512 or AMX): on the Intel
Xeon with AMX of the tenth round the detector draws one box over both people at frames 682-684,
and the man in the red jacket goes unmatched for those three frames before his own id takes him
again. So up to a third of a place's frames may be unmatched; the ids are checked on the rest.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from edgesight.apps.engine import Analytics
from edgesight.core.config import load_config
from edgesight.core.detections import Detections
from edgesight.sensor.pipeline import Sensor, SensorSettings
from edgesight.sensor.sources import open_source
from edgesight.sensor.zoo import configured_model, load_model
from evaluation import FrameBoxes, match_frame, read_mot, reference_frames

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "vtest-device.yaml"
REFERENCE = REPO / "tests" / "data" / "vtest_people.csv"

# (first frame, last frame, the two people's reference ids): a few frames either side of the passing.
PLACES = [
    pytest.param(774, 785, (437, 415), id="woman-behind-man-in-black-778"),
    pytest.param(619, 629, (415, 414), id="man-in-black-before-red-jacket-622"),
    pytest.param(676, 686, (415, 414), id="the-same-two-at-the-pole-679"),
]


@pytest.fixture(scope="module")
def tracked(vtest_path: Path) -> dict[int, Detections]:
    """Tracked detections of every frame up to the last place, as `edgesight sense --config` makes them."""
    device = load_config(EXAMPLE)
    package = load_model(configured_model(device.sensor))
    settings = SensorSettings.from_config(device, package.intrinsics.thresholds)
    analytics = Analytics(device.analytics, device.device_id, device.stream_id)
    last = max(p.values[1] for p in PLACES)
    out: dict[int, Detections] = {}
    with open_source(str(vtest_path)) as source:
        for meta in Sensor(source, package, settings).run(max_frames=last + 1):
            out[meta.frame_index] = analytics.update(meta).frame.detections
    return out


@pytest.fixture(scope="module")
def reference() -> dict[int, FrameBoxes]:
    return reference_frames(read_mot(REFERENCE))


def ids_of(
    person: int, frames: range, tracked: dict[int, Detections], reference: dict[int, FrameBoxes]
) -> list[int | None]:
    """Per frame, the tracker id matched to the person's reference box, else None.

    Matched as the MOT metrics match: one-to-one over the frame's boxes, IoU >= 0.5.
    """
    ids: list[int | None] = []
    for f in frames:
        boxes, got = reference[f], tracked[f]
        pairs = {int(g): int(d) for g, d in match_frame(boxes.xyxy, got.xyxy).pairs}
        row = int(np.flatnonzero(boxes.track_id == person)[0])
        if row not in pairs:
            ids.append(None)
            continue
        assert got.tracker_id is not None
        ids.append(int(got.tracker_id[pairs[row]]))
    return ids


@pytest.mark.slow
@pytest.mark.parametrize(("first", "last", "people"), PLACES)
def test_people_passing_in_depth_keep_their_ids(
    first: int,
    last: int,
    people: tuple[int, int],
    tracked: dict[int, Detections],
    reference: dict[int, FrameBoxes],
) -> None:
    frames = range(first, last + 1)
    seen = {person: ids_of(person, frames, tracked, reference) for person in people}
    kept = {}
    for person, ids in seen.items():
        # A few frames unmatched (one box over both) are a miss, not a swap; many would empty the check.
        assert sum(i is None for i in ids) <= len(ids) // 3, f"person {person} mostly untracked: {ids}"
        matched = [i for i in ids if i is not None]
        main, count = Counter(matched).most_common(1)[0]
        # The person leaves the place under the id they came with, and no other id holds them for
        # more than one frame (the widening match can let another track, unseen a moment, take
        # the box for a frame and give it back: frame 624).
        assert matched[0] == main == matched[-1], f"person {person} changed id: {ids}"
        assert count >= len(matched) - 1, f"person {person} changed id more than once: {ids}"
        kept[person] = main
    a, b = people
    assert kept[a] != kept[b], f"one id for both: {seen}"
