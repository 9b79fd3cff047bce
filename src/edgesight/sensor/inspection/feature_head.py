"""Patch features inside the feature network: the pooling and projection appended to its graph.

:func:`edgesight.apps.inspection.features.patch_features` followed by the product's random
projection is linear pooling and one matrix product; done in numpy it cost more CPU per part than
the network itself (about 19 ms against 5 ms). Appended to the ONNX graph at load time, it runs in
ONNX Runtime's kernels with the network's threads and hands back the projected features directly.
The product file is unchanged (the network and projection are stored apart as before), so products
written before this head existed get it too. The result equals the numpy path to float rounding:

* 3x3 average with edge padding = scipy's ``uniform_filter(size=3, mode="reflect")`` (a 1-cell
  half-sample reflection repeats the edge cell);
* the stride-4 stage averaged over 2x2 blocks onto the stride-8 grid;
* concatenation in stage order, then a 1x1 convolution whose weights are the projection.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgesight.core.errors import ModelLoadError

__all__ = ["FEATURES_OUTPUT", "with_feature_head"]

FEATURES_OUTPUT = "patch_features"
"""Name of the head's output: ``(1, projection dim, H / stride, W / stride)``."""


def with_feature_head(network: bytes, projection: np.ndarray, source: str = "feature network") -> bytes:
    """Append 3x3 pooling, grid alignment and the projection to a two-stage feature network.

    Args:
        network: ONNX bytes whose outputs are the stride-4 and stride-8 stage maps, finest first.
        projection: ``(sum of stage channels, dim)`` matrix applied to the concatenated features.
        source: named in errors.

    Returns:
        ONNX bytes with one output, :data:`FEATURES_OUTPUT`.
    """
    model = onnx.load_from_string(network)
    graph = model.graph
    if len(graph.output) != 2:
        raise ModelLoadError(f"{source}: expected 2 stage outputs to append the feature head to, got {len(graph.output)}")
    fine, coarse = (output.name for output in graph.output)
    dim_in, dim_out = projection.shape
    weights = np.ascontiguousarray(projection.T, dtype=np.float32).reshape(dim_out, dim_in, 1, 1)
    graph.initializer.extend([
        numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "head_pads"),
        numpy_helper.from_array(weights, "head_projection"),
    ])  # fmt: skip
    graph.node.extend([
        helper.make_node("Pad", [fine, "head_pads"], ["head_fine_padded"], mode="edge"),
        helper.make_node("AveragePool", ["head_fine_padded"], ["head_fine_local"], kernel_shape=[3, 3]),
        helper.make_node("AveragePool", ["head_fine_local"], ["head_fine_grid"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Pad", [coarse, "head_pads"], ["head_coarse_padded"], mode="edge"),
        helper.make_node("AveragePool", ["head_coarse_padded"], ["head_coarse_local"], kernel_shape=[3, 3]),
        helper.make_node("Concat", ["head_fine_grid", "head_coarse_local"], ["head_concat"], axis=1),
        helper.make_node("Conv", ["head_concat", "head_projection"], [FEATURES_OUTPUT]),
    ])  # fmt: skip
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(FEATURES_OUTPUT, TensorProto.FLOAT, ["batch", dim_out, None, None]))
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ModelLoadError(f"{source}: the feature head does not fit this network: {exc}") from exc
    headed: bytes = model.SerializeToString()
    return headed
