"""Issue 11 item 3: the memory report, on graphs whose numbers are worked out by hand and on the zoo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgesight.core.package import ModelPackage
from edgesight.factory.latency import median_latency_ms
from edgesight.factory.memory_report import GraphError, analyse, parse_size

EDGESIGHT = [sys.executable, "-c", "from edgesight.cli import main; main()"]


def float_graph() -> onnx.ModelProto:
    """x[N,3,8,8] -> Conv 3x3 (4 filters, pad 1) -> Relu -> Flatten -> Gemm (10 outputs)."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.random((4, 3, 3, 3), dtype=np.float32), "w"),  # 108 floats = 432 B
        numpy_helper.from_array(np.zeros(4, np.float32), "b"),  # 16 B
        numpy_helper.from_array(rng.random((10, 256), dtype=np.float32), "w2"),  # 10,240 B
        numpy_helper.from_array(np.zeros(10, np.float32), "b2"),  # 40 B
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["a"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("Relu", ["a"], ["r"], name="relu"),
        helper.make_node("Flatten", ["r"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "w2", "b2"], ["y"], transB=1, name="gemm"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])
    graph = helper.make_graph(nodes, "float", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def qdq_graph() -> onnx.ModelProto:
    """x -> Q -> DQ -> Conv(DQ(int8 weights)) -> Q -> DQ -> y, all [1,C,8,8]: an int8 conv in QDQ form."""
    rng = np.random.default_rng(1)
    inits = [
        numpy_helper.from_array(rng.integers(-127, 127, (4, 3, 3, 3), dtype=np.int8), "wq"),  # 108 B
        numpy_helper.from_array(np.array(0.02, np.float32), "ws"),
        numpy_helper.from_array(np.array(0, np.int8), "wz"),
        numpy_helper.from_array(np.array(0.01, np.float32), "xs"),
        numpy_helper.from_array(np.array(128, np.uint8), "xz"),
        numpy_helper.from_array(np.array(0.05, np.float32), "ys"),
        numpy_helper.from_array(np.array(128, np.uint8), "yz"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
        helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wf"]),
        helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xf"]),
        helper.make_node("Conv", ["xf", "wf"], ["c"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("QuantizeLinear", ["c", "ys", "yz"], ["cq"]),
        helper.make_node("DequantizeLinear", ["cq", "ys", "yz"], ["y"], name="out"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])
    graph = helper.make_graph(nodes, "qdq", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_float_graph_by_hand() -> None:
    cost = analyse(float_graph())
    assert [(g.dtype, g.tensors, g.bytes) for g in cost.weights] == [("float32", 4, 432 + 16 + 10_240 + 40)]
    # Live bytes per node: conv x(768)+a(1024); relu a+r (2048); flatten r+f (2048); gemm f+y (1064).
    assert cost.peak_activation_bytes == 2048 and cost.peak_node == "Relu 'relu'"
    # Conv: 4*8*8 outputs x 3*3*3 MACs each = 6912; Gemm: 1 x 10 x 256 = 2560.
    assert cost.macs == 6912 + 2560
    assert cost.total_bytes == 10_728 + 2048
    assert cost.assumptions == ("input 'x' dimension 0 ('N') assumed 1",)


def test_dynamic_batch_given_explicitly_scales_activations() -> None:
    cost = analyse(float_graph(), {"x": (4, 3, 8, 8)})
    assert cost.peak_activation_bytes == 4 * 2048 and cost.macs == 4 * (6912 + 2560)
    assert cost.assumptions == ()


def test_qdq_graph_is_counted_as_int8() -> None:
    cost = analyse(qdq_graph())
    assert {g.dtype: g.bytes for g in cost.weights} == {"int8": 108 + 1, "float32": 12, "uint8": 2}
    # x (float input, 768) is read by Q only at node 0; xq/xf share 192 B (uint8) until the conv;
    # c/cq share 256 B (uint8) from the conv to the last DQ, whose float output y (1024) is the
    # graph's: node 0 holds 768 + 192 = 960, node 5 holds 256 + 1024 = 1280, the peak.
    assert cost.peak_activation_bytes == 1280 and cost.peak_node == "DequantizeLinear 'out'"
    assert cost.macs == 6912


def test_hand_graphs_run_in_onnx_runtime() -> None:
    for model in (float_graph(), qdq_graph()):
        assert median_latency_ms(model.SerializeToString(), runs=2, warmup=1) > 0


def test_zoo_models(nanodet_int8: ModelPackage, nanodet_fp32: ModelPackage, ssdlite: ModelPackage) -> None:
    costs = {p.id: analyse(onnx.load_from_string(p.network)) for p in (nanodet_int8, nanodet_fp32, ssdlite)}
    for package in (nanodet_fp32, ssdlite):  # float networks: weights are the initializers' arrays
        arrays = [numpy_helper.to_array(t) for t in onnx.load_from_string(package.network).graph.initializer]
        assert costs[package.id].weight_bytes == sum(a.nbytes for a in arrays)
    fp32, int8 = costs["nanodet-coco-fp32"], costs["nanodet-coco-int8"]
    assert fp32.macs == int8.macs > 1e9  # the same convolutions, 2.09 GMAC at 416x416
    assert int8.weight_bytes < fp32.weight_bytes / 3  # int8 convolution weights, float biases/scales
    assert int8.peak_activation_bytes < fp32.peak_activation_bytes
    # SSDLite at 300x300: expanded_conv_1's 96-channel 150x150 float expansion in and out at once.
    assert costs["ssdlite-person"].peak_activation_bytes == 2 * 96 * 150 * 150 * 4
    assert all(cost.assumptions == () for cost in costs.values())


def test_budget_sizes() -> None:
    assert parse_size("8MB") == 8_000_000 and parse_size("8MiB") == 8 << 20 and parse_size("1.5 KB") == 1500
    with pytest.raises(GraphError, match=r"budget must be a size like 8MB.*got '8 parsecs'"):
        parse_size("8 parsecs")


def test_report_cli_json(tmp_path: Path) -> None:
    onnx.save(float_graph(), tmp_path / "tiny.onnx")
    result = subprocess.run([*EDGESIGHT, "model", "report", str(tmp_path / "tiny.onnx"), "--json", "--runs", "3",
                             "--budget", "12KB"], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["model"] == "tiny.onnx" and report["weight_bytes"] == 10_728
    assert report["peak_activation_bytes"] == 2048 and report["total_bytes"] == 12_776
    assert report["budget_bytes"] == 12_000 and report["fits"] is False
    assert report["macs"] == 9472 and report["latency_ms"] > 0 and report["latency_runs"] == 3


def test_report_cli_table_for_a_zoo_package() -> None:
    result = subprocess.run([*EDGESIGHT, "model", "report", "nanodet-coco-int8", "--runs", "1"],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "memory report: nanodet-coco-int8@1.0.0" in out and "int8" in out
    assert "of 8.00 MB budget" in out and "MACs" in out and "2.09 G" in out and "latency" in out
