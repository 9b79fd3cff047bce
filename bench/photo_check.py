"""Whole-image photos at a model's defaults: people found on photos with one person, none on photos
without. The photos ship offline with scikit-image and matplotlib (no download):

* one person each: ``astronaut`` (Eileen Collins, colour), ``camera`` (the cameraman, grey),
  ``grace_hopper.jpg`` (matplotlib's sample data);
* no person: ``coffee``, ``chelsea`` (a cat), ``rocket`` (a launch pad), ``hubble_deep_field``.

    python bench/photo_check.py --models nanodet-plus-m-416-int8 nanodet-coco-int8
    python bench/photo_check.py --runtime onnxruntime   # the default model on ONNX Runtime

Six photos are a sanity check across scenes, not an AP figure.
"""

from __future__ import annotations

import argparse

import cv2
import matplotlib.cbook
import numpy as np
import skimage.data

from _common import table
from edgesight.sensor.pipeline import Sensor, SensorSettings
from edgesight.sensor.runtime_policy import default_model
from edgesight.sensor.sources import Frame, ImageFolderSource
from edgesight.sensor.zoo import load_model

WITH_PERSON = ("astronaut", "camera", "grace_hopper")
WITHOUT_PERSON = ("coffee", "chelsea", "rocket", "hubble_deep_field")


def photo(name: str) -> np.ndarray:
    """The named photo as a BGR uint8 array."""
    if name == "grace_hopper":
        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
            return cv2.imdecode(np.frombuffer(f.read(), np.uint8), cv2.IMREAD_COLOR)
    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=2)
    return np.ascontiguousarray(image[:, :, ::-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=None, help="default: this machine's for --runtime")
    parser.add_argument("--runtime", choices=["auto", "onnxruntime", "openvino"], default="auto")
    args = parser.parse_args()
    rows = []
    for model in args.models or [default_model(args.runtime)]:
        package = load_model(model)
        # The sensor's own ISP and detector (defaults: thresholds, auto tiling) on one photo at a time.
        sensor = Sensor(ImageFolderSource("."), package, SensorSettings(sessions=1, runtime=args.runtime))
        cells = [f"{model} ({sensor.detector.network.runtime})"]
        for name in (*WITH_PERSON, *WITHOUT_PERSON):
            passes = sensor.isp.process(Frame.from_bgr(0, 0.0, photo(name)))
            detections, _ = sensor.detector.detect(passes, sensor.isp.roi)
            people = detections.confidence[detections.class_name == "person"]
            cells.append(f"{len(people)} ({people.max():.2f})" if len(people) else "0")
        rows.append(cells)
    print(table(["model", *[f"{n} (1 person)" for n in WITH_PERSON], *WITHOUT_PERSON], rows))


if __name__ == "__main__":
    main()
