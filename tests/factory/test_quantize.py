"""int8 quantization on tiny networks built in the test (no model files needed)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgesight.core.errors import EdgeSightError
from edgesight.factory.quantize import pool_before_activation, quantize_int8

SIZE = 16


def conv_net(with_pool: bool = False) -> bytes:
    """``x (1,3,16,16) -> Conv 3x3 (8) -> LeakyRelu [-> MaxPool 2x2] -> Conv 3x3 (4) -> y``."""
    rng = np.random.default_rng(0)
    w1 = rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32)
    w2 = rng.normal(0, 0.3, (4, 8, 3, 3)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("LeakyRelu", ["c1"], ["a1"], name="act1", alpha=0.1),
    ]
    last, side = "a1", SIZE
    if with_pool:
        nodes.append(
            helper.make_node("MaxPool", ["a1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2])
        )
        last, side = "p1", SIZE // 2
    nodes.append(helper.make_node("Conv", [last, "w2", "b2"], ["y"], name="conv2", pads=[1, 1, 1, 1]))
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, side, side])],
        initializer=[
            numpy_helper.from_array(w1, "w1"),
            numpy_helper.from_array(np.full(8, 0.1, np.float32), "b1"),
            numpy_helper.from_array(w2, "w2"),
            numpy_helper.from_array(np.zeros(4, np.float32), "b2"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def frames(count: int, seed: int) -> list[npt.NDArray[np.float32]]:
    """Smooth synthetic 'images' normalised like an ISP output (roughly -2..2)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(-1.5, 1.5, SIZE, dtype=np.float32)
    out = []
    for _ in range(count):
        base = (
            rng.uniform(-0.5, 0.5) + ramp[None, :] * rng.uniform(-1, 1) + ramp[:, None] * rng.uniform(-1, 1)
        )
        noise = rng.normal(0, 0.2, (1, 3, SIZE, SIZE))
        out.append((base[None, None] + noise).astype(np.float32))
    return out


def run(network: bytes, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    session = ort.InferenceSession(network, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"x": x})[0])


def test_int8_runs_and_approximates_fp32() -> None:
    fp32 = conv_net()
    int8 = quantize_int8(fp32, frames(16, seed=1))
    ops = {n.op_type for n in onnx.load_from_string(int8).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    for x in frames(4, seed=2):  # frames the calibration never saw
        want, got = run(fp32, x), run(int8, x)
        assert got.shape == want.shape
        # 8-bit activations on two layers: about 5 % RMS error of the output's spread.
        rel_rms = float(np.sqrt(np.mean((got - want) ** 2)) / want.std())
        assert rel_rms < 0.1, f"int8 RMS error is {rel_rms:.1%} of the fp32 output's std"
        assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.99


def test_excluded_nodes_stay_float() -> None:
    int8 = quantize_int8(conv_net(), frames(8, seed=1), exclude_nodes=["conv2"])
    graph = onnx.load_from_string(int8).graph
    conv2 = next(n for n in graph.node if n.name == "conv2")
    producers = {o: n for n in graph.node for o in n.output}
    weight = producers.get(conv2.input[1])
    assert weight is None or weight.op_type != "DequantizeLinear"


def test_unknown_excluded_node_is_named() -> None:
    with pytest.raises(EdgeSightError, match="no_such_conv"):
        quantize_int8(conv_net(), frames(2, seed=1), exclude_nodes=["conv1", "no_such_conv"])


def test_pool_before_activation_keeps_outputs() -> None:
    fp32 = conv_net(with_pool=True)
    swapped, pairs = pool_before_activation(fp32)
    assert pairs == [("pool1", "act1")]
    assert [n.op_type for n in onnx.load_from_string(swapped).graph.node] == [
        "Conv",
        "MaxPool",
        "LeakyRelu",
        "Conv",
    ]
    x = frames(1, seed=3)[0]
    np.testing.assert_allclose(run(swapped, x), run(fp32, x), rtol=0, atol=1e-6)
