"""Real-time behaviour: both cores in use without reordering, live sources that outrun the sensor,
and the default tiling chosen from the frame size."""

from __future__ import annotations

import dataclasses
import itertools
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edgesight.core.config import DeviceConfig
from edgesight.core.errors import SourceEndedError
from edgesight.core.package import ModelPackage
from edgesight.sensor.pipeline import Sensor, SensorSettings
from edgesight.sensor.sources import CameraSource, CropBox, Frame, ReconnectPolicy, open_source
from edgesight.sensor.zoo import load_model

# The camera is unplugged after its last frame: one quick failed reconnect, then the run ends.
NO_RETRY = ReconnectPolicy(initial_delay_s=0.01, max_delay_s=0.01, max_attempts=1, jitter=0.0)


@pytest.fixture(scope="module")
def plus_int8() -> ModelPackage:
    return load_model("nanodet-plus-m-416-int8")


class VideoAsCamera:
    """A camera (cv2.VideoCapture's interface) that plays vtest.avi as fast as it decodes, i.e.
    several times faster than the sensor can analyse: a camera the sensor cannot keep up with."""

    def __init__(self, path: Path | None, frames: int) -> None:
        self._capture = cv2.VideoCapture(str(path)) if path is not None else None
        self._left = frames

    def isOpened(self) -> bool:
        return self._left > 0

    @classmethod
    def once(cls, path: Path | None, frames: int) -> Any:
        """A capture factory: this video the first time, an unplugged camera afterwards."""
        opened: list[int] = []

        def factory(device: int | str) -> VideoAsCamera:
            opened.append(1)
            return cls(path, frames if len(opened) == 1 else 0)

        return factory

    def read(self) -> tuple[bool, Any]:
        if self._left == 0:
            return False, None
        self._left -= 1
        assert self._capture is not None
        if self._left == 0:
            # The last frame comes after a pause, so that a rate gate admits it however fast this
            # machine decodes: the test can then say the newest frame is the one analysed.
            time.sleep(0.05)
        return self._capture.read()

    def set(self, prop_id: int, value: float) -> bool:
        return True

    def get(self, prop_id: int) -> float:
        return 0.0

    def release(self) -> None:
        if self._capture is not None:
            self._capture.release()


def test_two_sessions_give_the_records_of_one_in_the_same_order(
    vtest_path: Path, plus_int8: ModelPackage
) -> None:
    runs = []
    for sessions in (1, 2):
        with open_source(str(vtest_path)) as source:
            sensor = Sensor(source, plus_int8, SensorSettings(sessions=sessions))
            runs.append(list(sensor.run(max_frames=40)))
        assert sensor.stats.dropped == sensor.stats.skipped == 0  # a file is never dropped from
    one, two = runs
    assert [r.frame_index for r in two] == [r.seq for r in two] == list(range(40))
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a.detections.xyxy, b.detections.xyxy)
        assert a.detections.class_name.tolist() == b.detections.class_name.tolist()


def test_a_live_source_faster_than_the_sensor_drops_frames_and_counts_them(
    vtest_path: Path, plus_int8: ModelPackage
) -> None:
    # inference_rate 240: the rate gate lets nearly everything through, so the drops are the
    # sensor's own (frames replaced while waiting for inference).
    fast = dataclasses.replace(
        plus_int8, intrinsics=plus_int8.intrinsics.model_copy(update={"inference_rate": 240.0})
    )
    camera = CameraSource(0, reconnect=NO_RETRY, capture_factory=VideoAsCamera.once(vtest_path, 300))
    records = []
    with camera, pytest.raises(SourceEndedError):
        sensor = Sensor(camera, fast, SensorSettings(sessions=1))
        records.extend(sensor.run())
    read = camera.stats.frames_decoded
    stats = sensor.stats
    assert read == 300
    assert stats.dropped > 0 and stats.frames == len(records) < read
    assert stats.frames + stats.dropped + stats.skipped == read
    indexes = [r.frame_index for r in records]
    assert indexes == sorted(set(indexes)) and [r.seq for r in records] == list(range(len(records)))
    assert indexes[-1] == read - 1  # the newest frame is the one kept


def test_a_live_source_is_analysed_at_most_at_the_inference_rate(plus_int8: ModelPackage) -> None:
    slow = dataclasses.replace(
        plus_int8, intrinsics=plus_int8.intrinsics.model_copy(update={"inference_rate": 5.0})
    )
    picture = np.zeros((96, 128, 3), np.uint8)

    class Stamped(CameraSource):
        """A 50 fps camera by its timestamps (frames come as fast as read, stamped 20 ms apart)."""

        def _frames(self):  # type: ignore[no-untyped-def]
            for index in range(100):
                yield Frame.from_bgr(self._next_index(), index * 0.02, picture)

    with Stamped(0, capture_factory=VideoAsCamera.once(None, 1)) as camera:
        sensor = Sensor(camera, slow, SensorSettings(sessions=1))
        records = list(sensor.run())
    stats = sensor.stats
    # 2 s of timestamps at 5 inferences per second: 10 frames, every 10th.
    assert stats.skipped == 90 and stats.frames + stats.dropped == 10
    assert all(b.frame_index - a.frame_index >= 10 for a, b in itertools.pairwise(records))


@pytest.mark.parametrize(("size", "passes"), [((768, 576), 1), ((3840, 2160), 2), ((1920, 1080), 1)])
def test_default_tiling_follows_the_frame_size(
    vtest_path: Path, plus_int8: ModelPackage, size: tuple[int, int], passes: int
) -> None:
    with open_source(str(vtest_path)) as source:
        bgr = next(iter(source)).crop_scale(CropBox(0, 0, 768, 576), size)
    sensor = Sensor(open_source(str(vtest_path)), plus_int8)  # default settings
    outputs = sensor.isp.process(Frame.from_bgr(0, 0.0, np.ascontiguousarray(bgr[:, :, ::-1])))
    assert len(outputs) == passes
    if passes == 2:  # two overlapping side-by-side tiles covering the frame, no whole-frame pass
        left, right = (o.region for o in outputs)
        assert left.x == 0.0 and right.x2 == pytest.approx(1.0) and right.x < left.x2
    opted_out = Sensor(open_source(str(vtest_path)), plus_int8, SensorSettings(auto_tiling=False))
    assert len(opted_out.isp.process(Frame.from_bgr(0, 0.0, np.zeros((size[1], size[0], 3), np.uint8)))) == 1


@pytest.mark.parametrize(
    ("sensor_section", "passes"),
    [({}, 2), ({"auto_tiling": False}, 1), ({"tiling": {"rows": 2, "cols": 2}}, 5)],
)
def test_device_config_opts_in_and_out_of_tiling_per_camera(
    vtest_path: Path, plus_int8: ModelPackage, sensor_section: dict[str, Any], passes: int
) -> None:
    config = DeviceConfig.model_validate({"sensor": sensor_section})
    settings = SensorSettings.from_config(config, plus_int8.intrinsics.thresholds)
    sensor = Sensor(open_source(str(vtest_path)), plus_int8, settings)
    assert len(sensor.isp.process(Frame.from_bgr(0, 0.0, np.zeros((2160, 3840, 3), np.uint8)))) == passes
