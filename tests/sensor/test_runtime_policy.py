"""Which runtime runs a network, and OpenVINO giving the boxes ONNX Runtime gives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgesight.core.config import DeviceConfig, parse_config
from edgesight.core.detections import Detections
from edgesight.core.errors import ConfigError, ModelLoadError
from edgesight.core.package import read_package, write_package
from edgesight.sensor import openvino_runtime
from edgesight.sensor.isp import Isp
from edgesight.sensor.openvino_runtime import OpenVinoNetwork
from edgesight.sensor.pipeline import Sensor, SensorSettings
from edgesight.sensor.runtime import OnnxNetwork
from edgesight.sensor.runtime_policy import (
    BF16_MODEL,
    bfloat16_wins,
    choose_engine,
    cpu_flags,
    cpu_vendor,
    default_model,
    open_network,
    openvino_precision,
    runtime_name,
)
from edgesight.sensor.sources import Frame, open_source
from edgesight.sensor.zoo import DEFAULT_MODEL, configured_model, load_model
from modelkit import with_input_size

AMX = frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile"})
VNNI = frozenset({"avx2", "avx512f", "avx512_vnni"})
VNNI_BF16 = VNNI | {"avx512_bf16"}  # AMD Zen 4 and later; Intel Cooper Lake
AVX2 = frozenset({"avx2", "fma"})
INTEL, AMD = "GenuineIntel", "AuthenticAMD"


@pytest.mark.parametrize(
    ("requested", "precision", "flags", "vendor", "openvino", "engine"),
    [
        ("auto", "fp32", AMX, INTEL, True, "openvino"),  # bfloat16 on the matrix unit
        ("auto", "int8", AMX, INTEL, True, "onnxruntime"),  # OpenVINO was no faster on int8
        ("auto", "fp32", VNNI_BF16, AMD, True, "openvino"),  # Zen 4: bfloat16 as fast as int8, better boxes
        ("auto", "int8", VNNI_BF16, AMD, True, "onnxruntime"),
        ("auto", "fp32", VNNI_BF16, INTEL, True, "onnxruntime"),  # AVX-512 BF16 without AMX: slower
        ("auto", "fp32", VNNI, AMD, True, "onnxruntime"),  # no bfloat16 unit: int8 on ORT wins
        ("auto", "fp32", VNNI, INTEL, True, "onnxruntime"),
        ("auto", "fp32", AVX2, AMD, True, "onnxruntime"),
        ("auto", "fp32", AMX, INTEL, False, "onnxruntime"),  # OpenVINO not installed
        ("auto", "fp32", VNNI_BF16, AMD, False, "onnxruntime"),
        ("onnxruntime", "fp32", AMX, INTEL, True, "onnxruntime"),  # forced
        ("openvino", "int8", AVX2, AMD, True, "openvino"),  # forced
    ],
)
def test_the_engine_follows_the_cpu_and_the_config(
    requested: str, precision: str, flags: frozenset[str], vendor: str, openvino: bool, engine: str
) -> None:
    chosen = choose_engine(requested, precision, flags=flags, vendor=vendor, openvino=openvino)  # type: ignore[arg-type]
    assert chosen == engine


def test_this_machines_cpu_is_read_from_proc_cpuinfo() -> None:
    fields: dict[str, str] = {}
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())  # the first CPU's
    assert cpu_vendor() == fields.get("vendor_id", "")  # x86; ARM's cpuinfo has no vendor_id
    flags = frozenset(fields.get("flags", fields.get("Features", "")).split())
    assert cpu_flags() == flags and len(flags) > 10
    assert bfloat16_wins(cpu_flags(), cpu_vendor()) == (default_model("auto", openvino=True) == BF16_MODEL)


def test_the_default_model_is_the_float_twin_only_where_float_runs_in_bfloat16() -> None:
    assert default_model("auto", flags=AMX, vendor=INTEL, openvino=True) == BF16_MODEL
    assert default_model("openvino", flags=AMX, vendor=INTEL, openvino=True) == BF16_MODEL
    assert default_model("auto", flags=VNNI_BF16, vendor=AMD, openvino=True) == BF16_MODEL
    for runtime, flags, vendor, openvino in [("auto", VNNI, AMD, True), ("auto", VNNI_BF16, INTEL, True),
                                             ("auto", AMX, INTEL, False), ("onnxruntime", AMX, INTEL, True),
                                             ("openvino", AVX2, AMD, True)]:  # fmt: skip
        model = default_model(runtime, flags=flags, vendor=vendor, openvino=openvino)  # type: ignore[arg-type]
        assert model == DEFAULT_MODEL
    # The twin is the same network before quantization: same input, labels and decoder.
    twin, int8 = load_model(BF16_MODEL), load_model(DEFAULT_MODEL)
    assert (twin.intrinsics.precision, int8.intrinsics.precision) == ("fp32", "int8")
    assert twin.intrinsics.input == int8.intrinsics.input and twin.labels == int8.labels
    assert twin.intrinsics.decoder == int8.intrinsics.decoder


def test_a_config_that_names_a_model_runs_that_model() -> None:
    named = DeviceConfig.model_validate({"sensor": {"model": "nanodet-coco-int8", "runtime": "openvino"}})
    assert configured_model(named.sensor) == "nanodet-coco-int8"
    assert configured_model(DeviceConfig().sensor) == default_model("auto")
    assert configured_model(parse_config({"sensor": {"runtime": "onnxruntime"}}).sensor) == DEFAULT_MODEL


def test_an_unknown_runtime_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match=r"sensor\.runtime.*'auto', 'onnxruntime' or 'openvino'.*tensorrt"):
        parse_config({"sensor": {"runtime": "tensorrt"}})


def test_openvino_not_installed_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openvino_runtime, "openvino_installed", lambda: False)
    with pytest.raises(ModelLoadError, match=r"needs the openvino package \(pip install 'edgesight\[openvino\]'\)"):
        OpenVinoNetwork(load_model(BF16_MODEL))


def test_openvino_checks_the_intrinsics_as_onnx_runtime_does(tmp_path: Path) -> None:
    fp32 = load_model(BF16_MODEL)
    with pytest.raises(ModelLoadError, match=r"expects tensor shape \[1, 3, 320, 320\].*\[1, 3, 416, 416\]"):
        OpenVinoNetwork(with_input_size(fp32, tmp_path, 320))
    junk = write_package(tmp_path / "junk.espkg", model_id="junk", version="1", network=b"\x00junk",
                         labels=fp32.labels, intrinsics=fp32.intrinsics)  # fmt: skip
    with pytest.raises(ModelLoadError, match="does not compile in OpenVINO"):
        OpenVinoNetwork(read_package(junk))


FRAMES = 40


@pytest.fixture(scope="module")
def frame_400(vtest_path: Path) -> Frame:
    with open_source(str(vtest_path)) as source:
        return next(f for f in source if f.index == 400)


def _run(vtest_path: Path, runtime: str) -> list[Detections]:
    with open_source(str(vtest_path)) as source:
        sensor = Sensor(source, load_model(BF16_MODEL), SensorSettings(runtime=runtime))  # type: ignore[arg-type]
        return [r.detections for r in sensor.run(max_frames=FRAMES)]


def _best_iou(box: np.ndarray, boxes: np.ndarray) -> float:
    x1, y1 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    x2, y2 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return float(np.max(inter / (area - inter))) if len(boxes) else 0.0


def test_openvino_in_float32_computes_what_onnx_runtime_computes(frame_400: Frame) -> None:
    package = load_model(BF16_MODEL)
    tensor = Isp(package.intrinsics.input).process(frame_400)[0].tensor
    reference = OnnxNetwork(package).run(tensor)
    outputs = OpenVinoNetwork(package, precision="f32").run(tensor)
    assert [o.shape for o in outputs] == [r.shape for r in reference]
    for o, r in zip(outputs, reference, strict=True):
        np.testing.assert_allclose(o, r, atol=2e-3)


def test_openvino_in_bfloat16_finds_the_people_onnx_runtime_finds(vtest_path: Path) -> None:
    """The sensor on 40 frames of the walkway, the float network on each runtime: every person
    ONNX Runtime finds with confidence, OpenVINO in bfloat16 finds in the same place (bfloat16
    moves a box by a pixel or two and a score by a few hundredths)."""
    if openvino_precision() != "bf16":
        pytest.skip("this CPU has no bfloat16 arithmetic (AMX or AVX-512 BF16)")
    reference, ours = _run(vtest_path, "onnxruntime"), _run(vtest_path, "openvino")
    assert len(ours) == len(reference) == FRAMES
    confident = 0
    for ref, got in zip(reference, ours, strict=True):
        for box in ref.xyxy[ref.confidence >= 0.6]:
            assert _best_iou(box, got.xyxy) > 0.85
            confident += 1
        assert abs(len(got) - len(ref)) <= 2
    assert confident >= 2 * FRAMES  # the walkway has people in every frame


def test_open_network_follows_the_choice() -> None:
    int8 = open_network(load_model(DEFAULT_MODEL), "auto")
    assert int8.runtime == "onnxruntime"
    fp32 = open_network(load_model(BF16_MODEL), "openvino")
    assert fp32.runtime == f"openvino {openvino_precision()}"
    assert open_network(load_model(BF16_MODEL), "onnxruntime").runtime == "onnxruntime"
    # runtime_name says what open_network would load, without loading it.
    for name in (DEFAULT_MODEL, BF16_MODEL):
        for runtime in ("auto", "onnxruntime", "openvino"):
            package = load_model(name)
            assert runtime_name(package, runtime) == open_network(package, runtime).runtime  # type: ignore[arg-type]


_LOAD_ON_OPENVINO = """
from edgesight.sensor.openvino_runtime import OpenVinoNetwork
from edgesight.sensor.zoo import load_model
OpenVinoNetwork(load_model("nanodet-plus-m-416-fp32"))
import openvino_telemetry
print("consent", openvino_telemetry.Telemetry().consent)
"""


@pytest.mark.parametrize(("recorded", "kept"), [(None, "0"), ("1", "1"), ("0", "0")])
def test_openvino_telemetry_is_declined_unless_the_user_chose(tmp_path: Path, recorded: str | None, kept: str) -> None:
    """Importing openvino reports the import to Intel unless declined: the sensor records the
    documented "no" before it imports OpenVINO, and leaves a choice the user made alone."""
    choice = tmp_path / "intel" / "openvino_telemetry"
    if recorded is not None:
        choice.parent.mkdir()
        choice.write_text(recorded)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TF_BUILD", "JENKINS_URL")}
    result = subprocess.run([sys.executable, "-c", _LOAD_ON_OPENVINO], env={**env, "HOME": str(tmp_path)},
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert choice.read_text() == kept
    if recorded is None:
        assert "consent False" in result.stdout  # nothing was or will be sent from this process
