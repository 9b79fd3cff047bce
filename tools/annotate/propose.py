"""Step 1 of the reference annotation: machine proposals of people in every frame of a video.

Runs one zoo model with a low score threshold (and optionally heavy tiling) over the whole clip and
writes every ``person`` detection to a gzipped CSV, one row per box::

    frame,x1,y1,x2,y2,score

``frame`` is 0-based in decode order; boxes are in source-frame pixels. The proposals are kept in
``tools/annotate/proposals/`` so that ``build_reference.py`` can rebuild the reference without
running a model (and without depending on later changes to the decoders).

Usage::

    .venv/bin/python tools/annotate/propose.py --model nanodet-coco-fp32 --tiling 3x3 --score 0.2 \
        --out tools/annotate/proposals/nanodet-fp32-3x3.csv.gz
"""

from __future__ import annotations

import argparse
import csv
import gzip
import sys
from pathlib import Path

from edgesight.cli.sense import parse_tiling
from edgesight.core.intrinsics import Thresholds
from edgesight.sensor.pipeline import Sensor, SensorSettings
from edgesight.sensor.sources import open_source
from edgesight.sensor.zoo import load_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default="data/vtest.avi")
    parser.add_argument("--model", default="nanodet-coco-fp32")
    parser.add_argument("--tiling", default="3x3", help="'off' or ROWSxCOLS")
    parser.add_argument("--overlap", type=float, default=0.3, help="tile overlap fraction")
    parser.add_argument("--score", type=float, default=0.2)
    parser.add_argument("--iou", type=float, default=0.6, help="NMS IoU threshold")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    tiling = parse_tiling(args.tiling)
    if tiling is not None and (tiling.rows > 1 or tiling.cols > 1):
        tiling = tiling.model_copy(update={"overlap": args.overlap})
    settings = SensorSettings(
        tiling=tiling, thresholds=Thresholds(score=args.score, iou=args.iou, max_detections=300)
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with open_source(args.source) as source, gzip.open(args.out, "wt", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["frame", "x1", "y1", "x2", "y2", "score"])
        for meta in Sensor(source, load_model(args.model), settings).run():
            det = meta.detections
            for box, score, name in zip(det.xyxy, det.confidence, det.class_name, strict=True):
                if name != "person":
                    continue
                writer.writerow([meta.frame_index, *(f"{v:.1f}" for v in box), f"{score:.3f}"])
                rows += 1
            if meta.frame_index % 100 == 0:
                print(f"{args.out.name}: frame {meta.frame_index}, {rows} boxes", file=sys.stderr)
    print(f"wrote {rows} person boxes to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
