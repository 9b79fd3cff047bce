"""Render reference boxes (and optionally raw proposals) onto frames, for visual review.

Images go to ``/tmp/annot/`` (not committed). Three views:

* ``frames``: whole frames with every reference box, its id and provenance
  (``a`` automatic, ``i`` interpolated, ``m`` placed by eye), ``*`` for don't-care, and the visibility
  when below 1; ``--zoom x1,y1,x2,y2`` crops a region and scales it up (at most 2x); ``--auto-zoom`` crops each frame to its people; ``--proposals RUN`` overlays
  that run's raw proposals (thin grey, with scores);
* ``sheet``: a contact sheet of one track, a crop around its box every ``--step`` frames;
* ``changes``: lists the frames where the number of reference people changes.

Usage::

    .venv/bin/python tools/annotate/render.py frames --frames 0:795:10
    .venv/bin/python tools/annotate/render.py frames --frames 300 --zoom 0,100,400,300 --proposals nanodet-fp32-3x3
    .venv/bin/python tools/annotate/render.py sheet --track 12 --step 5
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from common import PROPOSALS, REFERENCE, Row, colour, draw_box, frames_cache, read_mot_rows, read_proposals

OUT = Path("/tmp/annot")
PROVENANCE = OUT / "provenance.csv"


def parse_frames(spec: str) -> list[int]:
    """``"10"``, ``"0:795:10"`` (start:stop:step) or ``"5,17,30"``."""
    if ":" in spec:
        parts = [int(p) for p in spec.split(":")]
        return list(range(*parts))
    return [int(p) for p in spec.split(",")]


def _label(r: Row) -> str:
    flag = {"auto": "a", "interp": "i", "manual": "m", "snap": "s"}.get(r.source, "?")
    text = f"{r.track}{flag}"
    if r.conf == 0:
        text += "*"
    if r.visibility < 1:
        text += f" v{r.visibility:.1f}"
    return text


def render_frames(
    rows: list[Row],
    frames: list[int],
    zoom: tuple[int, int, int, int] | None,
    proposals: str | None,
    min_score: float,
    tag: str,
    auto_zoom: bool = False,
    grid: bool = False,
) -> None:
    video = frames_cache()
    by_frame: dict[int, list[Row]] = {}
    for r in rows:
        by_frame.setdefault(r.frame, []).append(r)
    props = read_proposals(PROPOSALS / f"{proposals}.csv.gz") if proposals else {}
    for f in frames:
        img = np.array(video[f])
        ox, oy = 0, 0
        region = zoom
        if auto_zoom and by_frame.get(f):
            b = np.array([r.box for r in by_frame[f]])
            region = (
                int(max(b[:, 0].min() - 40, 0)),
                int(max(b[:, 1].min() - 30, 0)),
                int(min(b[:, 2].max() + 40, 768)),
                int(min(b[:, 3].max() + 30, 576)),
            )
        scale = min(2.0, 1100 / (region[2] - region[0]), 700 / (region[3] - region[1])) if region else 1.0
        if region:
            x1, y1, x2, y2 = region
            img = cv2.resize(
                np.ascontiguousarray(img[y1:y2, x1:x2]),
                None,
                fx=scale,
                fy=scale,
                interpolation=cv2.INTER_CUBIC,
            )
            ox, oy = x1, y1
        if grid:
            _draw_grid(img, ox, oy, scale)
        for p in props.get(f, np.zeros((0, 5))):
            if p[4] < min_score:
                continue
            box = (p[0] - ox, p[1] - oy, p[2] - ox, p[3] - oy)
            draw_box(img, box, f"{p[4]:.2f}", (160, 160, 160), scale)
        for r in by_frame.get(f, []):
            box = (r.box[0] - ox, r.box[1] - oy, r.box[2] - ox, r.box[3] - oy)
            draw_box(img, box, _label(r), colour(r.track), scale, 2 if region else 1)
        cv2.putText(
            img,
            f"frame {f}  n={len(by_frame.get(f, []))}",
            (5, 18),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6,
            (255, 255, 255),
            2,
            cv2.LINE_AA,
        )
        path = OUT / f"{tag}_{f:03d}{'_zoom' if region else ''}.png"
        cv2.imwrite(str(path), img)
        print(path)


def _draw_grid(img: np.ndarray, ox: int, oy: int, scale: float) -> None:
    """Faint lines every 10 source pixels, labelled every 50, to read coordinates off a zoom."""
    h, w = img.shape[:2]
    for x in range((ox // 10 + 1) * 10, ox + int(w / scale), 10):
        px = round((x - ox) * scale)
        strong = x % 50 == 0
        img[:, px] = img[:, px] // 2 + (64 if not strong else 127)
        if strong:
            cv2.putText(img, str(x), (px + 2, h - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1)
    for y in range((oy // 10 + 1) * 10, oy + int(h / scale), 10):
        py = round((y - oy) * scale)
        strong = y % 50 == 0
        img[py, :] = img[py, :] // 2 + (64 if not strong else 127)
        if strong:
            cv2.putText(img, str(y), (2, py - 2), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1)


def render_sheet(rows: list[Row], track: int, step: int, cols: int, cell: int) -> None:
    video = frames_cache()
    mine = sorted((r for r in rows if r.track == track), key=lambda r: r.frame)
    if not mine:
        raise SystemExit(f"track {track} has no boxes")
    picks = mine[::step]
    if picks[-1] is not mine[-1]:
        picks.append(mine[-1])
    tiles = []
    for r in picks:
        x1, y1, x2, y2 = r.box
        h = max(y2 - y1, 20)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        half = 0.75 * h
        X1, Y1 = int(max(cx - half, 0)), int(max(cy - half, 0))
        X2, Y2 = int(min(cx + half, 768)), int(min(cy + half, 576))
        crop = np.ascontiguousarray(video[r.frame][Y1:Y2, X1:X2]).copy()
        s = cell / max(X2 - X1, Y2 - Y1)
        crop = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC)
        for o in rows:
            if o.frame == r.frame:
                draw_box(
                    crop,
                    (o.box[0] - X1, o.box[1] - Y1, o.box[2] - X1, o.box[3] - Y1),
                    _label(o) if o is r else str(o.track),
                    colour(o.track) if o is r else (128, 128, 128),
                    s,
                    2 if o is r else 1,
                )
        tile = np.zeros((cell, cell, 3), np.uint8)
        tile[: crop.shape[0], : crop.shape[1]] = crop[:cell, :cell]
        cv2.putText(
            tile, str(r.frame), (3, cell - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 2, cv2.LINE_AA
        )
        tiles.append(tile)
    while len(tiles) % cols:
        tiles.append(np.zeros((cell, cell, 3), np.uint8))
    grid = np.vstack([np.hstack(tiles[i : i + cols]) for i in range(0, len(tiles), cols)])
    path = OUT / f"sheet_{track:04d}.png"
    cv2.imwrite(str(path), grid)
    print(f"{path}: frames {mine[0].frame}-{mine[-1].frame}, {len(mine)} boxes, {len(picks)} tiles")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("view", choices=["frames", "sheet", "changes"])
    parser.add_argument("--csv", type=Path, default=REFERENCE)
    parser.add_argument("--frames", default="0:795:10")
    parser.add_argument("--zoom", help="x1,y1,x2,y2 region to crop and scale 2x")
    parser.add_argument("--grid", action="store_true", help="draw a 10 px coordinate grid")
    parser.add_argument("--auto-zoom", action="store_true", help="crop each frame to its people")
    parser.add_argument("--proposals", help="overlay the raw proposals of this run")
    parser.add_argument("--min-score", type=float, default=0.3, help="of overlaid proposals")
    parser.add_argument("--track", type=int)
    parser.add_argument("--step", type=int, default=5)
    parser.add_argument("--cols", type=int, default=10)
    parser.add_argument("--cell", type=int, default=120)
    parser.add_argument("--tag", default="ref")
    args = parser.parse_args(argv)

    OUT.mkdir(parents=True, exist_ok=True)
    rows = read_mot_rows(args.csv)
    # The MOT file has no column for provenance: build_reference.py writes it beside, in /tmp/annot.
    if PROVENANCE.exists():
        src = {}
        for line in PROVENANCE.read_text().splitlines()[1:]:
            f, t, s = line.split(",")
            src[(int(f), int(t))] = s
        for r in rows:
            r.source = src.get((r.frame, r.track), "?")
    if args.view == "frames":
        zoom = tuple(int(v) for v in args.zoom.split(",")) if args.zoom else None
        render_frames(
            rows,
            parse_frames(args.frames),
            zoom,
            args.proposals,
            args.min_score,
            args.tag,
            args.auto_zoom,
            args.grid,
        )  # type: ignore[arg-type]
    elif args.view == "sheet":
        if args.track is None:
            raise SystemExit("sheet needs --track")
        render_sheet(rows, args.track, args.step, args.cols, args.cell)
    else:
        per_frame = Counter(r.frame for r in rows)
        counts = [per_frame.get(f, 0) for f in range(795)]
        changes = [f for f in range(1, 795) if counts[f] != counts[f - 1]]
        print(f"{len(changes)} frames where the count changes:")
        print(",".join(str(f) for f in changes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
