"""Swapping the sensor's model while it runs: at a frame boundary, nothing lost, order kept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from edgesight.core.errors import ModelLoadError
from edgesight.core.package import ModelPackage
from edgesight.sensor.pipeline import Sensor, SensorSettings
from edgesight.sensor.sources import open_source
from edgesight.sensor.swap import self_test
from edgesight.sensor.zoo import load_model

ClipMaker = Callable[..., Path]


def test_swap_takes_effect_between_frames_without_losing_one(make_clip: ClipMaker) -> None:
    clip = make_clip("swap.mp4", seconds=3)
    old, new = load_model("nanodet-plus-m-320-int8"), load_model("nanodet-plus-m-416-int8")
    with open_source(str(clip)) as source:
        sensor = Sensor(source, old, SensorSettings(sessions=2))
        loaded = sensor.load_model(new, None)  # beside the running one
        self_test(loaded, None)
        records = []
        for meta in sensor.run(max_frames=24):
            records.append(meta)
            if len(records) == 8:
                assert sensor.swap_model(loaded).ref.id == old.id
        refs = [m.model.id for m in records]
    assert [m.frame_index for m in records] == list(range(24))  # every frame, in order
    switch = refs.index(new.id)
    # the frames already picked up (in inference, queued after the ISP, in the ISP) keep the old model
    assert 8 <= switch <= 8 + (2 + 1) + 3 + 1
    assert refs == [old.id] * switch + [new.id] * (24 - switch)  # one switch, never back
    assert sensor.package is new and sensor.stats.errors == 0
    assert sum(len(m.detections) for m in records[switch:]) > 0  # the new model detects people


def test_a_network_that_does_not_load_is_refused_and_the_sensor_keeps_its_model(make_clip: ClipMaker) -> None:
    base = load_model("nanodet-plus-m-320-int8")
    broken = ModelPackage(id="broken", version="1.0.0", intrinsics=base.intrinsics, labels=base.labels,
                          network=b"not an onnx graph")  # fmt: skip
    with open_source(str(make_clip("swap.mp4", seconds=3))) as source:
        sensor = Sensor(source, base, SensorSettings(sessions=1))
        with pytest.raises(ModelLoadError, match=r"model\.onnx does not load"):
            sensor.load_model(broken, None)
        assert sensor.package is base
        assert len(list(sensor.run(max_frames=3))) == 3
