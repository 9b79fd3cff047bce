"""The sensor end to end on the real video and the shipped models."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgesight.core.frame import OutputMode
from edgesight.core.intrinsics import Tiling
from edgesight.core.package import ModelPackage
from edgesight.sensor.pipeline import Sensor, SensorSettings
from edgesight.sensor.sources import open_source


def run(video: Path, package: ModelPackage, frames: int, **settings: object) -> list:  # type: ignore[type-arg]
    with open_source(str(video)) as source:
        return list(Sensor(source, package, SensorSettings(**settings)).run(max_frames=frames))  # type: ignore[arg-type]


def test_records_are_complete_and_ordered(vtest_path: Path, nanodet_int8: ModelPackage) -> None:
    records = run(vtest_path, nanodet_int8, 20, device_id="cam-7")
    assert [r.seq for r in records] == list(range(20))
    assert [r.frame_index for r in records] == list(range(20))
    assert all(
        b.timestamp - a.timestamp == pytest.approx(0.1, abs=1e-6) for a, b in itertools.pairwise(records)
    )
    first = records[0]
    assert first.device_id == "cam-7" and first.frame_size == (768, 576)
    assert first.model.id == "nanodet-coco-int8" and first.image is None  # metadata only by default
    assert first.kpi.dnn_ms > 0 and first.kpi.isp_ms > 0
    people = [int((r.detections.class_name == "person").sum()) for r in records]
    assert min(people) >= 2 and max(people) <= 15  # the walkway always has a few people
    boxes = np.concatenate([r.detections.xyxy for r in records])
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 768).all() and (boxes[:, 3] <= 576).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()


def test_roi_limits_detections_to_the_region(vtest_path: Path, nanodet_int8: ModelPackage) -> None:
    records = run(vtest_path, nanodet_int8, 10, roi=(0.5, 0.0, 0.5, 1.0))
    boxes = np.concatenate([r.detections.xyxy for r in records])
    assert len(boxes) > 0
    assert (boxes[:, 0] >= 384 - 1e-3).all()


def test_tiling_finds_at_least_what_the_whole_frame_finds(
    vtest_path: Path, nanodet_int8: ModelPackage
) -> None:
    plain = run(vtest_path, nanodet_int8, 10, tiling=Tiling())
    tiled = run(vtest_path, nanodet_int8, 10, tiling=Tiling(rows=2, cols=2))
    count = sum(int((r.detections.class_name == "person").sum()) for r in plain)
    count_tiled = sum(int((r.detections.class_name == "person").sum()) for r in tiled)
    assert count_tiled >= count


def test_roi_image_mode_attaches_a_small_jpeg(vtest_path: Path, nanodet_int8: ModelPackage) -> None:
    (record,) = run(vtest_path, nanodet_int8, 1, output_mode=OutputMode.METADATA_ROI_IMAGE,
                    roi=(0.25, 0.25, 0.5, 0.5), image_width=160)  # fmt: skip
    assert record.image is not None and record.image.kind == "roi"
    image = cv2.imdecode(np.frombuffer(record.image.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[1] == 160 and record.image.size == (160, image.shape[0])


def test_full_image_mode_attaches_the_frame(vtest_path: Path, nanodet_int8: ModelPackage) -> None:
    (record,) = run(vtest_path, nanodet_int8, 1, output_mode=OutputMode.FULL_IMAGE)
    assert record.image is not None and record.image.size == (768, 576)


def test_ssdlite_finds_people(vtest_path: Path, ssdlite: ModelPackage) -> None:
    records = run(vtest_path, ssdlite, 10)
    assert {n for r in records for n in r.detections.class_name.tolist()} == {"person"}
    assert sum(len(r.detections) for r in records) >= 20


@pytest.mark.slow
def test_int8_counts_agree_with_fp32(
    vtest_path: Path, nanodet_int8: ModelPackage, nanodet_fp32: ModelPackage
) -> None:
    """Per-frame person counts of the int8 model equal fp32's on >= 95 % of frames (whole video),
    both at their package defaults (tiling 1x2, score 0.50)."""
    int8 = run(vtest_path, nanodet_int8, 795)
    fp32 = run(vtest_path, nanodet_fp32, 795)
    assert len(int8) == len(fp32) == 795
    same = sum(
        int((a.detections.class_name == "person").sum()) == int((b.detections.class_name == "person").sum())
        for a, b in zip(int8, fp32, strict=True)
    )
    assert same / 795 >= 0.95, f"int8 and fp32 person counts agree on {same}/795 frames"


def test_thresholds_change_live_and_restore(vtest_path: Path, nanodet_int8: ModelPackage) -> None:
    """What the agent does on a desired-twin change: new thresholds without a restart, from the
    first frame that starts inference after the change (the frames in flight keep the old ones)."""
    default = nanodet_int8.intrinsics.thresholds
    with open_source(str(vtest_path)) as source:
        sensor = Sensor(source, nanodet_int8, SensorSettings())
        in_flight = sensor.sessions + 1
        frames = sensor.run(max_frames=40)
        before = [len(next(frames).detections) for _ in range(10)]
        sensor.set_thresholds(default.model_copy(update={"score": 0.95}))
        strict = [next(frames).detections for _ in range(10 + in_flight)][in_flight:]
        sensor.set_thresholds(None)  # back to the model's own
        after = [len(next(frames).detections) for _ in range(10 + in_flight)][in_flight:]
    assert min(before) >= 2 and min(after) >= 2
    assert all(len(d) == 0 or float(d.confidence.min()) >= 0.95 - 1e-6 for d in strict)
    assert sum(len(d) for d in strict) < sum(before)
    assert sensor.detector.thresholds == default


def test_settings_from_config_map_the_sensor_section(nanodet_int8: ModelPackage) -> None:
    from edgesight.core.config import parse_config
    from edgesight.core.region import Region

    config = parse_config({"device_id": "cam-3", "sensor": {"roi": [0, 0.25, 1, 0.75], "iou_threshold": 0.4,
                                                            "output_mode": "metadata+roi-image"}})  # fmt: skip
    settings = SensorSettings.from_config(config, nanodet_int8.intrinsics.thresholds)
    assert settings.device_id == "cam-3" and settings.roi == Region(0.0, 0.25, 1.0, 0.75)
    assert settings.thresholds is not None and settings.thresholds.iou == 0.4
    assert settings.thresholds.score == nanodet_int8.intrinsics.thresholds.score
    assert settings.output_mode is OutputMode.METADATA_ROI_IMAGE
    assert SensorSettings.from_config(parse_config({}), nanodet_int8.intrinsics.thresholds).thresholds is None
