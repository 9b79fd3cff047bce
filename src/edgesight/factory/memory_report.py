"""What a network costs on a sensor, computed from its ONNX graph: weights, peak activations, MACs.

* **Weights**: every initializer and ``Constant`` tensor at its stored width (int8 counts 1 byte).
* **Peak activations**: tensors are live from the node that produces them to the last node that
  reads them (graph inputs from the start, graph outputs to the end), walking the nodes in the
  graph's execution order; the peak is the largest sum of live tensors at any node.
* **Int8 graphs** (QDQ format) are counted as an int8 runtime executes them: a
  ``DequantizeLinear`` of an activation, and a float tensor read only by a ``QuantizeLinear``,
  share the storage of their uint8/int8 twin (ONNX Runtime fuses such pairs into ``QLinear*``
  kernels, and a sensor's converter does the same). Graph inputs and outputs keep their own type.
* Tensors computed from weights alone (``DequantizeLinear`` of int8 weights, shape arithmetic) are
  folded at load time and are not activations.
* **MACs**: Conv, ConvTranspose, Gemm and MatMul (and their integer forms).

Shapes come from ONNX shape inference; dynamic dimensions are fixed first (to the values given,
else to 1) and every such choice is listed in :attr:`GraphCost.assumptions`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import onnx
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from onnx import helper, shape_inference

from edgesight.core.errors import EdgeSightError

__all__ = ["DEFAULT_BUDGET", "GraphCost", "GraphError", "WeightGroup", "analyse", "load_graph", "parse_size"]

DEFAULT_BUDGET = 8_000_000
"""The IMX500's 8 MB for weights and activations together (decimal megabytes)."""

_CONV_OPS = frozenset({"Conv", "ConvInteger", "QLinearConv"})
_MATMUL_OPS = frozenset({"MatMul", "MatMulInteger", "QLinearMatMul"})
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30}


class GraphError(EdgeSightError):
    """An ONNX graph that cannot be parsed or analysed."""


@dataclass(frozen=True)
class WeightGroup:
    """Weights of one element type."""

    dtype: str
    tensors: int
    bytes: int


@dataclass(frozen=True)
class GraphCost:
    """The static cost of one network; sizes in bytes."""

    weights: tuple[WeightGroup, ...]
    peak_activation_bytes: int
    peak_node: str
    macs: int
    assumptions: tuple[str, ...] = field(default=())

    @property
    def weight_bytes(self) -> int:
        """All weights together."""
        return sum(group.bytes for group in self.weights)

    @property
    def total_bytes(self) -> int:
        """Weights plus peak activations: what must fit in the sensor's memory at once."""
        return self.weight_bytes + self.peak_activation_bytes

    def against(self, budget: int) -> dict[str, object]:
        """The cost as plain data (what ``--json`` prints), judged against ``budget`` bytes."""
        return {
            "weights": {g.dtype: {"tensors": g.tensors, "bytes": g.bytes} for g in self.weights},
            "weight_bytes": self.weight_bytes,
            "peak_activation_bytes": self.peak_activation_bytes,
            "peak_node": self.peak_node,
            "total_bytes": self.total_bytes,
            "budget_bytes": budget,
            "fits": self.total_bytes <= budget,
            "macs": self.macs,
            "assumptions": list(self.assumptions),
        }


def parse_size(text: str) -> int:
    """Bytes in ``"8MB"``, ``"512 KiB"`` or ``"8000000"`` (KB/MB/GB decimal, KiB/MiB/GiB binary).

    Example:
        >>> parse_size("8MB"), parse_size("2 MiB"), parse_size("1500")
        (8000000, 2097152, 1500)
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    unit = match.group(2).upper() if match else ""
    if not match or unit not in _UNITS:
        raise GraphError(f"budget must be a size like 8MB, 512KiB or 8000000, got {text!r}")
    return int(float(match.group(1)) * _UNITS[unit])


def load_graph(network: bytes, source: str) -> onnx.ModelProto:
    """Parse ONNX bytes; ``source`` names the file in the error."""
    try:
        return onnx.load_from_string(network)
    except (DecodeError, ValueError) as exc:
        raise GraphError(f"{source}: not an ONNX model ({exc})") from exc


def analyse(model: onnx.ModelProto, input_shapes: Mapping[str, tuple[int, ...]] | None = None) -> GraphCost:
    """The cost of ``model``; ``input_shapes`` fixes the dynamic dimensions of named inputs.

    Example:
        >>> from onnx import numpy_helper
        >>> x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", 4])
        >>> y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["n", 2])
        >>> w = numpy_helper.from_array(np.ones((4, 2), np.float32), "w")
        >>> graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g", [x], [y], [w])
        >>> cost = analyse(helper.make_model(graph))
        >>> cost.weight_bytes, cost.peak_activation_bytes, cost.macs, cost.assumptions
        (32, 24, 8, ("input 'x' dimension 0 ('n') assumed 1",))
    """
    model, assumptions = _fix_inputs(model, input_shapes or {})
    try:
        inferred = shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise GraphError(f"ONNX shape inference failed ({exc})") from exc
    graph = inferred.graph
    shapes = _tensor_types(graph)
    weights = _weights(graph)
    static = _static_tensors(graph)
    peak, peak_node, unknown = _peak_activations(graph, shapes, static)
    macs, skipped = _macs(graph, shapes)
    if unknown:
        assumptions.append(f"{len(unknown)} activation(s) of unknown shape not counted: {', '.join(unknown[:5])}")
    if skipped:
        assumptions.append(f"MACs of {len(skipped)} node(s) with unknown shapes not counted: {', '.join(skipped[:5])}")
    if any(node.op_type in ("If", "Loop", "Scan") for node in graph.node):
        assumptions.append("subgraphs of If/Loop/Scan nodes are not counted")
    return GraphCost(
        weights=weights, peak_activation_bytes=peak, peak_node=peak_node, macs=macs, assumptions=tuple(assumptions)
    )


def _fix_inputs(
    model: onnx.ModelProto, input_shapes: Mapping[str, tuple[int, ...]]
) -> tuple[onnx.ModelProto, list[str]]:
    """A copy of ``model`` whose inputs have fixed dimensions and no stale inferred shapes."""
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    del fixed.graph.value_info[:]  # re-inferred from the fixed inputs, so no stale symbolic dims stay
    initializers = {t.name for t in fixed.graph.initializer}
    assumptions: list[str] = []
    for tensor in fixed.graph.input:
        if tensor.name in initializers:
            continue
        given = input_shapes.get(tensor.name)
        for axis, dim in enumerate(tensor.type.tensor_type.shape.dim):
            if dim.HasField("dim_value") and dim.dim_value > 0:
                continue
            value = given[axis] if given is not None and axis < len(given) else 1
            label = dim.dim_param or "?"
            if given is None:
                assumptions.append(f"input {tensor.name!r} dimension {axis} ({label!r}) assumed {value}")
            dim.Clear()
            dim.dim_value = value
    return fixed, assumptions


@dataclass(frozen=True)
class _TensorType:
    shape: tuple[int, ...] | None
    itemsize: int

    @property
    def bytes(self) -> int | None:
        return None if self.shape is None else math.prod(self.shape) * self.itemsize


def _itemsize(elem_type: int) -> int:
    if elem_type == onnx.TensorProto.UNDEFINED:
        return 0
    return int(np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)).itemsize)


def _tensor_types(graph: onnx.GraphProto) -> dict[str, _TensorType]:
    types: dict[str, _TensorType] = {}
    for info in (*graph.input, *graph.value_info, *graph.output):
        tensor_type = info.type.tensor_type
        dims = tensor_type.shape.dim
        known = tensor_type.HasField("shape") and all(d.HasField("dim_value") for d in dims)
        shape = tuple(d.dim_value for d in dims) if known else None
        types[info.name] = _TensorType(shape, _itemsize(tensor_type.elem_type))
    for init in graph.initializer:
        types[init.name] = _TensorType(tuple(init.dims), _itemsize(init.data_type))
    return types


def _weights(graph: onnx.GraphProto) -> tuple[WeightGroup, ...]:
    tensors = list(graph.initializer)
    tensors += [
        attr.t for node in graph.node if node.op_type == "Constant" for attr in node.attribute if attr.name == "value"
    ]
    by_dtype: dict[str, list[int]] = {}
    for tensor in tensors:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type)).name
        size = math.prod(tensor.dims) * _itemsize(tensor.data_type)
        by_dtype.setdefault(dtype, []).append(size)
    return tuple(
        WeightGroup(dtype, len(sizes), sum(sizes)) for dtype, sizes in sorted(by_dtype.items(), key=lambda kv: -sum(kv[1]))
    )


def _static_tensors(graph: onnx.GraphProto) -> set[str]:
    """Tensors computable from weights alone (folded when the model is loaded)."""
    static = {t.name for t in graph.initializer}
    for node in graph.node:
        if all(name in static for name in node.input if name):
            static.update(node.output)
    return static


class _Storage:
    """Union-find of tensor names that share one buffer in an int8 runtime."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def find(self, name: str) -> str:
        root = self._parent.setdefault(name, name)
        if root != name:
            root = self._parent[name] = self.find(root)
        return root

    def join(self, a: str, b: str) -> None:
        self._parent[self.find(a)] = self.find(b)


def _peak_activations(
    graph: onnx.GraphProto, types: Mapping[str, _TensorType], static: set[str]
) -> tuple[int, str, list[str]]:
    nodes = list(graph.node)
    boundary = {t.name for t in (*graph.input, *graph.output)}
    consumers: dict[str, list[int]] = {}
    for step, node in enumerate(nodes):
        for name in node.input:
            if name and name not in static:
                consumers.setdefault(name, []).append(step)
    storage = _Storage()
    for node in nodes:
        if not node.input or node.input[0] in static:
            continue
        source, target = node.input[0], node.output[0]
        if node.op_type == "DequantizeLinear" and target not in boundary:
            storage.join(target, source)
        elif node.op_type == "QuantizeLinear" and source not in boundary and len(consumers.get(source, [])) == 1:
            storage.join(source, target)

    births: dict[str, int] = {t.name: 0 for t in graph.input if t.name not in static}
    for step, node in enumerate(nodes):
        for name in node.output:
            if name and name not in static:
                births[name] = step
    end = len(nodes)
    groups: dict[str, tuple[int, int, int]] = {}  # root -> (birth, death, bytes)
    unknown: list[str] = []
    for name, birth in births.items():
        death = end if name in {t.name for t in graph.output} else max(consumers.get(name, [birth]))
        size = types[name].bytes if name in types else None
        if size is None:
            unknown.append(name)
            continue
        root = storage.find(name)
        if root in groups:
            b, d, s = groups[root]
            groups[root] = (min(b, birth), max(d, death), min(s, size))
        else:
            groups[root] = (birth, death, size)

    usage = np.zeros(end + 1, dtype=np.int64)
    for birth, death, size in groups.values():
        usage[birth : death + 1] += size
    step = int(np.argmax(usage[:end])) if end else 0
    node = nodes[step] if nodes else None
    where = f"{node.op_type} {node.name or node.output[0]!r}" if node is not None else "-"
    return int(usage[:end].max(initial=0)), where, unknown


def _macs(graph: onnx.GraphProto, types: Mapping[str, _TensorType]) -> tuple[int, list[str]]:
    total = 0
    skipped: list[str] = []
    for node in graph.node:
        if node.op_type not in (*_CONV_OPS, "ConvTranspose", "Gemm", *_MATMUL_OPS):
            continue
        macs = _node_macs(node, types)
        if macs is None:
            skipped.append(node.name or node.output[0])
        else:
            total += macs
    return total, skipped


def _node_macs(node: onnx.NodeProto, types: Mapping[str, _TensorType]) -> int | None:
    def shape(name: str) -> tuple[int, ...] | None:
        found = types.get(name)
        return found.shape if found is not None else None

    # QLinear* take (x, x_scale, x_zero_point, w, ...); the others take (x, w, ...).
    weight_index = 3 if node.op_type.startswith("QLinear") else 1
    x, w, y = shape(node.input[0]), shape(node.input[weight_index]), shape(node.output[0])
    if node.op_type in _CONV_OPS:
        return None if w is None or y is None else math.prod(y) * math.prod(w[1:])
    if node.op_type == "ConvTranspose":
        return None if w is None or x is None else math.prod(x) * math.prod(w[1:])
    if node.op_type == "Gemm":
        trans_a = next((a.i for a in node.attribute if a.name == "transA"), 0)
        return None if x is None or y is None else math.prod(y) * (x[0] if trans_a else x[1])
    return None if x is None or y is None else math.prod(y) * x[-1]
