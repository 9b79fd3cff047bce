"""Tracking and counting accuracy on vtest.avi against our reference annotation.

    python bench/tracking_accuracy.py [--config examples/vtest-device.yaml] [--reference tests/data/vtest_people.csv]

Runs the sensor and the device config's analytics over the whole video and prints MOTA, IDF1
and id switches (motmetrics, IoU 0.5), then each line's crossings per direction against the
crossings of the reference tracks (bottom-centre steps that cross the line segment).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from edgesight.apps.engine import Analytics
from edgesight.core.config import LineConfig, load_config
from edgesight.geometry.lines import line_sides, segments_cross
from edgesight.sensor.pipeline import Sensor, SensorSettings
from edgesight.sensor.sources import open_source
from edgesight.sensor.zoo import load_model
from evaluation import FrameBoxes, IgnoreRule, mot_metrics, read_mot, reference_frames

ROOT = Path(__file__).resolve().parent.parent


def reference_crossings(
    frames: dict[int, FrameBoxes], line: LineConfig, size: tuple[int, int]
) -> dict[str, int]:
    """Crossings of the reference tracks: the anchor's net side change each time it crosses."""
    a, b = np.multiply(line.start, size), np.multiply(line.end, size)
    paths: dict[int, list[tuple[int, np.ndarray]]] = {}
    for f in sorted(frames):
        fb = frames[f]
        for tid, box in zip(fb.track_id.tolist(), fb.xyxy, strict=True):
            paths.setdefault(tid, []).append((f, np.array([(box[0] + box[2]) / 2, box[3]])))
    counts = {line.left_to_right: 0, line.right_to_left: 0}
    for path in paths.values():
        points = np.array([p for _, p in path])
        if len(points) < 2:
            continue
        crossed = segments_cross(points[:-1], points[1:], a, b)
        sides = line_sides(points, a[None], b[None])[:, 0]
        for i in np.flatnonzero(crossed):
            counts[line.left_to_right if sides[i + 1] > 0 else line.right_to_left] += 1
    return counts


def run(config_path: Path, source: str | None) -> tuple[dict[int, FrameBoxes], Analytics, tuple[int, int]]:
    device = load_config(config_path)
    package = load_model(device.sensor.model)
    analytics = Analytics(device.analytics, device.device_id, device.stream_id)
    tracks: dict[int, FrameBoxes] = {}
    size = (0, 0)
    with open_source(source or device.sensor.source or "data/vtest.avi") as src:
        sensor = Sensor(src, package, SensorSettings.from_config(device, package.intrinsics.thresholds))
        for meta in track(sensor.run(), total=src.frame_count, description="tracking", transient=True):
            det = analytics.update(meta).frame.detections
            person = det.class_name == "person"
            tid = det.tracker_id if det.tracker_id is not None else np.full(len(det), -1)
            tracks[meta.frame_index] = FrameBoxes.from_arrays(
                det.xyxy[person], det.confidence[person], tid[person]
            )
            size = meta.frame_size
    return tracks, analytics, size


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "examples" / "vtest-device.yaml")
    parser.add_argument("--reference", type=Path, default=ROOT / "tests" / "data" / "vtest_people.csv")
    parser.add_argument("--source", default=None)
    parser.add_argument(
        "--min-height", type=float, default=0.0, help="ignore reference people shorter than this"
    )
    args = parser.parse_args(None if argv is None else list(argv))
    reference = reference_frames(read_mot(args.reference), IgnoreRule(min_height_px=args.min_height))
    tracks, analytics, size = run(args.config, args.source)
    m = mot_metrics(reference, tracks, sorted(tracks))
    console = Console()
    table = Table("metric", "value", title="tracking vs reference (IoU 0.5)")
    for key in ("mota", "idf1", "num_switches", "num_false_positives", "num_misses", "num_unique_objects"):
        table.add_row(key, f"{m[key]:.3f}" if key in ("mota", "idf1") else f"{m[key]:.0f}")
    console.print(table)
    lines = Table("line", "direction", "ours", "reference", "error", title="line crossings")
    ours = analytics.counts()["lines"]
    for line in load_config(args.config).analytics.lines:
        ref = reference_crossings(reference, line, size)
        for direction, expected in ref.items():
            got = sum(ours.get(line.name, {}).get(direction, {}).values())
            err = f"{(got - expected) / expected:+.0%}" if expected else "n/a"
            lines.add_row(line.name, direction, str(got), str(expected), err)
    console.print(lines)


if __name__ == "__main__":
    main()
