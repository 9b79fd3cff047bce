"""Export frames of data/vtest.avi and the reference people boxes as a YOLO dataset.

The worked example of README.md ("adapt the person detector to one camera") trains on the first
half of the video and validates on the second:

    python tools/export_vtest_dataset.py --out runs/vtest-yolo [--step 2]

writes ``runs/vtest-yolo/{train,val}/{data.yaml,images/,labels/}``. Only scored boxes
(``conf == 1``) of tests/data/vtest_people.csv are exported; "don't care" boxes are left out.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent


def read_boxes(csv_path: Path) -> dict[int, list[tuple[float, float, float, float]]]:
    """Scored ``(x, y, w, h)`` boxes per frame index."""
    boxes: dict[int, list[tuple[float, float, float, float]]] = defaultdict(list)
    with csv_path.open() as f:
        for row in csv.DictReader(f):
            if row["conf"] == "1":
                boxes[int(row["frame"])].append((float(row["x"]), float(row["y"]), float(row["w"]), float(row["h"])))
    return boxes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=ROOT / "data" / "vtest.avi")
    parser.add_argument("--labels", type=Path, default=ROOT / "tests" / "data" / "vtest_people.csv")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--step", type=int, default=2, help="keep every STEP-th frame (neighbours are near-duplicates)")
    parser.add_argument("--limit", type=int, default=0, help="at most this many frames per split (0: all)")
    args = parser.parse_args()

    boxes = read_boxes(args.labels)
    capture = cv2.VideoCapture(str(args.video))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    half = total // 2
    written = {"train": 0, "val": 0}
    for split in written:
        for sub in ("images", "labels"):
            (args.out / split / sub).mkdir(parents=True, exist_ok=True)
        (args.out / split / "data.yaml").write_text("names:\n  - person\n")
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        split = "train" if index < half else "val"
        start = 0 if split == "train" else half
        if (index - start) % args.step == 0 and not (args.limit and written[split] >= args.limit):
            height, width = frame.shape[:2]
            name = f"vtest_{index:04d}"
            cv2.imwrite(str(args.out / split / "images" / f"{name}.png"), frame)
            lines = []
            for x, y, w, h in boxes.get(index, []):
                lines.append(f"0 {(x + w / 2) / width:.6f} {(y + h / 2) / height:.6f} {w / width:.6f} {h / height:.6f}")
            (args.out / split / "labels" / f"{name}.txt").write_text("".join(f"{line}\n" for line in lines))
            written[split] += 1
        index += 1
    print(f"{args.out}: {written['train']} training frames (0-{half - 1}), {written['val']} validation frames ({half}-{total - 1})")


if __name__ == "__main__":
    main()
