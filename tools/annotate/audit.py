"""List places where the reference and the detector proposals disagree, to direct the visual review.

* ``unexplained``: a confident proposal (score >= --strong) that matches no reference box (IoU < 0.5)
  - a missed person, or a false positive of the detector to confirm as such;
* ``unsupported``: a reference box that no proposal (score >= --weak) overlaps with IoU >= 0.5
  - a person the detectors cannot see (occluded: fine) or a phantom box to remove.

Runs of consecutive frames are merged, so each line is one thing to look at::

    .venv/bin/python tools/annotate/audit.py --csv tests/data/vtest_people.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from common import PROPOSALS, REFERENCE, read_mot_rows, read_proposals
from linking import iou


def _runs(frames: list[int], max_gap: int = 2) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for f in sorted(frames):
        if out and f - out[-1][1] <= max_gap:
            out[-1] = (out[-1][0], f)
        else:
            out.append((f, f))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=REFERENCE)
    parser.add_argument("--run", default="nanodet-fp32-3x3")
    parser.add_argument("--strong", type=float, default=0.6)
    parser.add_argument("--weak", type=float, default=0.3)
    parser.add_argument("--min-frames", type=int, default=3, help="report runs at least this long")
    args = parser.parse_args(argv)

    rows = read_mot_rows(args.csv)
    props = read_proposals(PROPOSALS / f"{args.run}.csv.gz")
    by_frame: dict[int, list] = {}
    for r in rows:
        by_frame.setdefault(r.frame, []).append(r)

    unsupported: dict[int, list[int]] = {}
    unexplained: list[tuple[int, np.ndarray]] = []
    for f in range(795):
        ref = by_frame.get(f, [])
        p = props.get(f, np.zeros((0, 5)))
        rb = np.array([r.box for r in ref]).reshape(-1, 4)
        m = iou(rb, p[:, :4]) if len(rb) and len(p) else np.zeros((len(rb), len(p)))
        for i, r in enumerate(ref):
            if not (m[i] >= 0.5)[p[:, 4] >= args.weak].any() if len(p) else True:
                unsupported.setdefault(r.track, []).append(f)
        for j in np.flatnonzero(p[:, 4] >= args.strong) if len(p) else []:
            if not len(rb) or m[:, j].max() < 0.5:
                unexplained.append((f, p[j]))

    print("# unsupported reference boxes (track: frame runs)")
    for t, frames in sorted(unsupported.items()):
        runs = [r for r in _runs(frames) if r[1] - r[0] + 1 >= args.min_frames]
        if runs:
            print(f"track {t}: " + ", ".join(f"{a}-{b}" for a, b in runs))
    print("# unexplained confident proposals (frames, box at first frame, best score)")
    groups: list[list[tuple[int, np.ndarray]]] = []
    for f, box in unexplained:
        for g in groups:
            lf, lb = g[-1]
            if 0 < f - lf <= 2 and iou(lb[:4], box[:4])[0, 0] >= 0.3:
                g.append((f, box))
                break
        else:
            groups.append([(f, box)])
    for g in groups:
        if len(g) >= args.min_frames:
            b = g[0][1]
            print(
                f"{g[0][0]}-{g[-1][0]}: box {[round(float(v)) for v in b[:4]]} "
                f"best {max(float(x[1][4]) for x in g):.2f} ({len(g)} frames)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
