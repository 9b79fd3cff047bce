"""Shared helpers of the annotation tools: proposals I/O, a decoded-frame cache, MOT rows, drawing."""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PROPOSALS = HERE / "proposals"
VIDEO = REPO / "data" / "vtest.avi"
REFERENCE = REPO / "tests" / "data" / "vtest_people.csv"
FRAME_W, FRAME_H = 768, 576


def read_proposals(path: Path) -> dict[int, npt.NDArray[np.float64]]:
    """Proposals by frame: ``(n, 5)`` arrays of ``x1, y1, x2, y2, score``."""
    out: dict[int, list[list[float]]] = {}
    with gzip.open(path, "rt", newline="") as fh:
        for row in csv.DictReader(fh):
            out.setdefault(int(row["frame"]), []).append(
                [float(row["x1"]), float(row["y1"]), float(row["x2"]), float(row["y2"]), float(row["score"])]
            )
    return {f: np.asarray(v, dtype=np.float64) for f, v in out.items()}


@dataclass
class Row:
    """One reference box (pixels, ``xyxy``) with its track id, flags and provenance."""

    frame: int
    track: int
    box: tuple[float, float, float, float]
    visibility: float = 1.0
    conf: int = 1
    source: str = "auto"  # auto | interp | manual

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


def write_mot(rows: list[Row], path: Path) -> None:
    """Write ``frame,id,x,y,w,h,conf,class,visibility`` (class 1 = pedestrian), sorted by frame and id."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["frame", "id", "x", "y", "w", "h", "conf", "class", "visibility"])
        for r in sorted(rows, key=lambda r: (r.frame, r.track)):
            x1, y1, x2, y2 = r.box
            w.writerow(
                [
                    r.frame,
                    r.track,
                    f"{x1:.1f}",
                    f"{y1:.1f}",
                    f"{x2 - x1:.1f}",
                    f"{y2 - y1:.1f}",
                    r.conf,
                    1,
                    f"{r.visibility:.2f}",
                ]
            )


def read_mot_rows(path: Path) -> list[Row]:
    rows = []
    with open(path, newline="") as fh:
        for rec in csv.DictReader(fh):
            x, y, w, h = (float(rec[k]) for k in ("x", "y", "w", "h"))
            rows.append(
                Row(
                    int(rec["frame"]),
                    int(rec["id"]),
                    (x, y, x + w, y + h),
                    float(rec["visibility"]),
                    int(float(rec["conf"])),
                )
            )
    return rows


def frames_cache(video: Path = VIDEO, cache: Path = Path("/tmp/annot/frames.npy")) -> npt.NDArray[np.uint8]:
    """All decoded frames as one ``(n, h, w, 3)`` BGR array, cached on disk (about 1 GB for vtest)."""
    if cache.exists():
        return np.load(cache, mmap_mode="r")
    cap = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    arr = np.stack(frames)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, arr)
    return arr


_PALETTE = [
    (0, 255, 255),
    (255, 0, 255),
    (0, 255, 0),
    (255, 128, 0),
    (0, 128, 255),
    (255, 255, 0),
    (128, 0, 255),
    (0, 0, 255),
    (255, 0, 0),
    (128, 255, 128),
]


def colour(track: int) -> tuple[int, int, int]:
    return _PALETTE[track % len(_PALETTE)]


def draw_box(
    img: npt.NDArray[np.uint8],
    box: tuple[float, float, float, float],
    label: str,
    col: tuple[int, int, int],
    scale: float = 1.0,
    thickness: int = 1,
) -> None:
    x1, y1, x2, y2 = (round(v * scale) for v in box)
    cv2.rectangle(img, (x1, y1), (x2, y2), col, thickness)
    font = 0.4 if scale <= 1 else 0.5
    at = (x1 + 2, max(y1 - 3, 10))
    cv2.putText(img, label, at, cv2.FONT_HERSHEY_SIMPLEX, font, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, label, at, cv2.FONT_HERSHEY_SIMPLEX, font, col, 1, cv2.LINE_AA)
