"""Detection accuracy of a sensor configuration on vtest.avi against the reference annotation.

Runs the sensor (model, tiling, ROI) over the clip once at a low score threshold, then scores the
``person`` detections against ``tests/data/vtest_people.csv`` (IoU 0.5, Hungarian matching per
frame, see ``bench/evaluation.py``) at the requested threshold and over a threshold sweep, and
prints one table::

    python bench/accuracy.py --model nanodet-coco-int8 --tiling 2x2 --score 0.35
    python bench/accuracy.py --model ssdlite-person --min-height 20
    python bench/accuracy.py --tiling 2x2 --roi 0,0.15,1,0.85 --gt-in-roi
    python bench/accuracy.py --source bench/out/vtest-4k.mp4 --deblocking on

Options:
    --min-height PX / --min-visibility V: reference boxes below these are don't-care (a detection
        matched to one is neither TP nor FP; missing one is no FN).
    --roi x,y,w,h: the sensor's region of interest (0..1, as ``edgesight sense --roi``). By default
        people outside it still count as misses; ``--gt-in-roi`` makes them don't-care instead.
    --at S1,S2: also print the table rows at these score thresholds.
    --hypothesis FILE: also score a MOT-format track file (frame,id,x,y,w,h,...) with MOTA/IDF1
        (needs ``pip install motmetrics``).
    --source VIDEO: another encoding of vtest (``bench/out/vtest-4k.mp4``, made by
        ``bench/sensor_bench.py``); boxes are scaled from its frame size to the annotation's
        (``--reference-size``, 768x576), so a 4K run is scored against the same reference.
    --placement X,Y,W,H: the annotated picture lies at this pixel rectangle of a larger frame (a
        clip of *far* people: vtest shown small inside a 4K frame). Made, for example, with
        ``ffmpeg -i data/vtest.avi -vf "scale=1536:1152,pad=3840:2160:1152:504:color=gray,setpts=N/(30*TB)"
        -r 30 -c:v libx264 -crf 23 -pix_fmt yuv420p bench/out/vtest-4k-far.mp4`` and scored with
        ``--source bench/out/vtest-4k-far.mp4 --placement 1152,504,1536,1152``: people are then 0.4x
        their height in the 4K clip, as far people are in a real 4K camera's view.
    --deblocking auto|on|off: the sensor's ``deblocking`` setting (default auto, as shipped).
    --runtime auto|onnxruntime|openvino: the sensor's ``runtime`` (default auto, as shipped); with no
        ``--model`` the model is the one a device with that runtime runs by default.

Detections are cached in bench/out/ (``--reuse`` loads them instead of running the model again).
This measures accuracy only; it is not a speed benchmark.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import sys
from pathlib import Path

import numpy as np

from edgesight.cli.sense import parse_roi, parse_tiling
from edgesight.core.intrinsics import Thresholds
from edgesight.sensor.pipeline import Sensor, SensorSettings
from edgesight.sensor.runtime_policy import default_model, runtime_name
from edgesight.sensor.sources import open_source
from edgesight.sensor.zoo import load_model
from evaluation import (
    Counts,
    FrameBoxes,
    IgnoreRule,
    evaluate,
    mot_metrics,
    read_mot,
    reference_frames,
    sweep_thresholds,
)

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
SWEEP_FLOOR = 0.1  # the model runs at min(score, this) so the sweep can go below the operating point
PERSON = "person"
MOT_COUNTS = {
    "num_frames",
    "num_switches",
    "num_false_positives",
    "num_misses",
    "mostly_tracked",
    "mostly_lost",
    "num_unique_objects",
}


def run_detector(args: argparse.Namespace, run_score: float) -> tuple[dict[int, FrameBoxes], int]:
    """Person detections per frame (all frames the source yields) and the number of frames."""
    package = load_model(args.model)
    base = package.intrinsics.thresholds
    settings = SensorSettings(
        roi=parse_roi(args.roi),
        tiling=parse_tiling(args.tiling),
        thresholds=Thresholds(score=run_score, iou=base.iou, max_detections=1000),
        deblocking=args.deblocking,
        runtime=args.runtime,
    )
    per_frame: dict[int, FrameBoxes] = {}
    n = 0
    ref_w, ref_h = args.reference_size
    with open_source(args.source) as source:
        for meta in Sensor(source, package, settings).run(max_frames=args.max_frames):
            det = meta.detections
            keep = det.class_name == PERSON
            boxes = to_reference(det.xyxy[keep], args.placement or (0, 0, *meta.frame_size), (ref_w, ref_h))
            per_frame[meta.frame_index] = FrameBoxes.from_arrays(boxes, det.confidence[keep])
            n += 1
    return per_frame, n


def to_reference(
    xyxy: np.ndarray, placement: tuple[int, int, int, int], reference_size: tuple[int, int]
) -> np.ndarray:
    """Boxes in the source's pixels -> the reference's, given where the picture lies in the source.

    Example:
        >>> to_reference(np.array([[1160.0, 520, 1176, 552]]), (1152, 504, 1536, 1152), (768, 576)).tolist()
        [[4.0, 8.0, 12.0, 24.0]]
    """
    x0, y0, width, height = placement
    scale = np.array([reference_size[0] / width, reference_size[1] / height] * 2)
    return (np.asarray(xyxy, np.float64) - np.array([x0, y0, x0, y0])) * scale


def cache_path(args: argparse.Namespace, run_score: float) -> Path:
    roi = args.roi.replace(",", "_") if args.roi else "full"
    name = f"{Path(args.model).stem}_t{args.tiling or 'default'}_roi{roi}_s{run_score:g}"
    if Path(args.source).name != "vtest.avi":
        name += f"_{Path(args.source).stem}"
    if args.deblocking != "auto":
        name += f"_deblocking-{args.deblocking}"
    name += f"_{runtime_name(load_model(args.model), args.runtime).replace(' ', '-')}"
    if args.placement:
        name += "_at-" + "-".join(map(str, args.placement))
    if args.max_frames:
        name += f"_n{args.max_frames}"
    return OUT / f"{name}.csv.gz"


def save(path: Path, dets: dict[int, FrameBoxes], n_frames: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["frame", "x1", "y1", "x2", "y2", "score", f"frames={n_frames}"])
        for f, b in sorted(dets.items()):
            for box, s in zip(b.xyxy, b.score, strict=True):
                w.writerow([f, *(f"{v:.2f}" for v in box), f"{s:.4f}"])


def load(path: Path) -> tuple[dict[int, FrameBoxes], int]:
    rows: dict[int, list[list[float]]] = {}
    with gzip.open(path, "rt", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        n_frames = int(header[-1].split("=")[1])
        for rec in reader:
            rows.setdefault(int(rec[0]), []).append([float(v) for v in rec[1:6]])
    out = {f: FrameBoxes.empty() for f in range(n_frames)}
    for f, v in rows.items():
        a = np.asarray(v)
        out[f] = FrameBoxes.from_arrays(a[:, :4], a[:, 4])
    return out, n_frames


def _fmt(label: str, c: Counts) -> str:
    return (
        f"{label:<28} {c.frames:>6} {c.gt:>7} {c.tp:>6} {c.fp:>6} {c.fn:>6} {c.ignored:>5} "
        f"{c.precision:>9.3f} {c.recall:>7.3f}"
    )


def _placement(text: str) -> tuple[int, int, int, int]:
    """``"1152,504,1536,1152"`` -> ``(1152, 504, 1536, 1152)``."""
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X,Y,W,H in pixels, got {text!r}") from None
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"width and height must be > 0, got {text!r}")
    return x, y, w, h


def _size(text: str) -> tuple[int, int]:
    """``"768x576"`` -> ``(768, 576)``."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH like 768x576, got {text!r}") from None
    return width, height


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="zoo name or .espkg (default: this machine's for --runtime)")
    p.add_argument("--runtime", choices=["auto", "onnxruntime", "openvino"], default="auto", help="sensor.runtime")
    p.add_argument("--tiling", default=None, help="'off' or ROWSxCOLS; default: the model's")
    p.add_argument("--score", type=float, default=None, help="operating threshold; default: the model's")
    p.add_argument("--roi", default=None, help="sensor ROI x,y,w,h in 0..1")
    p.add_argument("--gt-in-roi", action="store_true", help="reference people outside the ROI are don't-care")
    p.add_argument("--reference", type=Path, default=REPO / "tests" / "data" / "vtest_people.csv")
    p.add_argument("--source", default=str(REPO / "data" / "vtest.avi"), help="vtest.avi or a re-encoding of it")
    p.add_argument(
        "--reference-size", type=_size, default=(768, 576), help="WxH the reference is annotated in (768x576)"
    )
    p.add_argument(
        "--placement", type=_placement, default=None,
        help="X,Y,W,H: where in the source's frame the annotated picture lies, in pixels (a clip that "
        "shows vtest small inside a larger frame); default: it fills the frame",
    )
    p.add_argument("--deblocking", choices=["auto", "on", "off"], default="auto", help="sensor.deblocking")
    p.add_argument(
        "--min-height", type=float, default=0.0, help="reference boxes shorter (px) are don't-care"
    )
    p.add_argument(
        "--min-visibility", type=float, default=0.0, help="reference boxes less visible are don't-care"
    )
    p.add_argument("--min-precision", type=float, default=0.95, help="for the best-recall point of the sweep")
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--reuse", action="store_true", help="load cached detections from bench/out/ if present")
    p.add_argument("--show-sweep", action="store_true", help="print every point of the sweep")
    p.add_argument("--at", default=None, help="also print rows at these thresholds, e.g. 0.4,0.5,0.6")
    p.add_argument("--hypothesis", type=Path, help="MOT-format track file to score with MOTA/IDF1")
    args = p.parse_args(argv)
    args.model = args.model or default_model(args.runtime)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    package_score = load_model(args.model).intrinsics.thresholds.score
    score = package_score if args.score is None else args.score
    run_score = min(score, SWEEP_FLOOR)

    region = None
    roi = parse_roi(args.roi)
    if args.gt_in_roi and roi is not None:
        x, y, w, h = roi
        ref_w, ref_h = args.reference_size
        region = (x * ref_w, y * ref_h, (x + w) * ref_w, (y + h) * ref_h)
    rule = IgnoreRule(min_height_px=args.min_height, min_visibility=args.min_visibility, region_xyxy=region)
    reference = reference_frames(read_mot(args.reference), rule)

    path = cache_path(args, run_score)
    if args.reuse and path.exists():
        dets, n_frames = load(path)
    else:
        dets, n_frames = run_detector(args, run_score)
        save(path, dets, n_frames)
    frames = list(range(n_frames))

    at = evaluate(reference, dets, frames, score_threshold=score)
    grid = np.round(np.arange(run_score, 0.951, 0.01), 3)
    sweep = sweep_thresholds(reference, dets, frames, grid)
    best = sweep.best_recall(args.min_precision)

    print(
        f"source={Path(args.source).name} deblocking={args.deblocking} "
        f"model={args.model} tiling={args.tiling or 'model default'} roi={args.roi or 'full'} "
        f"reference={args.reference.name} min_height={args.min_height:g} min_visibility={args.min_visibility:g}"
        f"{' gt_in_roi' if region else ''}"
    )
    print(
        f"{'':<28} {'frames':>6} {'GT':>7} {'TP':>6} {'FP':>6} {'FN':>6} {'ign':>5} {'precision':>9} {'recall':>7}"
    )
    print(_fmt(f"at score {score:g}", at))
    if best is None:
        print(f"{'best at P>=' + format(args.min_precision, 'g'):<28} no threshold reaches that precision")
    else:
        print(_fmt(f"best at P>={args.min_precision:g}: s={best.threshold:g}", best.counts))
    if args.at:
        for t in (float(v) for v in args.at.split(",")):
            print(_fmt(f"at score {t:g}", evaluate(reference, dets, frames, score_threshold=t)))
    if args.show_sweep:
        for pt in sweep.points:
            print(_fmt(f"  sweep s={pt.threshold:g}", pt.counts))
    if args.hypothesis:
        hyp_rows = read_mot(args.hypothesis)
        hyp = reference_frames(hyp_rows, IgnoreRule(honour_conf=False))
        try:
            m = mot_metrics(reference, hyp, frames)
        except ImportError:
            print("MOT metrics need motmetrics: pip install motmetrics", file=sys.stderr)
            return 1
        print(
            "MOT: " + ", ".join(f"{k}={v:.0f}" if k in MOT_COUNTS else f"{k}={v:.3f}" for k, v in m.items())
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
