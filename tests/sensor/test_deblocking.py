"""The decoder's deblocking filter: skipped by default only where the network cannot see it (4K),
kept at 768x576 and for frames people look at, and a per-device override."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from edgesight.core.config import DeviceConfig, parse_config
from edgesight.core.config.safe_yaml import load_yaml
from edgesight.core.errors import ConfigError
from edgesight.core.frame import OutputMode
from edgesight.core.package import ModelPackage
from edgesight.sensor.deblocking_policy import SKIP_ABOVE, deblocks
from edgesight.sensor.pipeline import Sensor, SensorSettings
from edgesight.sensor.sources import VideoFileSource, open_source
from edgesight.sensor.zoo import load_model

ClipMaker = Callable[..., Path]

FRAMES = 12
"""Frames decoded per comparison: past the first key frame, so that references carry the filter."""


@pytest.fixture(scope="module")
def plus_int8() -> ModelPackage:
    return load_model("nanodet-plus-m-416-int8")


@pytest.fixture(scope="module")
def deblocked_clip(make_clip: ClipMaker) -> Path:
    """An H.264 clip whose stream asks for the deblocking filter (x264's ultrafast preset turns it off)."""
    return make_clip("deblocked.mp4", seconds=2, extra=["-x264-params", "deblock=0,0"])


def last_luma(source: VideoFileSource) -> npt.NDArray[np.int16]:
    with source:
        frame = list(itertools.islice(iter(source), FRAMES))[-1]
    return np.asarray(frame.picture.to_ndarray(format="gray"), dtype=np.int16)


def test_auto_skips_the_filter_at_4k_and_keeps_it_at_768x576_and_1080p(plus_int8: ModelPackage) -> None:
    sensor = Sensor(open_source("unused.mp4"), plus_int8)  # the defaults: two tiles at 4K
    assert sensor.isp.downscale(3840, 2160) >= SKIP_ABOVE
    assert not sensor.deblocks(3840, 2160)
    assert sensor.deblocks(768, 576)  # 1.4x: block edges stay visible to the network
    assert sensor.deblocks(1920, 1080)  # one stretched pass: 2.6x vertically
    assert sensor.deblocks(2560, 1440)  # two tiles of 1422 x 1440 px: 3.4x


@pytest.mark.parametrize(
    ("settings", "at_4k", "at_768"),
    [
        ({"deblocking": "on"}, True, True),
        ({"deblocking": "off"}, False, False),
        ({"output_mode": OutputMode.METADATA_ROI_IMAGE}, True, True),  # images people look at
        ({"output_mode": OutputMode.FULL_IMAGE}, True, True),
        ({"output_mode": OutputMode.FULL_IMAGE, "deblocking": "off"}, False, False),
    ],
)
def test_settings_force_the_filter_and_images_keep_it(
    plus_int8: ModelPackage, settings: dict[str, Any], at_4k: bool, at_768: bool
) -> None:
    sensor = Sensor(open_source("unused.mp4"), plus_int8, SensorSettings(**settings))
    assert (sensor.deblocks(3840, 2160), sensor.deblocks(768, 576)) == (at_4k, at_768)


def test_the_policy_reads_the_downscale() -> None:
    assert not deblocks("auto", SKIP_ABOVE) and deblocks("auto", SKIP_ABOVE - 0.1)
    assert deblocks("auto", 0.0)  # size unknown: keep it
    assert deblocks("auto", 9.0, shown=True)


def test_a_source_skips_the_filter_only_when_its_policy_says_so(deblocked_clip: Path) -> None:
    asked: list[tuple[int, int]] = []
    with_filter = last_luma(VideoFileSource(deblocked_clip))
    kept, skipped = VideoFileSource(deblocked_clip), VideoFileSource(deblocked_clip)
    kept.set_deblocking(lambda w, h: asked.append((w, h)) is None)
    skipped.set_deblocking(lambda w, h: False)
    assert np.array_equal(last_luma(kept), with_filter)
    assert asked == [(320, 240)]  # asked once, with the stream's frame size, before decoding
    difference = np.abs(last_luma(skipped) - with_filter)
    assert 0 < difference.mean() < 5  # block edges differ, the picture is the same


@pytest.mark.parametrize(
    ("settings", "filtered"),
    [
        ({}, True),  # 320x240 into a 416 input: auto keeps the filter
        ({"deblocking": "off"}, False),
        ({"deblocking": "on"}, True),
    ],
)
def test_the_sensor_decodes_as_its_settings_say(
    deblocked_clip: Path, plus_int8: ModelPackage, settings: dict[str, Any], filtered: bool
) -> None:
    reference = last_luma(VideoFileSource(deblocked_clip))
    with open_source(str(deblocked_clip)) as source:
        sensor = Sensor(source, plus_int8, SensorSettings(**settings))
        for _ in sensor.run(max_frames=FRAMES):
            pass
        assert sensor.last_frame is not None
        luma = np.asarray(sensor.last_frame.picture.to_ndarray(format="gray"), dtype=np.int16)
    assert np.array_equal(luma, reference) is filtered


@pytest.mark.parametrize(("yaml", "expected"), [("off", "off"), ("on", "on"), ("auto", "auto"), ("false", "off")])
def test_device_config_overrides_the_default(plus_int8: ModelPackage, yaml: str, expected: str) -> None:
    """YAML reads a bare ``off`` as false: it still means off."""
    config = parse_config(load_yaml(f"sensor:\n  deblocking: {yaml}\n", "device.yaml"))
    settings = SensorSettings.from_config(config, plus_int8.intrinsics.thresholds)
    assert settings.deblocking == expected
    assert SensorSettings.from_config(DeviceConfig(), plus_int8.intrinsics.thresholds).deblocking == "auto"


def test_a_bad_value_names_the_key_and_the_choices() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"sensor": {"deblocking": "sometimes"}}, "device.yaml")
    message = str(caught.value)
    assert "sensor.deblocking" in message and "'auto', 'on' or 'off'" in message and "sometimes" in message
