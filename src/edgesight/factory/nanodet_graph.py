"""Surgery on a shipped NanoDet ONNX graph: cut it at its heads, and put trained heads back.

NanoDet ends, per stride, in a 1x1 ``Conv`` (the head: ``classes + 4 * bins`` channels) whose
output a ``Split`` divides into class logits and box distributions. Everything before those three
convolutions is the frozen feature extractor; its outputs are what the factory caches. The
network is fully convolutional (its ``Resize`` nodes use scales), so it also runs at another input
size that is a multiple of the largest stride.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import onnx
from onnx import helper, numpy_helper

from edgesight.core.errors import ModelLoadError

__all__ = ["HeadConv", "NanoDetHeads", "feature_network", "find_heads", "head_weights", "with_heads", "with_input_size"]


@dataclass(frozen=True)
class HeadConv:
    """One stride's head: the feature tensor it reads and its weight/bias initializers."""

    feature: str
    weight: str
    bias: str


@dataclass(frozen=True)
class NanoDetHeads:
    heads: tuple[HeadConv, ...]
    split_sizes: str
    """Initializer holding ``[classes, 4 * bins]`` for the Split nodes."""
    cls_shape: str
    """Initializer holding ``[1, classes, -1]`` for the class-score Reshape nodes."""
    num_classes: int
    bins: int


def find_heads(model: onnx.ModelProto) -> NanoDetHeads:
    """Locate the head convolutions of a NanoDet graph (as converted for the zoo).

    Raises:
        ModelLoadError: if the graph does not end in ``Conv -> Split -> (Sigmoid) -> Reshape`` heads.
    """
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    heads, split_names, shape_names = [], set(), set()
    for split in (n for n in graph.node if n.op_type == "Split"):
        conv = producers.get(split.input[0])
        if conv is None or conv.op_type != "Conv" or len(split.input) < 2:
            continue
        heads.append(HeadConv(conv.input[0], conv.input[1], conv.input[2]))
        split_names.add(split.input[1])
        sigmoid = next(c for c in consumers[split.output[0]] if c.op_type == "Sigmoid")
        reshape = next(c for c in consumers[sigmoid.output[0]] if c.op_type == "Reshape")
        shape_names.add(reshape.input[1])
    if len(heads) == 0 or len(split_names) != 1 or len(shape_names) != 1:
        raise ModelLoadError("base network: not a NanoDet graph (no Conv -> Split heads sharing their constants)")
    split_name, shape_name = split_names.pop(), shape_names.pop()
    num_classes, reg = (int(v) for v in inits[split_name])
    return NanoDetHeads(tuple(heads), split_name, shape_name, num_classes, reg // 4)


def with_input_size(model: onnx.ModelProto, width: int, height: int) -> onnx.ModelProto:
    """A copy whose input is ``(1, 3, height, width)``, with stale shape annotations dropped."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    dims = out.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value, dims[3].dim_value = height, width
    out.graph.ClearField("value_info")
    for output in out.graph.output:
        output.type.tensor_type.ClearField("shape")
    return out


def feature_network(network: bytes, width: int, height: int) -> tuple[bytes, NanoDetHeads]:
    """The base network cut before its heads: its outputs are the features each head reads."""
    model = with_input_size(onnx.load_from_string(network), width, height)
    heads = find_heads(model)
    model = onnx.shape_inference.infer_shapes(model)
    extracted = onnx.utils.Extractor(model).extract_model(
        [model.graph.input[0].name], [h.feature for h in heads.heads]
    )
    return extracted.SerializeToString(), heads


def head_weights(network: bytes) -> list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]]:
    """Each head's ``(weight (out, in), bias (out,))`` in stride order."""
    model = onnx.load_from_string(network)
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return [
        (inits[h.weight].reshape(inits[h.weight].shape[0], -1).astype(np.float32), inits[h.bias].astype(np.float32))
        for h in find_heads(model).heads
    ]


def with_heads(
    network: bytes,
    weights: list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]],
    num_classes: int,
    width: int,
    height: int,
    strides: list[int],
) -> bytes:
    """The base network with trained heads for ``num_classes`` classes at a new input size.

    Its outputs are ``cls, reg`` per stride: ``(1, cells, num_classes)`` and ``(1, cells, 4 * bins)``.
    """
    model = with_input_size(onnx.load_from_string(network), width, height)
    heads = find_heads(model)
    replace: dict[str, npt.NDArray[np.generic]] = {
        heads.split_sizes: np.array([num_classes, 4 * heads.bins], np.int64),
        heads.cls_shape: np.array([1, num_classes, -1], np.int64),
    }
    for head, (w, b) in zip(heads.heads, weights, strict=True):
        replace[head.weight] = w.reshape(w.shape[0], -1, 1, 1).astype(np.float32)
        replace[head.bias] = b.astype(np.float32)
    kept = [i for i in model.graph.initializer if i.name not in replace]
    model.graph.ClearField("initializer")
    model.graph.initializer.extend(kept + [numpy_helper.from_array(v, k) for k, v in replace.items()])
    for k, output in enumerate(model.graph.output):
        stride = strides[k // 2]
        cells = -(-width // stride) * -(-height // stride)
        shape = [1, cells, num_classes if k % 2 == 0 else 4 * heads.bins]
        output.type.CopyFrom(helper.make_tensor_type_proto(onnx.TensorProto.FLOAT, shape))
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())
