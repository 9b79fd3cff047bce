"""Training end to end on real frames of vtest.avi: a tiny run, its package loading in the sensor, resume."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from edgesight.core.package import read_package
from edgesight.factory.datasets import DatasetFormat, load_detection
from edgesight.factory.detection_head import NanoDetHead
from edgesight.factory.evaluate import evaluate_network
from edgesight.factory.nanodet_graph import feature_network, head_weights, tower_weights, with_heads
from edgesight.factory.preprocess import to_tensor
from edgesight.factory.quantize_package import quantize_package
from edgesight.factory.train_detector import TrainResult, TrainSettings, train_detector
from edgesight.sensor.detector import Detector
from edgesight.sensor.isp import Isp
from edgesight.sensor.sources import Frame
from edgesight.sensor.zoo import load_model, zoo_dir

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "tests" / "data" / "vtest_people.csv"
TRAIN_FRAMES, VAL_FRAMES = (0, 40, 80, 120, 160, 200), (500, 600, 700)
BASE = "nanodet-plus-m-416-fp32"


def reference_boxes() -> dict[int, list[tuple[float, float, float, float]]]:
    boxes: dict[int, list[tuple[float, float, float, float]]] = {}
    with REFERENCE.open() as f:
        for row in csv.DictReader(f):
            if row["conf"] == "1":
                boxes.setdefault(int(row["frame"]), []).append(
                    (float(row["x"]), float(row["y"]), float(row["w"]), float(row["h"]))
                )
    return boxes


def read_frames(video: Path, indices: tuple[int, ...]) -> dict[int, np.ndarray]:
    capture = cv2.VideoCapture(str(video))
    wanted, out, index = set(indices), {}, 0
    while len(out) < len(wanted):
        ok, frame = capture.read()
        assert ok, f"vtest.avi ended before frame {max(wanted)}"
        if index in wanted:
            out[index] = frame
        index += 1
    return out


def _yolo(root: Path, frames: dict[int, np.ndarray]) -> Path:
    reference = reference_boxes()
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "data.yaml").write_text("names: [person]\n")
    for index, frame in frames.items():
        h, w = frame.shape[:2]
        cv2.imwrite(str(root / "images" / f"f{index:04d}.png"), frame)
        lines = [f"0 {(x + bw / 2) / w} {(y + bh / 2) / h} {bw / w} {bh / h}\n" for x, y, bw, bh in reference[index]]
        (root / "labels" / f"f{index:04d}.txt").write_text("".join(lines))
    return root


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory, vtest_path: Path) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("vtest")
    frames = read_frames(vtest_path, TRAIN_FRAMES + VAL_FRAMES)
    train = _yolo(root / "train", {i: frames[i] for i in TRAIN_FRAMES})
    val = _yolo(root / "val", {i: frames[i] for i in VAL_FRAMES})
    return train, val


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: (x[:, 2:] - x[:, :2]).prod(-1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None] - inter)


@pytest.fixture(scope="module")
def trained(datasets: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainResult, Path, Path]:
    """A tiny run (6 frames, 3 epochs, 320x256 input, NanoDet-Plus towers trained): about a minute on 2 cores."""
    train, val = load_detection(datasets[0], DatasetFormat.YOLO), load_detection(datasets[1], DatasetFormat.YOLO)
    root = tmp_path_factory.mktemp("trained")
    out = root / "models" / "vtest-people.espkg"
    settings = TrainSettings(model_id="vtest-people", input_size=(320, 256), epochs=3, batch_size=4, patience=10)
    result = train_detector(
        load_model(BASE), train.classes, train.samples, val.samples, settings, root / "work", out
    )
    return result, out, root / "work"


def test_tiny_training_run_gives_a_package_the_sensor_runs(
    trained: tuple[TrainResult, Path, Path], vtest_path: Path
) -> None:
    result, out, work = trained
    assert [r.epoch for r in result.history] == [1, 2, 3]
    assert all(0.0 <= r.accuracy.map50_95 <= r.accuracy.map50 <= 1.0 for r in result.history)
    # Starting from COCO's person head, the adapted model finds people from the first epoch.
    assert result.best.accuracy.map50 > 0.3
    assert sorted(p.name for p in out.parent.iterdir()) == ["vtest-people.espkg"]  # no temp files left
    assert {p.name for p in work.iterdir()} == {"best.pt", "last.pt"}

    package = read_package(out)
    i = package.intrinsics
    assert package.labels == ("person",) and (i.input.width, i.input.height) == (320, 256)
    assert i.precision == "fp32" and i.thresholds.score == result.score_threshold
    assert any(n.startswith("LICENSES/") for n in package.extras)  # the base network's licence travels along

    detector = Detector(package)
    isp = Isp(i.input, tiling=i.tiling)
    frame_index = VAL_FRAMES[-1]
    bgr = read_frames(vtest_path, (frame_index,))[frame_index]
    detections, _ = detector.detect(isp.process(Frame.from_bgr(frame_index, 0.0, bgr)), isp.roi)
    truth = np.array([[x, y, x + w, y + h] for x, y, w, h in reference_boxes()[frame_index]])
    assert len(detections) > 0 and set(detections.class_name.tolist()) == {"person"}
    matched = (_iou(detections.xyxy, truth).max(1) >= 0.5).mean()
    assert matched >= 0.5, f"only {matched:.0%} of the sensor's detections match a reference person"


def test_resume_continues_from_the_last_checkpoint(datasets: tuple[Path, Path], tmp_path: Path) -> None:
    train, val = load_detection(datasets[0], DatasetFormat.YOLO), load_detection(datasets[1], DatasetFormat.YOLO)
    base = load_model(BASE)
    settings = TrainSettings(model_id="m", input_size=(320, 256), epochs=2, batch_size=4)
    args = (base, train.classes, train.samples[:3], val.samples[:2])
    first = train_detector(*args, settings, tmp_path / "work", tmp_path / "m.espkg")
    resumed = train_detector(
        *args, TrainSettings(model_id="m", input_size=(320, 256), epochs=3, batch_size=4), tmp_path / "work",
        tmp_path / "m.espkg", resume=True,
    )
    assert [r.epoch for r in resumed.history] == [1, 2, 3]
    assert resumed.history[:2] == first.history


@pytest.mark.parametrize(
    ("model", "strides", "tower_convs"), [("nanodet-coco-fp32", [8, 16, 32], 1), (BASE, [8, 16, 32, 64], 4)]
)
def test_heads_and_towers_put_back_unchanged_reproduce_the_base_network(
    model: str, strides: list[int], tower_convs: int
) -> None:
    network = zipfile.ZipFile(zoo_dir() / f"{model}.espkg").read("model.onnx")
    name = onnx.load_from_string(network).graph.input[0].name
    towers = tower_weights(network, tower_convs)
    assert all(len(t) == tower_convs for t in towers)
    rebuilt = with_heads(network, head_weights(network), 80, 416, 416, strides, towers)
    x = np.random.default_rng(0).normal(size=(1, 3, 416, 416)).astype(np.float32)
    a = ort.InferenceSession(network).run(None, {name: x})
    b = ort.InferenceSession(rebuilt).run(None, {name: x})
    for left, right in zip(a, b, strict=True):
        np.testing.assert_allclose(left, right, atol=1e-5)


def test_torch_towers_compute_what_the_onnx_network_computes() -> None:
    """The trainable part in torch, on the cut network's features, gives the base network's outputs."""
    network = zipfile.ZipFile(zoo_dir() / f"{BASE}.espkg").read("model.onnx")
    features_net, heads = feature_network(network, 320, 256, tower_convs=4)
    x = np.random.default_rng(1).normal(size=(1, 3, 256, 320)).astype(np.float32)
    features = ort.InferenceSession(features_net).run(None, {"data": x})
    head = NanoDetHead([f.shape[1] for f in features], 80, heads.bins, [h.tower for h in heads.heads], tower_weights(network, 4))
    head.init_from(head_weights(network), list(range(80)))
    with torch.no_grad():
        cls, _ = head([torch.from_numpy(f) for f in features])
    whole = with_heads(network, head_weights(network), 80, 320, 256, [8, 16, 32, 64])
    outputs = ort.InferenceSession(whole).run(None, {"data": x})
    scores = np.concatenate([o[0].reshape(80, -1).T for o in outputs[0::2]])  # chw layout, strides in order
    np.testing.assert_allclose(torch.sigmoid(cls[0]).numpy(), scores, atol=1e-4)


@pytest.mark.parametrize("model", ["nanodet-coco-fp32", BASE])  # letterbox, stretch
def test_preprocessing_matches_the_sensor_isp(vtest_path: Path, model: str) -> None:
    bgr = read_frames(vtest_path, (10,))[10]
    spec = load_model(model).intrinsics.input.model_copy(update={"width": 320, "height": 256})
    ours, _ = to_tensor(bgr, spec)
    (isp_out,) = Isp(spec).process(Frame.from_bgr(10, 0.0, bgr))
    np.testing.assert_allclose(ours, isp_out.tensor, atol=1e-4)


def test_int8_package_stays_close_to_fp32(trained: tuple[TrainResult, Path, Path], datasets: tuple[Path, Path]) -> None:
    _, fp32_path, _ = trained
    fp32 = read_package(fp32_path)
    calibration = load_detection(datasets[0], DatasetFormat.YOLO)
    val = load_detection(datasets[1], DatasetFormat.YOLO)
    out = fp32_path.parent / "vtest-people-int8.espkg"
    int8 = quantize_package(fp32, [s.image for s in calibration.samples], out, model_id="vtest-people-int8")
    assert int8.intrinsics.precision == "int8" and int8.intrinsics.input == fp32.intrinsics.input
    assert int8.labels == fp32.labels
    ops = {n.op_type for n in onnx.load_from_string(int8.network).graph.node}
    assert "QuantizeLinear" in ops
    Detector(int8)  # the sensor accepts it (outputs match the decoder)
    fp32_acc, _ = evaluate_network(fp32.network, fp32.intrinsics, val.samples)
    int8_acc, _ = evaluate_network(int8.network, int8.intrinsics, val.samples)
    assert abs(int8_acc.map50 - fp32_acc.map50) <= 0.05, (fp32_acc, int8_acc)
