"""Classification from image folders on real crops of vtest.avi: people vs empty pavement."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from test_train import read_frames, reference_boxes

from edgesight.core.package import read_package
from edgesight.factory.datasets import load_folders
from edgesight.factory.train_classifier import train_classifier
from edgesight.factory.train_detector import TrainSettings
from edgesight.sensor.detector import Detector
from edgesight.sensor.isp import Isp
from edgesight.sensor.sources import Frame
from edgesight.sensor.zoo import load_model

FRAMES = (0, 100, 200, 300, 500, 700)
SIZE = 96


def _crops(vtest: Path, root: Path) -> dict[int, list[np.ndarray]]:
    """Per frame, person crops (reference boxes) then empty crops (windows touching no person)."""
    reference = reference_boxes()
    out: dict[int, list[np.ndarray]] = {}
    for index, frame in read_frames(vtest, FRAMES).items():
        boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in reference[index]])
        people = [frame[int(y1) : int(y2), int(x1) : int(x2)] for x1, y1, x2, y2 in boxes[:3]]
        empty = []
        for y in range(0, 576 - SIZE, SIZE):
            for x in range(0, 768 - SIZE, SIZE):
                free = (boxes[:, 0] > x + SIZE) | (boxes[:, 2] < x) | (boxes[:, 1] > y + SIZE) | (boxes[:, 3] < y)
                if free.all() and len(empty) < 3:
                    empty.append(frame[y : y + SIZE, x : x + SIZE])
        out[index] = people + empty
        for k, crop in enumerate(people):
            (root / ("val" if index >= 500 else "train") / "person").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / ("val" if index >= 500 else "train") / "person" / f"{index}_{k}.png"), crop)
        for k, crop in enumerate(empty):
            (root / ("val" if index >= 500 else "train") / "empty").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / ("val" if index >= 500 else "train") / "empty" / f"{index}_{k}.png"), crop)
    return out


def test_classifier_from_folders_runs_in_the_sensor(vtest_path: Path, tmp_path: Path) -> None:
    crops = _crops(vtest_path, tmp_path / "data")
    train, val = load_folders(tmp_path / "data" / "train"), load_folders(tmp_path / "data" / "val")
    assert train.classes == ("empty", "person")
    out = tmp_path / "people-or-not.espkg"
    settings = TrainSettings(model_id="people-or-not", input_size=(128, 128), epochs=100, patience=100)
    result = train_classifier(load_model("nanodet-coco-fp32"), train.classes, train.samples, val.samples, settings, out)
    assert max(result.accuracy) >= 0.8, result.accuracy

    package = read_package(out)
    assert package.intrinsics.task.value == "classification" and package.labels == ("empty", "person")
    detector = Detector(package)
    isp = Isp(package.intrinsics.input)
    right = 0
    for k, crop in enumerate(crops[700]):
        det, _ = detector.detect(isp.process(Frame.from_bgr(0, 0.0, np.ascontiguousarray(crop))), isp.roi)
        top = det.class_name[int(np.argmax(det.confidence))]
        right += top == ("person" if k < 3 else "empty")
    assert right >= 5, f"{right} of 6 held-out crops classified right in the sensor"
