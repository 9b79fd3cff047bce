"""Surgery on a shipped NanoDet ONNX graph: cut it before its heads, and put trained heads back.

NanoDet and NanoDet-Plus end, per stride, in a 1x1 ``Conv`` (the head: ``classes + 4 * bins``
channels) whose output a ``Split`` divides into class logits and box distributions. Before that
conv each stride has its own small tower (NanoDet: conv + LeakyReLU; NanoDet-Plus: two depthwise
5x5 + pointwise blocks with LeakyReLU) that no other stride reads. ``tower_convs`` says how many of
those convs, counted back from the head, are trainable: the graph is cut before them, and
everything before the cut is the frozen feature extractor whose outputs the factory caches.

Two export layouts are recognised: NanoDet (TF.js) reshapes the class scores to ``(1, cells,
classes)`` with one shared shape constant; NanoDet-Plus (ncnn) outputs ``(1, C, H, W)`` and gives
each Split its own size constant. The networks are fully convolutional (their ``Resize`` nodes use
scales), so they also run at another input size that is a multiple of the largest stride.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import onnx
from onnx import helper, numpy_helper

from edgesight.core.errors import ModelLoadError

__all__ = [
    "ConvWeights",
    "HeadConv",
    "NanoDetHeads",
    "TowerLayer",
    "feature_network",
    "find_heads",
    "head_weights",
    "tower_weights",
    "with_heads",
    "with_input_size",
]

ConvWeights = tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]
"""A convolution's ``(weight, bias)``."""

_ACTIVATIONS = ("LeakyRelu", "Relu")


@dataclass(frozen=True)
class TowerLayer:
    """One layer of a head tower: a ``Conv`` (its initializers and attributes) or an activation."""

    op: str
    weight: str = ""
    bias: str = ""
    group: int = 1
    padding: tuple[int, int] = (0, 0)
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    alpha: float = 0.0
    """LeakyRelu's negative slope."""


@dataclass(frozen=True)
class HeadConv:
    """One stride's head: the feature tensor its trainable part reads, the tower, the head conv."""

    feature: str
    weight: str
    bias: str
    split_sizes: str
    """Initializer holding ``[classes, 4 * bins]`` for this head's Split."""
    tower: tuple[TowerLayer, ...] = ()
    """Trainable layers between ``feature`` and the head conv, in execution order."""


@dataclass(frozen=True)
class NanoDetHeads:
    heads: tuple[HeadConv, ...]
    cls_shape: str | None
    """Initializer holding ``[1, classes, -1]`` for the class-score Reshape nodes (None: ``chw`` outputs)."""
    num_classes: int
    bins: int


def _attr(node: onnx.NodeProto, name: str, default: list[int]) -> list[int]:
    for a in node.attribute:
        if a.name == name:
            return list(a.ints)
    return default


def _tower_layer(node: onnx.NodeProto) -> TowerLayer:
    if node.op_type != "Conv":
        alpha = next((a.f for a in node.attribute if a.name == "alpha"), 0.01) if node.op_type == "LeakyRelu" else 0.0
        return TowerLayer(node.op_type, alpha=alpha)
    pads = _attr(node, "pads", [0, 0, 0, 0])
    auto_pad = next((a.s for a in node.attribute if a.name == "auto_pad"), b"NOTSET")
    if len(node.input) < 3 or pads[:2] != pads[2:] or auto_pad not in (b"NOTSET", b""):
        raise ModelLoadError(f"base network: head conv {node.name!r} has no bias or asymmetric padding; train fewer tower convs")
    group = next((a.i for a in node.attribute if a.name == "group"), 1)
    s, d = _attr(node, "strides", [1, 1]), _attr(node, "dilations", [1, 1])
    return TowerLayer("Conv", node.input[1], node.input[2], group, (pads[0], pads[1]), (s[0], s[1]), (d[0], d[1]))


def find_heads(model: onnx.ModelProto, tower_convs: int = 0) -> NanoDetHeads:
    """Locate the head convolutions of a NanoDet graph, and ``tower_convs`` convs of each tower.

    Raises:
        ModelLoadError: if the graph does not end in ``Conv -> Split -> Sigmoid`` heads, or a head's
            tower has fewer than ``tower_convs`` convs of its own (read by no other stride).
    """
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    found: list[tuple[int, HeadConv]] = []
    shape_names = set()
    for split in (n for n in graph.node if n.op_type == "Split"):
        conv = producers.get(split.input[0])
        if conv is None or conv.op_type != "Conv" or len(split.input) < 2 or split.input[1] not in inits:
            continue
        sigmoid = next((c for c in consumers.get(split.output[0], []) if c.op_type == "Sigmoid"), None)
        if sigmoid is None:
            continue
        reshape = next((c for c in consumers.get(sigmoid.output[0], []) if c.op_type == "Reshape"), None)
        if reshape is not None:
            shape_names.add(reshape.input[1])
        feature, tower = _walk_tower(conv, producers, consumers, tower_convs)
        order = _output_index(sigmoid.output[0], consumers, [o.name for o in graph.output])
        found.append((order, HeadConv(feature, conv.input[1], conv.input[2], split.input[1], tower)))
    # In the order of the graph's outputs (the decoder's stride order), not the nodes' order.
    heads = [h for _, h in sorted(found, key=lambda pair: pair[0])]
    sizes = {tuple(int(v) for v in inits[h.split_sizes]) for h in heads}
    if len(heads) == 0 or len(sizes) != 1 or len(shape_names) > 1:
        raise ModelLoadError("base network: not a NanoDet graph (no Conv -> Split -> Sigmoid heads of one size)")
    num_classes, reg = sizes.pop()
    return NanoDetHeads(tuple(heads), shape_names.pop() if shape_names else None, num_classes, reg // 4)


def _output_index(tensor: str, consumers: dict[str, list[onnx.NodeProto]], outputs: list[str]) -> int:
    """Index of the graph output that ``tensor`` flows into (through single-path nodes)."""
    while tensor not in outputs:
        following = consumers.get(tensor, [])
        if not following:
            raise ModelLoadError(f"base network: head output {tensor!r} reaches no graph output")
        tensor = following[0].output[0]
    return outputs.index(tensor)


def _walk_tower(
    head: onnx.NodeProto,
    producers: dict[str, onnx.NodeProto],
    consumers: dict[str, list[onnx.NodeProto]],
    tower_convs: int,
) -> tuple[str, tuple[TowerLayer, ...]]:
    """Walk back from the head conv over ``tower_convs`` convs (and their activations)."""
    tensor, convs = head.input[0], 0
    layers: list[TowerLayer] = []
    while convs < tower_convs:
        node = producers.get(tensor)
        if node is None or node.op_type not in ("Conv", *_ACTIVATIONS) or len(consumers.get(tensor, [])) != 1:
            raise ModelLoadError(
                f"base network: head {head.name!r} has only {convs} conv(s) of its own before it, "
                f"{tower_convs} asked to train"
            )
        layers.insert(0, _tower_layer(node))
        convs += node.op_type == "Conv"
        tensor = node.input[0]
    return tensor, tuple(layers)


def with_input_size(model: onnx.ModelProto, width: int, height: int) -> onnx.ModelProto:
    """A copy whose input is ``(1, 3, height, width)``, with stale shape annotations dropped.

    NanoDet-Plus' ncnn export spells its channel shuffles as Reshapes to constant shapes such as
    ``(1, 2, 58, 52 * 52)`` and ``(1, 116, 52, 52)``: their spatial dimensions are rescaled too.
    """
    out = onnx.ModelProto()
    out.CopyFrom(model)
    dims = out.graph.input[0].type.tensor_type.shape.dim
    old = (dims[3].dim_value, dims[2].dim_value)
    dims[2].dim_value, dims[3].dim_value = height, width
    if old != (width, height) and all(old):
        _rescale_reshapes(out.graph, old, (width, height))
    out.graph.ClearField("value_info")
    for output in out.graph.output:
        output.type.tensor_type.ClearField("shape")
    return out


def _rescale_reshapes(graph: onnx.GraphProto, old: tuple[int, int], new: tuple[int, int]) -> None:
    """Rewrite 4-d Reshape shape constants whose last dims are a stride's ``(H, W)`` or ``H * W`` at ``old``."""
    inits = {i.name: i for i in graph.initializer}
    strides = [2**k for k in range(1, 8) if old[0] % 2**k == 0 and old[1] % 2**k == 0]
    for node in (n for n in graph.node if n.op_type == "Reshape" and n.input[1] in inits):
        shape = numpy_helper.to_array(inits[node.input[1]]).astype(np.int64)
        if shape.shape != (4,):
            continue
        for s in strides:
            (ow, oh), (nw, nh) = (old[0] // s, old[1] // s), (-(-new[0] // s), -(-new[1] // s))
            if (shape[2], shape[3]) == (oh, ow):
                shape[2], shape[3] = nh, nw
                break
            if shape[3] == oh * ow and shape[2] not in (oh, ow):
                shape[3] = nh * nw
                break
        inits[node.input[1]].CopyFrom(numpy_helper.from_array(shape, node.input[1]))


def feature_network(network: bytes, width: int, height: int, tower_convs: int = 0) -> tuple[bytes, NanoDetHeads]:
    """The base network cut before its heads (and ``tower_convs`` tower convs): outputs ``(1, C, H, W)`` per stride."""
    model = with_input_size(onnx.load_from_string(network), width, height)
    heads = find_heads(model, tower_convs)
    model = onnx.shape_inference.infer_shapes(model)
    extracted = onnx.utils.Extractor(model).extract_model(
        [model.graph.input[0].name], [h.feature for h in heads.heads]
    )
    return extracted.SerializeToString(), heads


def _initializers(network: bytes) -> tuple[onnx.ModelProto, dict[str, npt.NDArray[np.float32]]]:
    model = onnx.load_from_string(network)
    return model, {i.name: numpy_helper.to_array(i).astype(np.float32) for i in model.graph.initializer}


def head_weights(network: bytes) -> list[ConvWeights]:
    """Each head's ``(weight (out, in), bias (out,))`` in stride order."""
    model, inits = _initializers(network)
    return [(inits[h.weight].reshape(inits[h.weight].shape[0], -1), inits[h.bias]) for h in find_heads(model).heads]


def tower_weights(network: bytes, tower_convs: int) -> list[list[ConvWeights]]:
    """Per stride, the ``(weight (out, in/group, kh, kw), bias)`` of its trainable tower convs."""
    model, inits = _initializers(network)
    return [
        [(inits[layer.weight], inits[layer.bias]) for layer in h.tower if layer.op == "Conv"]
        for h in find_heads(model, tower_convs).heads
    ]


def with_heads(
    network: bytes,
    weights: list[ConvWeights],
    num_classes: int,
    width: int,
    height: int,
    strides: list[int],
    towers: list[list[ConvWeights]] | None = None,
) -> bytes:
    """The base network with trained heads (and tower convs) for ``num_classes`` classes at a new input size.

    Its outputs are ``cls, reg`` per stride in the base's layout: ``(1, cells, num_classes)`` and
    ``(1, cells, 4 * bins)``, or ``(1, num_classes, H, W)`` and ``(1, 4 * bins, H, W)``.
    """
    model = with_input_size(onnx.load_from_string(network), width, height)
    tower_convs = len(towers[0]) if towers else 0
    heads = find_heads(model, tower_convs)
    replace: dict[str, npt.NDArray[np.generic]] = {}
    if heads.cls_shape is not None:
        replace[heads.cls_shape] = np.array([1, num_classes, -1], np.int64)
    for k, (head, (w, b)) in enumerate(zip(heads.heads, weights, strict=True)):
        replace[head.split_sizes] = np.array([num_classes, 4 * heads.bins], np.int64)
        replace[head.weight] = w.reshape(w.shape[0], -1, 1, 1).astype(np.float32)
        replace[head.bias] = b.astype(np.float32)
        convs = [layer for layer in head.tower if layer.op == "Conv"]
        for layer, (tw, tb) in zip(convs, towers[k] if towers else [], strict=True):
            replace[layer.weight], replace[layer.bias] = tw.astype(np.float32), tb.astype(np.float32)
    kept = [i for i in model.graph.initializer if i.name not in replace]
    model.graph.ClearField("initializer")
    model.graph.initializer.extend(kept + [numpy_helper.from_array(v, k) for k, v in replace.items()])
    for k, output in enumerate(model.graph.output):
        stride = strides[k // 2]
        rows, cols = -(-height // stride), -(-width // stride)
        channels = num_classes if k % 2 == 0 else 4 * heads.bins
        shape = [1, rows * cols, channels] if heads.cls_shape is not None else [1, channels, rows, cols]
        output.type.CopyFrom(helper.make_tensor_type_proto(onnx.TensorProto.FLOAT, shape))
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())
