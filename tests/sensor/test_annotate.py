"""`sense --annotate`: a local MP4 with tracks, zones, lines and counts drawn on the real video."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from edgesight.apps.engine import Analytics
from edgesight.core.config import load_config
from edgesight.sensor.annotate import VideoAnnotator
from edgesight.sensor.pipeline import Sensor, SensorSettings
from edgesight.sensor.sources import open_source
from edgesight.sensor.zoo import configured_model, load_model

CONFIG = Path(__file__).resolve().parents[2] / "examples" / "vtest-device.yaml"
LINE_PINK = np.array([0x6E, 0x3C, 0xFF])  # BGR of the lines' colour


def test_annotated_vtest_has_every_frame_with_lines_and_tracks_drawn(vtest_path: Path, tmp_path: Path) -> None:
    device = load_config(CONFIG)
    package = load_model(configured_model(device.sensor))
    analytics = Analytics(device.analytics, device.device_id, device.stream_id)
    out = tmp_path / "annotated.mp4"
    drawn_ids = set()
    with open_source(str(vtest_path)) as src, VideoAnnotator(out, device.analytics, fps=10) as video:
        sensor = Sensor(src, package, SensorSettings.from_config(device, package.intrinsics.thresholds))
        for meta in sensor.run(max_frames=15):
            result = analytics.update(meta)
            assert sensor.last_frame is not None and sensor.last_frame.index == meta.frame_index
            source = sensor.last_frame.to_bgr()
            drawn = video.write(source, result.frame.detections, analytics.counts())
            assert drawn.shape == source.shape and not np.array_equal(drawn, source)
            ids = result.frame.detections.tracker_id
            drawn_ids |= set(ids.tolist()) if ids is not None else set()
    assert drawn_ids  # people were tracked and labelled
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(frames) == 15 and frames[0].shape == (576, 768, 3)
    # The west gate (x = 0.30 of the width, y 0.20..0.62) is drawn in the lines' colour.
    column = frames[-1][200:330, round(0.30 * 768) - 1 : round(0.30 * 768) + 2].reshape(-1, 3).astype(int)
    assert np.median(np.abs(column - LINE_PINK).sum(axis=1)) < 60
