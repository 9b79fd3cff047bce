"""Tracking and counting accuracy on vtest.avi against our reference annotation, ours vs ByteTrack.

    python bench/tracking_accuracy.py [--config examples/vtest-device.yaml] [--reference tests/data/vtest_people.csv]
        [--seeds 8] [--detections bench/out/detections-<key>.npz] [--drop-every 3]

The sensor runs once over the video and its detections (with the torso colour vectors the default
tracker uses) are cached in ``bench/out/`` keyed by the video, model and sensor settings, so later
runs only track. The same detections then feed, in one run:

* ``edgesight``: the device config's tracker (default method: appearance + OC-SORT recovery);
* ``edgesight-bytetrack``: the same config with ``tracking.method: bytetrack`` (the old tracker);
* ``trackers-bytetrack``: ``ByteTrackTracker`` of roboflow's ``trackers`` package at its defaults
  but for the lost-track buffer, set to the config's lost-track memory in frames (``max_lost_s``
  at the video's rate, or ``max_lost_frames``). supervision 0.31 no
  longer ships ByteTrack; ``trackers`` declares ``opencv-python``, which would sit beside our
  ``opencv-python-headless`` (both own ``cv2``), so install it with
  ``pip install --no-deps trackers==2.6.1 pydeprecate``: its ByteTrack needs neither;
* ``reference ids on these boxes (ceiling)``: no tracker. Each person box takes the id of the
  reference person it matches (``reference_ids_runner``), so what it counts wrong on a line is
  where the detector's boxes stand, and the gap between it and a tracker is what identities cost.

With ``--estimated-calibration`` a fourth run adds the tracker's ground-speed gate, with a floor
calibration ESTIMATED from the reference people's heights (``bench/vtest_calibration.py``; vtest.avi
has no surveyed one), at ``--max-ground-speed`` (default: the config's).

For each it prints MOTA, IDF1 and id switches (motmetrics, IoU 0.5), then the crossings per
direction of the config's lines plus the lines below (``EXTRA_LINES``), against the crossings of
the reference tracks. Every tracker's crossings and the reference's are counted by EdgeSight's own
LineCounter (same anchor, same anti-flicker rule), so only the tracks differ. Then, since
reviewers count on lines of their own choosing, every tracker's crossings on a grid of 37 lines
over the whole frame (``grid_lines``; ``--no-grid`` skips it): the share of line directions within
5 % of the reference, and the absolute and signed error over all of the grid's crossings.

**One run is one draw of noise.** A change that only rounds pixels differently (an ISP, a
resizer) moved the default tracker from 17 to 20 id switches and IDF1 0.857 to 0.819 with the
detector's precision and recall unchanged; a tracker change measured 17 -> 12 switches on one set
of detections and 20 -> 19 on the other. So with ``--seeds N`` (default 8; 0 for the single run)
every tracker also runs on N seeded perturbations of the cached detections (``detection_noise``:
boxes, scores and colour vectors jittered as much as that ISP change moved them), and the bench
prints, besides the unperturbed tables, per tracker the run, mean and range over the seeds of
MOTA, IDF1, switches, FP and FN with the number of seeds meeting each issue-10 target (and every
line within 5 %), and per line and direction the run, mean and range of the counts. A difference
between two single runs that lies inside the seeds' range is noise; judge on the means (and the
ranges' overlap). The perturbation cannot add or remove boxes, which the real change also did, so
the real spread is wider still. ``--detections`` tracks one given cache (another ISP, an older
sensor setting) instead of the config's.

With ``--drop-every N`` the trackers get a stream that lost every Nth frame (indices and
timestamps kept, so the gaps show): the tracking figures are scored on the frames that arrived, and
the line counts against the reference's crossings over the whole video, which is what a user of a
camera that drops frames wants counted.

The scoring is the same for all trackers: every video frame is scored (a frame where a tracker
reports nothing counts its misses), reference and tracks are matched per frame on 1 - IoU with
pairs below IoU 0.5 excluded (motmetrics' MOTChallenge convention).
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console, Group
from rich.progress import track
from rich.table import Table

from detection_noise import Spread, perturb
from edgesight.apps.engine import Analytics
from edgesight.core.config import AnalyticsConfig, DeviceConfig, LineConfig, TrackingConfig, load_config
from edgesight.core.config.stitch import StitchConfig
from edgesight.core.detections import Detections
from edgesight.core.events import FrameContext
from edgesight.core.frame import FrameMeta, ModelRef
from edgesight.sensor import appearance
from edgesight.sensor.appearance import EMBEDDING_SIZE
from edgesight.sensor.pipeline import Sensor, SensorSettings
from edgesight.sensor.runtime_policy import runtime_name
from edgesight.sensor.sources import open_source
from edgesight.sensor.zoo import configured_model, load_model
from evaluation import FrameBoxes, IgnoreRule, match_frame, mot_metrics, read_mot, reference_frames
from vtest_calibration import estimate_calibration

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / "out"

# Extra lines (normalised, drawn bottom to top so "left to right" is walking east). Chosen where
# the issue says counts go wrong: through the lamp post (x = 0.56), where people pass both sides of
# it and each other; across the lawn, where few walk and tracks start and end; and a horizontal one
# across the crossing on the right, where people walk diagonally towards the road.
EXTRA_LINES = [
    {"name": "lamp-post", "start": [0.56, 0.70], "end": [0.56, 0.30]},
    {"name": "lawn", "start": [0.30, 0.99], "end": [0.30, 0.62]},
    {"name": "crossing-south", "start": [0.98, 0.50], "end": [0.62, 0.50],
     "left_to_right": "northbound", "right_to_left": "southbound"},
]

# Lines nobody chose: a grid over the whole frame, every 0.04 of the width (vertical, 22 lines)
# and every 0.05 of the height from 0.25 down (horizontal, 15 lines). Reviewers score lines of
# their own choosing, so a figure over many lines says more about that than our five do; none of
# these was looked at before the tracker's settings were chosen.
GRID_X = tuple(round(0.08 + 0.04 * i, 2) for i in range(22))
GRID_Y = tuple(round(0.25 + 0.05 * i, 2) for i in range(15))


def grid_lines() -> list[LineConfig]:
    """The grid's lines (``grid-x0.08`` ... ``grid-y0.95``), person only, named directions."""
    vertical = [
        {"name": f"grid-x{x:.2f}", "start": [x, 0.99], "end": [x, 0.12],
         "left_to_right": "eastbound", "right_to_left": "westbound"}
        for x in GRID_X
    ]
    horizontal = [
        {"name": f"grid-y{y:.2f}", "start": [0.99, y], "end": [0.01, y],
         "left_to_right": "northbound", "right_to_left": "southbound"}
        for y in GRID_Y
    ]
    return [LineConfig.model_validate({"classes": ["person"], **line}) for line in (*vertical, *horizontal)]


@dataclass(frozen=True)
class GridScore:
    """One draw's crossings on the grid against the reference's.

    Attributes:
        directions: line directions the reference person crosses at least once.
        within: how many of them are counted within ``LINE_TOLERANCE``.
        crossings: the reference's crossings over those directions.
        absolute_error: the sum of ``|counted - reference|`` over them.
        signed_error: the sum of ``counted - reference`` (negative: undercounting).
    """

    directions: int
    within: int
    crossings: int
    absolute_error: int
    signed_error: int

    @classmethod
    def of(cls, counts: Counts, expected: Counts) -> GridScore:
        pairs = [
            (counts.get(line, {}).get(d, 0), n) for line, by_dir in expected.items() for d, n in by_dir.items() if n
        ]
        return cls(
            directions=len(pairs),
            within=sum(line_within(got, n) for got, n in pairs),
            crossings=sum(n for _, n in pairs),
            absolute_error=sum(abs(got - n) for got, n in pairs),
            signed_error=sum(got - n for got, n in pairs),
        )


@dataclass(frozen=True)
class CachedFrame:
    """One frame's detections as the sensor produced them."""

    frame_index: int
    timestamp: float
    size: tuple[int, int]
    detections: Detections


def cached_detections(device: DeviceConfig, source: str) -> list[CachedFrame]:
    """The sensor's detections of every frame (with appearance vectors), from the cache if present."""
    model = configured_model(device.sensor)
    runtime = runtime_name(load_model(model), device.sensor.runtime)
    settings = [device.sensor.model_dump(mode="json"), model, runtime]
    # The appearance code is part of the key: a change to it must not reuse stale vectors.
    looks = hashlib.sha256(inspect.getsource(appearance).encode()).hexdigest()
    key = hashlib.sha256(json.dumps([source, Path(source).stat().st_size, settings, looks]).encode()).hexdigest()[:16]
    path = CACHE / f"detections-{key}.npz"
    if not path.exists():
        package = load_model(model)
        settings_ = SensorSettings.from_config(device, package.intrinsics.thresholds)
        arrays: dict[str, list[np.ndarray]] = {k: [] for k in ("frame", "time", "xyxy", "conf", "cls", "name", "emb")}
        size = (0, 0)
        with open_source(source) as src:
            sensor = Sensor(src, package, SensorSettings(**{**settings_.__dict__, "appearance": True}))
            for meta in track(sensor.run(), total=src.frame_count, description="detecting", transient=True):
                d = meta.detections
                n = len(d)
                arrays["frame"].append(np.full(n, meta.frame_index))
                arrays["time"].append(np.full(n, meta.timestamp))
                for k, v in (("xyxy", d.xyxy), ("conf", d.confidence), ("cls", d.class_id), ("name", d.class_name)):
                    arrays[k].append(v)
                arrays["emb"].append(d.embedding if d.embedding is not None else np.zeros((n, EMBEDDING_SIZE), np.float32))
                arrays.setdefault("frames", []).append(np.array([meta.frame_index, meta.timestamp]))
                size = meta.frame_size
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path,
            **{k: np.concatenate(v) for k, v in arrays.items() if k != "frames"},
            frames=np.stack(arrays["frames"]),
            size=np.array(size),
        )
    return load_detections(path)


def load_detections(path: Path) -> list[CachedFrame]:
    """The frames of one detection cache written by :func:`cached_detections`."""
    # Read each array once: indexing the NpzFile decompresses the array again at every access.
    data = dict(np.load(path))
    size = (int(data["size"][0]), int(data["size"][1]))
    out = []
    for index, timestamp in data["frames"]:
        rows = data["frame"] == index
        dets = Detections.from_arrays(data["xyxy"][rows], data["conf"][rows], data["cls"][rows], data["name"][rows])
        out.append(CachedFrame(int(index), float(timestamp), size, dets.with_embedding(data["emb"][rows])))
    return out


def reference_crossings(
    frames: dict[int, FrameBoxes], lines: list[LineConfig], video: list[CachedFrame]
) -> dict[str, dict[str, int]]:
    """Crossings of the reference tracks, counted by EdgeSight's own ``LineCounter``.

    The reference is held to the same rule as every tracker: a crossing is a track whose side of
    the line changes and stays changed (``min_frames_on_side`` frames), so people shuffling on a
    line count once, for the reference as for us. Counting raw steps over the line instead would
    score a correct anti-flicker rule as misses (it did: 8 "crossings" by three people standing
    on the lamp-post line in frames 19-131, where the side settled twice). The reference's ids are
    taken as they are (no stitching): a crossing across one of its own id breaks is not counted.
    """
    from edgesight.apps.lines import LineCounter

    counter = LineCounter(lines, ttl_frames=len(video), stitch=StitchConfig(window_s=0))
    empty = FrameBoxes.empty()
    for f in video:  # the video's frame indices and timestamps, as the trackers see them
        fb = frames.get(f.frame_index, empty)
        n = len(fb)
        det = Detections.from_arrays(fb.xyxy, np.ones(n), np.zeros(n, np.int32), np.full(n, "person"), fb.track_id)
        counter.update(det, FrameContext("reference", "main", f.frame_index, f.timestamp, f.size))
    return _totals(counter.counts())


Tracked = dict[int, FrameBoxes]
Runner = Callable[[list[CachedFrame]], tuple[Tracked, dict[str, dict[str, int]]]]


def edgesight_runner(config: AnalyticsConfig, device: DeviceConfig) -> Runner:
    """Track with EdgeSight's analytics (tracker + LineCounter) under ``config``."""

    def run(frames: list[CachedFrame]) -> tuple[Tracked, dict[str, dict[str, int]]]:
        analytics = Analytics(config, device.device_id, device.stream_id)
        model = ModelRef(configured_model(device.sensor), "cached")
        tracks: Tracked = {}
        for seq, f in enumerate(frames):
            meta = FrameMeta(device.device_id, device.stream_id, seq, f.frame_index, f.timestamp, model, f.size, f.detections)
            tracks[f.frame_index] = _person_boxes(analytics.update(meta).frame.detections)
        return tracks, _totals(analytics.counts()["lines"])

    return run


def lost_track_frames(tracking: TrackingConfig, frames: list[CachedFrame]) -> int:
    """The config's lost-track memory in frames of this video: ``max_lost_frames``, else ``max_lost_s``."""
    if tracking.max_lost_frames is not None:
        return tracking.max_lost_frames
    period = float(np.median(np.diff([f.timestamp for f in frames]))) if len(frames) > 1 else 1 / 30
    return round(tracking.max_lost_s / period)


def trackers_bytetrack_runner(config: AnalyticsConfig, device: DeviceConfig, min_score: float = 0.0) -> Runner:
    """ByteTrack of the ``trackers`` package on the same detections; EdgeSight's lines count its tracks.

    ``min_score`` drops detections below it first: ByteTrack starts a track from any box it is
    given, so the example config's low sensor threshold (0.2, fed to EdgeSight's own stages) is
    unfair to it; the model's own threshold is what a user of the package would feed it.
    """
    import supervision as sv
    from trackers import ByteTrackTracker

    from edgesight.apps.lines import LineCounter

    def run(frames: list[CachedFrame]) -> tuple[Tracked, dict[str, dict[str, int]]]:
        memory = lost_track_frames(config.tracking, frames)
        tracker = ByteTrackTracker(lost_track_buffer=memory)
        counter = LineCounter(config.lines, memory + 1, stitch=config.stitch)
        tracks: Tracked = {}
        for f in frames:
            d = f.detections[f.detections.confidence >= min_score]
            out = tracker.update(sv.Detections(xyxy=d.xyxy, confidence=d.confidence, class_id=d.class_id))
            ids = np.asarray(out.tracker_id, dtype=np.int64)
            ok = ids >= 0
            lookup = dict(zip(d.class_id.tolist(), d.class_name.tolist(), strict=False))
            names = np.array([lookup.get(int(c), "?") for c in out.class_id], dtype=np.str_)
            tracked = Detections.from_arrays(out.xyxy[ok], out.confidence[ok], out.class_id[ok], names[ok], ids[ok])
            counter.update(tracked, FrameContext(device.device_id, device.stream_id, f.frame_index, f.timestamp, f.size))
            tracks[f.frame_index] = _person_boxes(tracked)
        return tracks, _totals(counter.counts())

    return run


def reference_ids_runner(reference: Tracked, config: AnalyticsConfig, device: DeviceConfig) -> Runner:
    """The ceiling of any tracker on these detections: each box carries the reference id it matches.

    Every person box the sensor produced is matched one to one to the frame's reference boxes at
    IoU >= 0.5 (as the scoring matches) and takes the matched person's id; unmatched boxes are
    dropped. No tracker can name the boxes better, so what this counts wrong on a line comes from
    where the detector's boxes stand (a box over two people, a foot hidden, a box a few pixels off
    the annotator's), not from identities. EdgeSight's lines count it, as for every tracker.
    """
    from edgesight.apps.lines import LineCounter

    def run(frames: list[CachedFrame]) -> tuple[Tracked, dict[str, dict[str, int]]]:
        counter = LineCounter(config.lines, len(frames), stitch=config.stitch)
        tracks: Tracked = {}
        empty = FrameBoxes.empty()
        for f in frames:
            d = f.detections[f.detections.class_name == "person"]
            truth = reference.get(f.frame_index, empty)
            pairs = match_frame(truth.xyxy, d.xyxy).pairs  # (k, 2): reference row, detection row
            named = d[pairs[:, 1]].with_tracker_id(truth.track_id[pairs[:, 0]])
            counter.update(named, FrameContext(device.device_id, device.stream_id, f.frame_index, f.timestamp, f.size))
            tracks[f.frame_index] = _person_boxes(named)
        return tracks, _totals(counter.counts())

    return run


def _person_boxes(det: Detections) -> FrameBoxes:
    person = det.class_name == "person"
    tid = det.tracker_id if det.tracker_id is not None else np.full(len(det), -1)
    return FrameBoxes.from_arrays(det.xyxy[person], det.confidence[person], tid[person])


def _totals(lines: dict[str, dict[str, dict[str, int]]]) -> dict[str, dict[str, int]]:
    return {name: {direction: sum(by_class.values()) for direction, by_class in d.items()} for name, d in lines.items()}


Counts = dict[str, dict[str, int]]
# One draw of a tracker: its motmetrics figures and its line crossings.
Draw = tuple[dict[str, float], Counts]

# (column, motmetrics key, decimals); the issue-10 targets by key; a line count within 5 % per direction.
FIGURES = (
    ("MOTA", "mota", 3), ("IDF1", "idf1", 3), ("id switches", "num_switches", 0),
    ("FP", "num_false_positives", 0), ("FN", "num_misses", 0),
)
TARGETS: dict[str, tuple[str, Callable[[float], bool]]] = {
    "mota": (">= 0.88", lambda v: v >= 0.88),
    "idf1": (">= 0.85", lambda v: v >= 0.85),
    "num_switches": ("<= 10", lambda v: v <= 10),
}
LINE_TOLERANCE = 0.05
CEILING = "reference ids on these boxes (ceiling)"


def perturbed(frames: list[CachedFrame], seed: int) -> list[CachedFrame]:
    """``frames`` with their detections perturbed (``detection_noise``); one draw per ``seed``."""
    moved = perturb([f.detections for f in frames], frames[0].size, seed)
    return [CachedFrame(f.frame_index, f.timestamp, f.size, d) for f, d in zip(frames, moved, strict=True)]


def dropped_frames(frames: list[CachedFrame], every: int) -> list[CachedFrame]:
    """The frames a stream that loses every ``every``-th frame delivers (0: all of them).

    The frames keep their indices and timestamps, so the trackers see the gaps as a camera's
    dropped frames: frame 2, 5, 8, ... missing for ``every`` 3.

    Example:
        >>> frames = [CachedFrame(i, i / 10, (640, 480), Detections.empty()) for i in range(7)]
        >>> [f.frame_index for f in dropped_frames(frames, 3)]
        [0, 1, 3, 4, 6]
    """
    if every == 0:
        return frames
    return [f for f in frames if f.frame_index % every != every - 1]


def line_within(got: int, expected: int) -> bool:
    """The issue's line target: a direction's count within ``LINE_TOLERANCE`` of the reference's."""
    return abs(got - expected) <= LINE_TOLERANCE * expected


def lines_within(counts: Counts, expected: Counts) -> bool:
    return all(line_within(counts.get(line, {}).get(d, 0), n) for line, by_dir in expected.items() for d, n in by_dir.items())


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "examples" / "vtest-device.yaml")
    parser.add_argument("--reference", type=Path, default=ROOT / "tests" / "data" / "vtest_people.csv")
    parser.add_argument("--source", default=None)
    parser.add_argument(
        "--detections", type=Path, default=None,
        help="track this detection cache (bench/out/detections-*.npz) instead of the config's",
    )
    parser.add_argument(
        "--seeds", type=int, default=8,
        help="also track N seeded perturbations of the detections and report the spread (0: one run)",
    )
    parser.add_argument("--no-extra-lines", action="store_true", help="count only the config's lines")
    parser.add_argument(
        "--no-grid", action="store_true", help="skip the grid of lines over the whole frame (grid_lines)"
    )
    parser.add_argument(
        "--min-height", type=float, default=0.0, help="ignore reference people shorter than this"
    )
    parser.add_argument(
        "--estimated-calibration", action="store_true",
        help="also run with the ground-speed gate on a calibration estimated from people's heights",
    )
    parser.add_argument(
        "--dead-band", type=float, default=None,
        help="every line's dead_band (box heights), the reference's included; default: the config's",
    )
    parser.add_argument("--max-ground-speed", type=float, default=None, help="tracking.max_ground_speed_mps")
    parser.add_argument(
        "--drop-every", type=int, default=0, metavar="N",
        help="the stream loses every Nth frame (3: every third is missing); scored on the frames that "
        "arrive, counted against the whole reference",
    )
    args = parser.parse_args(None if argv is None else list(argv))
    if args.seeds < 0:
        parser.error(f"--seeds must be >= 0, got {args.seeds}")
    if args.drop_every < 0 or args.drop_every == 1:
        parser.error(f"--drop-every must be 0 (no drops) or >= 2, got {args.drop_every}")
    device = load_config(args.config)
    reference = reference_frames(read_mot(args.reference), IgnoreRule(min_height_px=args.min_height))
    if args.detections is not None:
        frames = load_detections(args.detections)
    else:
        frames = cached_detections(device, args.source or device.sensor.source or "data/vtest.avi")
    extra = [] if args.no_extra_lines else [{"classes": ["person"], "left_to_right": "eastbound",
                                             "right_to_left": "westbound", **line} for line in EXTRA_LINES]
    lines = [*device.analytics.lines, *(LineConfig.model_validate(x) for x in extra)]
    grid = [] if args.no_grid else grid_lines()
    if args.dead_band is not None:
        lines, grid = ([line.model_copy(update={"dead_band": args.dead_band}) for line in group] for group in (lines, grid))
    analytics = device.analytics.model_copy(update={"lines": [*lines, *grid]})
    bytetrack = analytics.model_copy(
        update={"tracking": analytics.tracking.model_copy(update={"method": "bytetrack"})}
    )
    runners: dict[str, Runner] = {
        f"edgesight ({analytics.tracking.method})": edgesight_runner(analytics, device),
        "edgesight (bytetrack)": edgesight_runner(bytetrack, device),
    }
    if args.estimated_calibration:
        speed = args.max_ground_speed or analytics.tracking.max_ground_speed_mps or 4.0
        gated = analytics.model_copy(update={
            "calibration": estimate_calibration(args.reference),
            "tracking": analytics.tracking.model_copy(update={"max_ground_speed_mps": speed}),
        })
        runners[f"edgesight, ground gate {speed:g} m/s (estimated calibration)"] = edgesight_runner(gated, device)
    console = Console()
    try:
        runners["trackers ByteTrack"] = trackers_bytetrack_runner(analytics, device)
        model_threshold = load_model(configured_model(device.sensor)).intrinsics.thresholds.score
        runners[f"trackers ByteTrack (score >= {model_threshold:g})"] = trackers_bytetrack_runner(
            analytics, device, model_threshold
        )
    except ImportError:
        console.print("[yellow]trackers is not installed: pip install --no-deps trackers==2.6.1 pydeprecate")
    runners[CEILING] = reference_ids_runner(reference, analytics, device)
    # Draw 0 is the detections as cached; draws 1..N are seeded perturbations (seed = draw number).
    draws: dict[str, list[Draw]] = {name: [] for name in runners}
    arriving = dropped_frames(frames, args.drop_every)
    for seed in track(range(args.seeds + 1), description="tracking", transient=True, console=console):
        video = perturbed(arriving, seed) if seed else arriving
        for name, runner in runners.items():
            tracks, counts = runner(video)
            draws[name].append((mot_metrics(reference, tracks, sorted(tracks)), counts))
    counted = reference_crossings(reference, list(analytics.lines), frames)
    expected = {line.name: counted[line.name] for line in lines}
    console.print(_run_tables(draws, expected, lines))
    if args.seeds:
        console.print(_spread_table(draws, expected))
        for name, runs in draws.items():
            console.print(_line_spread_table(name, runs, expected, lines))
    if grid:
        console.print(_grid_table(draws, {line.name: counted[line.name] for line in grid}, len(grid)))


def _run_tables(draws: dict[str, list[Draw]], expected: Counts, lines: Iterable[LineConfig]) -> Group:
    """Today's two tables: the unperturbed run's scores and line crossings per tracker."""
    metrics = Table("tracker", *(f[0] for f in FIGURES), title="tracking vs reference (IoU 0.5)")
    crossing = Table("line", "direction", "reference", *draws, title="line crossings (error vs reference)")
    for name, runs in draws.items():
        m = runs[0][0]
        metrics.add_row(name, *(f"{m[key]:.{digits}f}" for _, key, digits in FIGURES))
    for line in lines:
        for direction, n in expected[line.name].items():
            cells = []
            for runs in draws.values():
                got = runs[0][1].get(line.name, {}).get(direction, 0)
                cells.append(f"{got}" + (f" ({(got - n) / n:+.0%})" if n else ""))
            crossing.add_row(line.name, direction, str(n), *cells)
    return Group(metrics, crossing)


def _spread_table(draws: dict[str, list[Draw]], expected: Counts) -> Table:
    """Per tracker and figure: the unperturbed run, mean and range over the seeds, seeds on target."""
    seeds = len(next(iter(draws.values()))) - 1
    table = Table(
        "tracker / figure", "run", "mean", "min-max", "target: seeds met",
        title=f"tracking over {seeds} seeded perturbations of the detections (run: unperturbed)",
    )
    for name, runs in draws.items():
        table.add_section()
        table.add_row(f"[bold]{name}")
        for label, key, digits in FIGURES:
            values = [m[key] for m, _ in runs[1:]]
            spread = Spread.of(values)
            target = ""
            if key in TARGETS:
                text, ok = TARGETS[key]
                target = f"{text}: {sum(ok(v) for v in values)}/{seeds}"
            table.add_row(
                f"  {label}", f"{runs[0][0][key]:.{digits}f}", f"{spread.mean:.{digits or 1}f}",
                f"{spread.low:.{digits}f}-{spread.high:.{digits}f}", target,
            )
        lines_met = sum(lines_within(c, expected) for _, c in runs[1:])
        every = sum(lines_within(c, expected) and all(ok(m[k]) for k, (_, ok) in TARGETS.items()) for m, c in runs[1:])
        table.add_row("  lines", "", "", "", f"all within 5 %: {lines_met}/{seeds}")
        table.add_row("  all targets", "", "", "", f"{every}/{seeds}")
    return table


def _line_spread_table(name: str, runs: list[Draw], expected: Counts, lines: Iterable[LineConfig]) -> Table:
    """One tracker's crossings per line and direction: unperturbed, mean and range over the seeds."""
    seeds = len(runs) - 1
    table = Table(
        "line", "direction", "reference", "run", "mean", "min-max", "within 5 %",
        title=f"line crossings of {name} over {seeds} seeds",
    )
    for line in lines:
        for direction, n in expected[line.name].items():
            got = [c.get(line.name, {}).get(direction, 0) for _, c in runs]
            spread = Spread.of(got[1:])
            table.add_row(
                line.name, direction, str(n), str(got[0]), f"{spread.mean:.1f}",
                f"{spread.low:.0f}-{spread.high:.0f}", f"{sum(line_within(g, n) for g in got[1:])}/{seeds}",
            )
    return table


def _grid_table(draws: dict[str, list[Draw]], expected: Counts, n_lines: int) -> Table:
    """Per tracker: the grid's directions within 5 %, absolute and signed error, run and seeds' mean."""
    seeds = len(next(iter(draws.values()))) - 1
    table = Table(
        "tracker", "directions within 5 %", "absolute error", "signed error",
        title=f"grid of {n_lines} lines over the frame (grid_lines): run / mean over {seeds} seeds",
    )
    for name, runs in draws.items():
        scores = [GridScore.of(counts, expected) for _, counts in runs]
        run, total = scores[0], scores[0].crossings
        table.add_row(
            name,
            f"{_run_and_mean(scores, 'within', run.directions)} of {run.directions}",
            f"{_run_and_mean(scores, 'absolute_error', total)} of {total}",
            _run_and_mean(scores, "signed_error", total),
        )
    return table


def _run_and_mean(scores: list[GridScore], field: str, of: int) -> str:
    """``field`` of the unperturbed draw and its mean over the seeded ones, as shares of ``of``."""
    values = [getattr(s, field) / of for s in scores]
    return f"{values[0]:.1%} / {float(np.mean(values[1:] or values)):.1%}"


if __name__ == "__main__":
    main()
