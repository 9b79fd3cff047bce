"""The feature network of inspection: the stride-4 and stride-8 stages of a shipped detector.

PatchCore compares mid-level features of a pretrained network, not its detections. EdgeSight ships
NanoDet (COCO-trained CSP backbone, Apache-2.0, provenance in the package's ``LICENSES/SOURCE.md``),
so the feature network is cut out of that package offline: the graph is truncated after the two
backbone stages, the stage outputs become the graph's outputs and the input size becomes symbolic
(the backbone is all convolutions, so any part size divisible by 16 runs). Nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort

from edgesight.apps.inspection.features import patch_features
from edgesight.core.errors import ModelLoadError
from edgesight.core.package import ModelPackage, read_package
from edgesight.sensor.inspection.feature_head import with_feature_head
from edgesight.sensor.zoo import resolve_model

__all__ = ["BACKBONE_MODEL", "FEATURE_STRIDE", "GRID_STAGE", "STAGE_OUTPUTS", "BackboneSpec", "FeatureNetwork", "cut_feature_network", "load_backbone"]

BACKBONE_MODEL = "nanodet-coco-fp32"
"""Zoo package the feature network is cut from (fp32: int8 rounding blurs small feature differences)."""

STAGE_OUTPUTS = (
    "PartitionedCall/onnx_tf_prefix_Concat_12:0",  # end of stage 1: 64 channels, stride 4
    "PartitionedCall/onnx_tf_prefix_Concat_27:0",  # end of stage 2: 128 channels, stride 8
)
# Stages 1 + 2 beat PatchCore's usual 2 + 3 here (image AUROC on the texture set: brick 0.98 vs
# 0.94, grass 0.79 vs 0.68, gravel 0.83 vs 0.79): this COCO detector's stage 3 is already coarse.
GRID_STAGE = 1
"""Index in ``STAGE_OUTPUTS`` of the stage whose grid the patch features are on."""
FEATURE_STRIDE = 8
"""Stride of that stage: one patch feature per 8x8 pixels of the part."""


@dataclass(frozen=True)
class BackboneSpec:
    """What the feature network expects: source package, BGR mean/std of its input."""

    source: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def cut_feature_network(package: ModelPackage) -> tuple[bytes, BackboneSpec]:
    """Truncate a zoo detector to its two stage outputs, with a symbolic input size.

    Returns:
        The ONNX bytes of the feature network and the preprocessing it needs.
    """
    model = onnx.load_from_string(package.network)
    produced = {out for node in model.graph.node for out in node.output}
    missing = [name for name in STAGE_OUTPUTS if name not in produced]
    if missing:
        raise ModelLoadError(f"{package.source}: has no tensor {missing[0]!r}; cannot cut the feature network")
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    del model.graph.value_info[:]  # shapes inferred for 416x416 would contradict a symbolic input
    _keep_only(model.graph, STAGE_OUTPUTS)
    onnx.checker.check_model(model)
    spec = package.intrinsics.input
    mean, std = tuple(spec.mean), tuple(spec.std)
    if len(mean) != 3 or len(std) != 3:
        raise ModelLoadError(f"{package.source}: expected 3-channel mean/std, got {mean} / {std}")
    return model.SerializeToString(), BackboneSpec(
        source=package.name, mean=(mean[0], mean[1], mean[2]), std=(std[0], std[1], std[2])
    )


def _keep_only(graph: onnx.GraphProto, outputs: tuple[str, ...]) -> None:
    """Make ``outputs`` the graph's outputs and drop every node and weight they do not depend on."""
    needed = set(outputs)
    kept: list[onnx.NodeProto] = []
    for node in reversed(graph.node):
        if needed.intersection(node.output):
            kept.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    weights = [w for w in graph.initializer if w.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(weights)
    del graph.output[:]
    graph.output.extend(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, ["batch", None, None, None]) for name in outputs)


def load_backbone(model: str = BACKBONE_MODEL) -> tuple[bytes, BackboneSpec]:
    """Cut the feature network out of a zoo model (name) or package file (path)."""
    return cut_feature_network(read_package(resolve_model(model)))


class FeatureNetwork:
    """Runs the feature network on BGR uint8 parts.

    Args:
        network: ONNX bytes from :func:`cut_feature_network`.
        spec: its preprocessing.
        threads: ONNX Runtime intra-op threads.
        projection: if given, pooling and this projection run inside the network
            (:func:`~edgesight.sensor.inspection.feature_head.with_feature_head`) and
            :meth:`patches` returns projected features.
    """

    def __init__(
        self, network: bytes, spec: BackboneSpec, threads: int = 2, projection: np.ndarray | None = None
    ) -> None:
        self.spec = spec
        self.projected = projection is not None
        if projection is not None:
            network = with_feature_head(network, projection, f"feature network of {spec.source}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Parts arrive one at a time with gaps: spinning threads would burn the cores the sensor needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(network, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own unrelated exception types
            raise ModelLoadError(f"feature network of {spec.source} does not load: {exc}") from exc
        self._input = self._session.get_inputs()[0].name
        self._mean = np.asarray(spec.mean, np.float32).reshape(1, 3, 1, 1)
        self._scale = 1.0 / np.asarray(spec.std, np.float32).reshape(1, 3, 1, 1)

    def __call__(self, part_bgr: np.ndarray) -> list[np.ndarray]:
        """Output maps ``(C, H / s, W / s)`` of one BGR uint8 part: the stage maps, finest first,
        or the one projected feature map if the network has the feature head."""
        tensor = part_bgr.transpose(2, 0, 1)[None].astype(np.float32)
        tensor = (tensor - self._mean) * self._scale
        outputs = self._session.run(None, {self._input: tensor})
        return [np.asarray(o[0], np.float32) for o in outputs]

    def patches(self, part_bgr: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """Patch features ``(cells, dim)`` of one part and their grid (see :func:`patch_features`)."""
        maps = self(part_bgr)
        if not self.projected:
            return patch_features(maps, reference=GRID_STAGE)
        features = maps[0]
        dim, height, width = features.shape
        return np.ascontiguousarray(features.reshape(dim, -1).T), (height, width)
