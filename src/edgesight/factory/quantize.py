"""Post-training int8 quantization of an ONNX network with ONNX Runtime's static quantizer.

Static (calibrated) QDQ quantization: weights int8 per channel, activations uint8 with ranges
measured on real frames (U8S8, the fast integer kernel of ONNX Runtime on x86 AVX2).

Speed comes from keeping the network in int8 *between* convolutions: quantizing only ``Conv``
leaves every activation, concatenation and upsampling in float, and each of them pays a
dequantize/quantize round trip. :data:`INT8_OPS` (the default) also quantizes the element-wise and
data-movement operators a CNN detector has, so ONNX Runtime fuses them into ``QLinear*`` kernels
and one uint8 NHWC tensor flows from layer to layer.

Accuracy: a detector's output heads usually must stay in float, because their scores and box
distances need more than 8 bits (NanoDet finds nothing when its heads are quantized), and the
first convolution sees raw pixels; callers list such nodes in ``exclude_nodes``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from edgesight.core.errors import EdgeSightError

__all__ = ["INT8_OPS", "pool_before_activation", "quantize_int8"]

INT8_OPS: tuple[str, ...] = ("Conv", "LeakyRelu", "MaxPool", "Concat", "Add", "Resize")
"""Operator types quantized by default: convolutions and what sits between them in a CNN."""

_MONOTONIC_ACTIVATIONS = frozenset({"LeakyRelu", "Relu"})


class _Frames(CalibrationDataReader):  # type: ignore[misc]
    def __init__(self, input_name: str, tensors: Iterable[npt.NDArray[np.float32]]) -> None:
        self._feeds: Iterator[dict[str, npt.NDArray[np.float32]]] = ({input_name: t} for t in tensors)

    def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
        return next(self._feeds, None)


def quantize_int8(
    network: bytes,
    calibration: Iterable[npt.NDArray[np.float32]],
    *,
    op_types: Sequence[str] = INT8_OPS,
    exclude_nodes: Sequence[str] = (),
    method: CalibrationMethod = CalibrationMethod.MinMax,
    per_channel: bool = True,
) -> bytes:
    """Return the int8 version of an fp32 ONNX network.

    Args:
        network: the fp32 ONNX model bytes.
        calibration: input tensors exactly as the ISP produces them (a few dozen real frames).
        op_types: operator types to quantize.
        exclude_nodes: node names kept in float (e.g. output heads).
        method: how activation ranges are measured from the calibration tensors.
        per_channel: one weight scale per output channel (True) or per tensor.

    Raises:
        EdgeSightError: naming them, if ``exclude_nodes`` lists nodes the network does not have.
    """
    model = onnx.load_from_string(network)
    input_name = model.graph.input[0].name
    missing = set(exclude_nodes) - {n.name for n in model.graph.node}
    if missing:
        raise EdgeSightError(f"quantize: nodes to exclude not in the network: {sorted(missing)}")
    with tempfile.TemporaryDirectory() as tmp:
        src, pre, dst = Path(tmp, "fp32.onnx"), Path(tmp, "pre.onnx"), Path(tmp, "int8.onnx")
        src.write_bytes(network)
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre),
            str(dst),
            _Frames(input_name, calibration),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(op_types),
            nodes_to_exclude=list(exclude_nodes),
            per_channel=per_channel,
            # U8 activations x S8 weights: ONNX Runtime's fast path on AVX2 without VNNI (U8U8
            # measured no faster than fp32 there); 7-bit weights (reduce_range) bought nothing.
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=method,
        )
        return dst.read_bytes()


def pool_before_activation(network: bytes) -> tuple[bytes, list[tuple[str, str]]]:
    """Swap ``activation -> MaxPool`` into ``MaxPool -> activation``; the outputs are identical.

    A max-pool commutes with any non-decreasing activation (``max(f(x)) == f(max(x))``), so the
    swap changes no value. It matters for int8 networks whose first convolution stays in float:
    ONNX Runtime moves the quantize step up through a MaxPool, which then runs on uint8 in NCHW
    layout, a slow generic kernel (about 10 ms of a 45 ms NanoDet on one core). With the activation
    after the pool, the pool runs fast in float and the activation quantizes a 4x smaller tensor.

    Returns:
        the rewritten network and the ``(pool, activation)`` node names swapped; pairs are only
        swapped when the activation feeds nothing but the pool.

    Example:
        >>> from onnx import TensorProto, helper
        >>> g = helper.make_graph(
        ...     [helper.make_node("LeakyRelu", ["x"], ["a"], name="act", alpha=0.1),
        ...      helper.make_node("MaxPool", ["a"], ["y"], name="pool", kernel_shape=[2, 2], strides=[2, 2])],
        ...     "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
        ...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 2, 2])])
        >>> net, swapped = pool_before_activation(helper.make_model(g).SerializeToString())
        >>> swapped, [n.op_type for n in onnx.load_from_string(net).graph.node]
        ([('pool', 'act')], ['MaxPool', 'LeakyRelu'])
    """
    model = onnx.load_from_string(network)
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    swapped: list[tuple[str, str]] = []
    for pool in [n for n in graph.node if n.op_type == "MaxPool" and len(n.output) == 1]:
        act = producers.get(pool.input[0])
        if act is None or act.op_type not in _MONOTONIC_ACTIVATIONS or uses[act.output[0]] != 1:
            continue
        if act.output[0] in {o.name for o in graph.output}:
            continue
        # x -> act -> a -> pool -> y   becomes   x -> pool -> a -> act -> y
        x, a, y = act.input[0], act.output[0], pool.output[0]
        pool.input[0], pool.output[0] = x, a
        act.input[0], act.output[0] = a, y
        nodes = [n for n in graph.node if n is not act]
        nodes.insert(nodes.index(pool) + 1, act)
        graph.ClearField("node")
        graph.node.extend(nodes)
        # ``a`` changed shape (it is now pooled): drop stale shape annotations.
        kept = [v for v in graph.value_info if v.name not in {a, y}]
        graph.ClearField("value_info")
        graph.value_info.extend(kept)
        swapped.append((pool.name, act.name))
    return model.SerializeToString(), swapped


def nanodet_keep_float(network: bytes) -> list[str]:
    """Nodes of a NanoDet network kept in float.

    The first Conv sees raw pixels, whose range 8 bits cannot hold without losing small,
    low-contrast people; the head Convs feeding the Split nodes output scores and box
    distributions that need more than 8 bits.
    """
    graph = onnx.load_from_string(network).graph
    producers = {out: node for node in graph.node for out in node.output}
    first = next(n.name for n in graph.node if n.op_type == "Conv" and graph.input[0].name in n.input)
    heads = [
        producers[n.input[0]].name for n in graph.node if n.op_type == "Split" and n.input[0] in producers
    ]
    return [first, *[h for h in heads if h]]


def nanodet_int8(fp32: bytes, calibration: Iterable[npt.NDArray[np.float32]]) -> bytes:
    """NanoDet in int8 from the first MaxPool to the heads (see BENCHMARKS.md, "int8 study").

    * Every Conv, LeakyRelu, Concat, Add, Resize and MaxPool between them is quantized
      (:data:`INT8_OPS`), so ONNX Runtime keeps one uint8 NHWC tensor from layer to layer instead
      of a float round trip around each activation: 1.3x -> ~1.7x fp32's speed on AVX2.
    * The first Conv and the head Convs stay float (accuracy, see :func:`nanodet_keep_float`).
      The stem's ``LeakyRelu -> MaxPool`` is swapped to ``MaxPool -> LeakyRelu`` (same values) and
      both stay float: otherwise the MaxPool runs as a slow uint8 NCHW kernel (~10 ms).
    * MinMax calibration, per-channel S8 weights, U8 activations: Percentile/Entropy calibration,
      per-tensor weights, 7-bit weights (reduce_range), U8U8 and the QOperator format were no
      better in count agreement with fp32 and no faster (or slower: U8U8).
    """
    network, swapped = pool_before_activation(fp32)
    keep_float = nanodet_keep_float(network) + [name for pair in swapped for name in pair]
    return quantize_int8(network, calibration, op_types=INT8_OPS, exclude_nodes=keep_float)


def plus_keep_float(network: bytes) -> list[str]:
    """NanoDet-Plus nodes kept in float: the first Conv (raw pixels) and the Splits of the four
    output Convs into scores and box distributions, found by walking back from the graph's outputs.

    The output Convs themselves run in int8 (their outputs are dequantized before the Split): on
    one AVX-512 VNNI core that saves 0.65 ms of a 16 ms pass (float Convs also pay NCHWc reorders)
    at the same accuracy (vtest.avi at 0.45: precision 0.965 / recall 0.906 against 0.968 / 0.902
    with them in float; the photo check unchanged; BENCHMARKS.md). The channel-shuffle Splits of
    the backbone stay int8."""
    graph = onnx.load_from_string(network).graph
    producers = {out: node for node in graph.node for out in node.output}
    first = next(n.name for n in graph.node if n.op_type == "Conv" and graph.input[0].name in n.input)
    heads: set[str] = set()
    for out in graph.output:
        node = producers[out.name]
        while node.op_type in ("Sigmoid", "Identity", "Split"):
            if node.op_type == "Split":
                heads.add(node.name)
            node = producers[node.input[0]]
    return [first, *sorted(heads)]


PLUS_INT8_OPS = (*INT8_OPS, "Split", "Reshape", "Transpose")
"""NanoDet-Plus' ShuffleNetV2 backbone moves channels with Split/Reshape/Transpose; quantizing them
keeps the tensor in uint8 across each shuffle instead of a float round trip."""


def nanodet_plus_int8(fp32: bytes, calibration: Iterable[npt.NDArray[np.float32]]) -> bytes:
    """NanoDet-Plus in int8: like :func:`nanodet_int8`, plus the channel shuffles."""
    network, swapped = pool_before_activation(fp32)
    keep_float = plus_keep_float(network) + [name for pair in swapped for name in pair]
    return quantize_int8(network, calibration, op_types=PLUS_INT8_OPS, exclude_nodes=keep_float)
