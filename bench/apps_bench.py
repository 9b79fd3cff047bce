"""Analytics cost per frame: 50 tracked objects, 10 zones, 10 lines (issue target: < 1.5 ms, one core).

    python bench/apps_bench.py [--frames 2000] [--calibrated] [--blas-threads one|default]

Synthetic walkers (straight lines with jitter, re-entering at the edges, each with its own
appearance vector plus noise, as the sensor attaches them) are fed through ``Analytics.update``
with the default tracker and with ``tracking.method: bytetrack``; the tracker alone is timed too,
for its share; the same detections, with our track ids, also go through supervision's
``PolygonZone`` and ``LineZone`` (the peer a user would otherwise pick) for the rules alone.
With ``--calibrated`` the config has a floor calibration (the frame is a 27 x 15 m floor seen from
above: a 120 px walker is 1.7 m tall), so the default tracker also gates by ground speed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import supervision as sv

from edgesight.apps.appearance_tracker import AppearanceTracker
from edgesight.apps.blas_threads import use_one_blas_thread
from edgesight.apps.engine import Analytics, make_tracker
from edgesight.core.config import AnalyticsConfig
from edgesight.core.detections import Detections
from edgesight.core.frame import FrameMeta, ModelRef
from edgesight.sensor.appearance import EMBEDDING_SIZE

W, H = 1920, 1080


def scene(frames: int, objects: int, seed: int = 7) -> list[Detections]:
    rng = np.random.default_rng(seed)
    pos = rng.uniform([0, 0], [W, H], size=(objects, 2))
    vel = rng.normal(0, 6, size=(objects, 2))
    looks = np.abs(rng.normal(size=(objects, EMBEDDING_SIZE)))
    out = []
    for _ in range(frames):
        pos = (pos + vel) % [W, H]
        jitter = rng.normal(0, 1.5, size=(objects, 4))
        xyxy = np.column_stack([pos[:, 0] - 20, pos[:, 1] - 60, pos[:, 0] + 20, pos[:, 1] + 60]) + jitter
        xyxy = np.clip(xyxy, 0, [W, H, W, H])
        vectors = looks + np.abs(rng.normal(0, 0.2, size=looks.shape))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        out.append(
            Detections.from_arrays(
                xyxy, rng.uniform(0.6, 0.95, objects), np.zeros(objects), ["person"] * objects
            ).with_embedding(vectors)
        )
    return out


CALIBRATION = {
    "image_points": [[0, 0], [1, 0], [1, 1], [0, 1]],
    "ground_points_m": [[0, 0], [W / 120 * 1.7, 0], [W / 120 * 1.7, H / 120 * 1.7], [0, H / 120 * 1.7]],
}


def config(calibrated: bool = False) -> AnalyticsConfig:
    zones = [
        {"name": f"z{i}", "polygon": [[x, y], [x + 0.18, y], [x + 0.18, y + 0.4], [x, y + 0.4]]}
        for i, (x, y) in enumerate((0.02 + 0.2 * (i % 5), 0.05 + 0.5 * (i // 5)) for i in range(10))
    ]
    lines = [
        {"name": f"l{i}", "start": [0.05 + 0.09 * i, 0.1], "end": [0.05 + 0.09 * i, 0.9]} for i in range(10)
    ]
    tracking: dict[str, object] = {"min_hits": 1}
    floor: dict[str, object] = {}
    if calibrated:
        floor, tracking["max_ground_speed_mps"] = {"calibration": CALIBRATION}, 4.0
    return AnalyticsConfig.model_validate({"zones": zones, "lines": lines, "tracking": tracking, **floor})


def timed(fn: Callable[[int], object], frames: int) -> list[float]:
    """CPU milliseconds of each call: on a shared machine, wall time would count other jobs' turns."""
    times = []
    for i in range(frames):
        t0 = time.process_time()
        fn(i)
        times.append((time.process_time() - t0) * 1e3)
    return times[frames // 10 :]  # drop the warm-up tenth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--objects", type=int, default=50)
    parser.add_argument(
        "--calibrated", action="store_true", help="with a floor calibration (ground-speed gate)"
    )
    parser.add_argument(
        "--blas-threads", choices=["one", "default"], default="one",
        help="one: as `edgesight sense` runs (apps/blas_threads.py); default: numpy's own BLAS threads",
    )
    args = parser.parse_args()
    if args.blas_threads == "one":
        use_one_blas_thread()
    dets = scene(args.frames, args.objects)
    cfg = config(args.calibrated)
    engine = Analytics(cfg, "bench", "main")
    tracked: list[Detections] = []

    def ours(i: int) -> None:
        meta = FrameMeta("bench", "main", i, i, i / 30, ModelRef("synthetic", "1"), (W, H), dets[i])
        tracked.append(engine.update(meta).frame.detections)

    ours_ms = timed(ours, args.frames)
    tracker = make_tracker(cfg.tracking, cfg.calibration)
    if isinstance(tracker, AppearanceTracker):  # with the frame size, as the engine calls it
        tracker_ms = timed(lambda i: tracker.update(dets[i], i / 30, (W, H)), args.frames)
    else:
        tracker_ms = timed(lambda i: tracker.update(dets[i], i / 30), args.frames)
    legacy_cfg = cfg.model_copy(update={"tracking": cfg.tracking.model_copy(update={"method": "bytetrack"})})
    legacy = Analytics(legacy_cfg, "bench", "main")
    legacy_ms = timed(
        lambda i: legacy.update(FrameMeta("bench", "main", i, i, i / 30, ModelRef("s", "1"), (W, H), dets[i])),
        args.frames,
    )
    legacy_tracker = make_tracker(legacy_cfg.tracking)
    legacy_tracker_ms = timed(lambda i: legacy_tracker.update(dets[i], i / 30), args.frames)

    zones = [sv.PolygonZone(np.array(z.polygon) * [W, H]) for z in cfg.zones]
    lines = [
        sv.LineZone(sv.Point(ln.start[0] * W, ln.start[1] * H), sv.Point(ln.end[0] * W, ln.end[1] * H))
        for ln in cfg.lines
    ]

    def peer(i: int) -> None:
        d = tracked[i]
        svd = sv.Detections(
            xyxy=d.xyxy, confidence=d.confidence, class_id=d.class_id, tracker_id=d.tracker_id
        )
        for zone in zones:
            zone.trigger(svd)
        for line in lines:
            line.trigger(svd)

    peer_ms = timed(peer, len(tracked))
    p = statistics.median
    q = lambda xs: float(np.percentile(xs, 99))  # noqa: E731
    floor = ", floor calibration" if args.calibrated else ""
    print(
        f"{args.objects} objects, {len(cfg.zones)} zones, {len(cfg.lines)} lines{floor}, "
        f"{args.frames} frames, one thread"
    )
    print(f"{'pipeline (CPU time of this process)':58s} {'median ms':>10s} {'p99 ms':>8s}")
    print(
        f"{'EdgeSight Analytics.update (tracker + zones + lines + events)':58s} {p(ours_ms):10.3f} {q(ours_ms):8.3f}"
    )
    print(f"{'  of which the tracker (appearance, OC-SORT recovery)':58s} {p(tracker_ms):10.3f} {q(tracker_ms):8.3f}")
    print(f"{'Analytics.update with tracking.method: bytetrack':58s} {p(legacy_ms):10.3f} {q(legacy_ms):8.3f}")
    print(f"{'  of which the tracker (bytetrack)':58s} {p(legacy_tracker_ms):10.3f} {q(legacy_tracker_ms):8.3f}")
    print(
        f"{'supervision PolygonZone + LineZone (rules only, no tracker)':58s} {p(peer_ms):10.3f} {q(peer_ms):8.3f}"
    )
    print(f"ratio supervision rules / EdgeSight whole engine: {p(peer_ms) / p(ours_ms):.2f}x")
    print(f"tracker share of the engine (medians): default {p(tracker_ms) / p(ours_ms):.0%}, "
          f"bytetrack {p(legacy_tracker_ms) / p(legacy_ms):.0%}")


if __name__ == "__main__":
    main()
