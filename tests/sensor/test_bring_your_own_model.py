"""Users' own networks: an Ultralytics-layout YOLO export and a classifier, packaged and run.

The networks are tiny ONNX graphs built here whose outputs are known constants, so the test
checks the whole path (package -> runtime -> decoder -> NMS -> source-frame boxes) exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgesight.core.intrinsics import Intrinsics
from edgesight.core.package import read_package, write_package
from edgesight.sensor.detector import Detector
from edgesight.sensor.isp import Isp
from edgesight.sensor.sources import Frame


def constant_network(output: np.ndarray, size: int = 64) -> bytes:
    """A graph taking a (1, 3, size, size) image and returning ``output`` (plus 0 * mean(image))."""
    image = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])
    result = helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["const", "nothing"], ["output0"]),
    ]
    inits = [numpy_helper.from_array(output.astype(np.float32), "const"),
             numpy_helper.from_array(np.zeros((), np.float32), "zero")]  # fmt: skip
    graph = helper.make_graph(nodes, "constant", [image], [result], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model.SerializeToString()


def test_yolo_export_boxes_land_on_the_source_frame(tmp_path: Path) -> None:
    # Two overlapping "person" boxes (NMS keeps the better) and one "car", in 64x64 input pixels.
    out = np.zeros((1, 4 + 2, 8), np.float32)
    out[0, :, 0] = [32, 32, 16, 16, 0.9, 0.0]  # person at the centre
    out[0, :, 1] = [33, 32, 16, 16, 0.8, 0.0]  # its duplicate
    out[0, :, 2] = [10, 40, 8, 8, 0.0, 0.7]  # car
    intrinsics = Intrinsics.model_validate({
        "task": "detection",
        "input": {"width": 64, "height": 64, "resize": "stretch", "color": "RGB", "std": [255, 255, 255]},
        "decoder": {"name": "yolo"},
    })  # fmt: skip
    path = write_package(tmp_path / "yolo.espkg", model_id="my-yolo", version="1", network=constant_network(out),
                         labels=["person", "car"], intrinsics=intrinsics)  # fmt: skip
    package = read_package(path)
    detector = Detector(package)
    isp = Isp(intrinsics.input)
    frame = Frame.from_bgr(0, 0.0, np.zeros((480, 640, 3), np.uint8))  # stretch: x * 10, y * 7.5
    detections, timings = detector.detect(isp.process(frame), isp.roi)
    assert detections.class_name.tolist() == ["person", "car"]
    np.testing.assert_allclose(detections.xyxy[0], [240, 180, 400, 300], atol=1e-3)
    np.testing.assert_allclose(detections.xyxy[1], [60, 270, 140, 330], atol=1e-3)
    assert timings.dnn_ms > 0


def test_classifier_reports_top_k(tmp_path: Path) -> None:
    logits = np.array([[0.1, 3.0, 1.0, -2.0]], np.float32)
    intrinsics = Intrinsics.model_validate({
        "task": "classification",
        "input": {"width": 64, "height": 64, "resize": "stretch"},
        "decoder": {"name": "classification", "params": {"softmax": True, "top_k": 2}},
        "thresholds": {"score": 0.05},
    })  # fmt: skip
    path = write_package(tmp_path / "cls.espkg", model_id="my-cls", version="1", network=constant_network(logits),
                         labels=["ok", "scratch", "dent", "crack"], intrinsics=intrinsics)  # fmt: skip
    detector = Detector(read_package(path))
    isp = Isp(intrinsics.input)
    detections, _ = detector.detect(
        isp.process(Frame.from_bgr(0, 0.0, np.zeros((48, 64, 3), np.uint8))), isp.roi
    )
    assert detections.class_name.tolist() == ["scratch", "dent"]
    expected = np.exp(logits[0]) / np.exp(logits[0]).sum()
    np.testing.assert_allclose(detections.confidence, expected[[1, 2]], rtol=1e-5)
    np.testing.assert_allclose(detections.xyxy[0], [0, 0, 64, 48], atol=1e-3)  # the whole frame
