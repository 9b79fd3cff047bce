"""How well an appearance vector tells a person from the people around them, on vtest.avi.

    python bench/appearance_probe.py [--model nanodet-plus-m-416-fp32] [--every 2]

The tracker weighs appearance where people stand close: a track lost for a moment must pick its
person out of the neighbours. So for every reference person at frame ``t`` and a gap ``g``, the
probe takes the people standing within 1.5 box heights of them at ``t - g`` (when the person is
among them and has at least one neighbour) and asks which is most similar: **top-1** is how often
that is the person. It also prints the ROC AUC of same-person against neighbour similarities and
the share of neighbours that pass a threshold keeping 95 % of same-person pairs (false matches).

Vectors compared, all on the reference's boxes (not the detector's, so that only the vector
differs):

* ``colour``: the sensor's torso colour histograms (:mod:`edgesight.sensor.appearance`), what the
  default tracker uses;
* ``net:<tensor>``: the detector's own feature map ``<tensor>`` (an intermediate output of the
  model's ONNX graph), mean-pooled over the upper and the lower half of the box's central column,
  centred over all boxes and L2-normalised: the "embedding from features the sensor already
  computes" that issue 10 suggests. The defaults are NanoDet-Plus-m's stem, backbone stages, PAN
  outputs and a head tower (strides 2 to 16).

Frames are read with OpenCV and stretched to the network's input as the sensor's ISP does for
this model. Results: BENCHMARKS.md, tracking section, sixth round.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort

from _common import table
from edgesight.sensor.appearance import torso_histograms
from edgesight.sensor.zoo import load_model
from evaluation import read_mot

ROOT = Path(__file__).resolve().parent.parent
# NanoDet-Plus-m's feature maps by ONNX tensor name: stem (stride 2), backbone stages 1-3 (strides
# 4, 8, 16), the PAN's stride-8 and stride-16 outputs, the stride-8 head tower.
NANODET_PLUS_TENSORS = {"1": "stem s2", "6": "stage 1 s4", "37": "stage 2 s8", "96": "stage 3 s16",
                        "164": "PAN s8", "144": "PAN s16", "236": "head s8"}  # fmt: skip
GAPS = (2, 10, 30)  # frames: 0.2, 1 and 3 s at vtest's 10 fps
NEIGHBOUR_RADIUS = 1.5  # box heights between centres
PARTS = ((0.15, 0.5), (0.5, 0.85))  # upper and lower body, fractions of the box height

Key = tuple[int, int]  # (frame, person id)


def feature_session(model: str, tensors: Iterable[str]) -> tuple[ort.InferenceSession, Callable[[np.ndarray], np.ndarray]]:
    """An ONNX Runtime session of ``model`` that also outputs ``tensors``, and its pre-processing."""
    package = load_model(model)
    graph = onnx.load_from_string(package.network)
    shapes = {v.name: v for v in onnx.shape_inference.infer_shapes(graph).graph.value_info}
    for name in tensors:
        if name not in shapes:
            raise SystemExit(f"{model} has no tensor {name!r} with a known shape")
        graph.graph.output.append(shapes[name])
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    spec = package.intrinsics.input
    mean = np.array(spec.mean, np.float32).reshape(3, 1, 1)
    std = np.array(spec.std, np.float32).reshape(3, 1, 1)

    def tensor(image_bgr: np.ndarray) -> np.ndarray:
        resized = cv2.resize(image_bgr, (spec.width, spec.height), interpolation=cv2.INTER_LINEAR)
        return ((resized.astype(np.float32).transpose(2, 0, 1) - mean) / std)[None]

    return session, tensor


def pooled(feature_map: np.ndarray, box: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """Mean of ``feature_map`` (C, h, w) over the upper and lower body of ``box`` (frame pixels)."""
    channels, height, width = feature_map.shape
    sx, sy = width / frame_size[0], height / frame_size[1]
    x0, y0, x1, y1 = box
    cx0 = int(np.clip(np.floor((x0 + 0.2 * (x1 - x0)) * sx), 0, width - 1))
    cx1 = int(np.clip(np.ceil((x1 - 0.2 * (x1 - x0)) * sx), cx0 + 1, width))
    parts = []
    for top, bottom in PARTS:
        cy0 = int(np.clip(np.floor((y0 + top * (y1 - y0)) * sy), 0, height - 1))
        cy1 = int(np.clip(np.ceil((y0 + bottom * (y1 - y0)) * sy), cy0 + 1, height))
        parts.append(feature_map[:, cy0:cy1, cx0:cx1].reshape(channels, -1).mean(axis=1))
    return np.concatenate(parts)


def unit_rows(vectors: dict[Key, np.ndarray], centre: bool) -> dict[Key, np.ndarray]:
    """The vectors, centred over all of them if asked, as unit vectors."""
    keys = list(vectors)
    matrix = np.stack([vectors[k] for k in keys]).astype(np.float64)
    if centre:
        matrix -= matrix.mean(axis=0)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True) + 1e-12
    return dict(zip(keys, matrix, strict=True))


def score(vectors: dict[Key, np.ndarray], boxes: dict[Key, np.ndarray], gap: int) -> tuple[float, int, float, float]:
    """(top-1, queries, ROC AUC, false matches at 95 % true) over every person and neighbourhood."""
    by_frame: dict[int, dict[int, np.ndarray]] = defaultdict(dict)
    for (frame, person), box in boxes.items():
        by_frame[frame][person] = box
    hits = queries = 0
    same: list[float] = []
    other: list[float] = []
    for frame, people in by_frame.items():
        before = by_frame.get(frame - gap)
        if not before:
            continue
        for person, box in people.items():
            centre, height = (box[:2] + box[2:]) / 2, box[3] - box[1]
            near = [p for p, b in before.items() if np.linalg.norm((b[:2] + b[2:]) / 2 - centre) < NEIGHBOUR_RADIUS * height]
            if person not in near or len(near) < 2:
                continue
            query = vectors[(frame, person)]
            sims = {p: float(query @ vectors[(frame - gap, p)]) for p in near}
            queries += 1
            hits += max(sims, key=lambda p: sims[p]) == person
            same.append(sims[person])
            other.extend(s for p, s in sims.items() if p != person)
    if not queries:
        return float("nan"), 0, float("nan"), float("nan")
    same_a, other_a = np.array(same), np.array(other)
    auc = float((same_a[:, None] > other_a[None, :]).mean())
    false_matches = float((other_a >= np.quantile(same_a, 0.05)).mean())
    return hits / queries, queries, auc, false_matches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nanodet-plus-m-416-fp32", help="zoo model whose features are probed")
    parser.add_argument("--tensors", default=",".join(NANODET_PLUS_TENSORS), help="comma-separated tensor names")
    parser.add_argument("--video", default=str(ROOT / "data" / "vtest.avi"))
    parser.add_argument("--reference", default=str(ROOT / "tests" / "data" / "vtest_people.csv"))
    parser.add_argument("--every", type=int, default=2, help="probe every n-th frame (gaps must be multiples)")
    args = parser.parse_args()
    tensors = [t for t in args.tensors.split(",") if t]
    session, to_tensor = feature_session(args.model, tensors)

    people: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
    for row in read_mot(args.reference):
        x, y, w, h = row.xywh
        people[row.frame].append((row.track_id, np.array([x, y, x + w, y + h])))
    vectors: dict[str, dict[Key, np.ndarray]] = {name: {} for name in ["colour", *tensors]}
    boxes: dict[Key, np.ndarray] = {}
    capture = cv2.VideoCapture(args.video)
    frame = 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        if frame % args.every == 0 and people.get(frame):
            ids, xyxy = zip(*people[frame], strict=True)
            colours = torso_histograms(image, np.stack(xyxy))
            maps = session.run(tensors, {session.get_inputs()[0].name: to_tensor(image)})
            size = (image.shape[1], image.shape[0])
            for i, (person, box) in enumerate(zip(ids, xyxy, strict=True)):
                boxes[(frame, person)] = box
                vectors["colour"][(frame, person)] = colours[i]
                for name, feature_map in zip(tensors, maps, strict=True):
                    vectors[name][(frame, person)] = pooled(feature_map[0], box, size)
        frame += 1
    capture.release()

    rows = []
    for name, found in vectors.items():
        units = unit_rows(found, centre=name != "colour")
        label = "colour histograms (default)" if name == "colour" else f"net:{name} {NANODET_PLUS_TENSORS.get(name, '')}"
        cells = [label]
        for gap in GAPS:
            top1, queries, auc, false_matches = score(units, boxes, gap)
            cells.append(f"{top1:.3f} / {auc:.3f} / {false_matches:.2f} ({queries})")
        rows.append(cells)
    headers = ["vector", *(f"gap {g / 10:.1f} s: top-1 / AUC / false at 95 % (queries)" for g in GAPS)]
    print(table(headers, rows))


if __name__ == "__main__":
    main()
