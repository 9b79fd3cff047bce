"""Image classification by transfer learning: a linear classifier on the frozen NanoDet features.

Each image runs once through the base network's feature extractor; the features of every stride
are averaged over the image and concatenated (384 numbers for NanoDet-m). A softmax classifier
trains on those for many epochs in well under a second each. The exported network is the
feature extractor followed by ``GlobalAveragePool -> Concat -> Gemm -> Softmax``, so the sensor
runs it with its ``classification`` decoder.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import helper, numpy_helper

from edgesight.core.intrinsics import DecoderSpec, Intrinsics, Task, Tiling
from edgesight.core.package import ModelPackage
from edgesight.factory.datasets import DatasetError, require_nonempty
from edgesight.factory.nanodet_graph import feature_network
from edgesight.factory.preprocess import read_bgr, to_tensor
from edgesight.factory.train_detector import ProgressCallback, TrainSettings, licences, write_package_atomic

__all__ = ["ClassifierResult", "classifier_network", "train_classifier"]


@dataclass
class ClassifierResult:
    package: Path
    accuracy: list[float] = field(default_factory=list)
    """Validation top-1 accuracy per epoch."""
    best_epoch: int = 0
    feature_seconds: float = 0.0


def _pooled(session: ort.InferenceSession, images: Sequence[Path], intrinsics: Intrinsics,
            progress: ProgressCallback, phase: str) -> torch.Tensor:
    name = session.get_inputs()[0].name
    rows = []
    for done, image in enumerate(images, start=1):
        outputs = session.run(None, {name: to_tensor(read_bgr(image), intrinsics.input)[0]})
        rows.append(np.concatenate([o[0].mean(axis=(1, 2)) for o in outputs]))
        progress(phase, done, len(images), image.name)
    return torch.from_numpy(np.stack(rows).astype(np.float32))


def classifier_network(features: bytes, weight: np.ndarray, bias: np.ndarray) -> bytes:
    """The feature extractor followed by pooling, concatenation, a linear layer and a softmax."""
    model = onnx.load_from_string(features)
    graph = model.graph
    pooled = []
    for k, output in enumerate(list(graph.output)):
        graph.node.append(helper.make_node("GlobalAveragePool", [output.name], [f"pool{k}"], name=f"pool{k}"))
        graph.node.append(helper.make_node("Flatten", [f"pool{k}"], [f"flat{k}"], name=f"flat{k}", axis=1))
        pooled.append(f"flat{k}")
    graph.node.append(helper.make_node("Concat", pooled, ["pooled"], name="concat", axis=1))
    graph.initializer.extend([numpy_helper.from_array(weight, "fc_w"), numpy_helper.from_array(bias, "fc_b")])
    graph.node.append(helper.make_node("Gemm", ["pooled", "fc_w", "fc_b"], ["logits"], name="fc", transB=1))
    graph.node.append(helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=1))
    graph.ClearField("output")
    graph.output.append(
        helper.make_tensor_value_info("probabilities", onnx.TensorProto.FLOAT, [1, int(weight.shape[0])])
    )
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def train_classifier(
    base: ModelPackage,
    classes: Sequence[str],
    train: Sequence[tuple[Path, int]],
    val: Sequence[tuple[Path, int]],
    settings: TrainSettings,
    out: Path,
    *,
    progress: ProgressCallback | None = None,
) -> ClassifierResult:
    """Train a classifier for ``classes`` on image/label pairs and write its package to ``out``.

    Raises:
        DatasetError: for an empty split or a base model that is not a NanoDet network.
    """
    require_nonempty(train, "training split")
    require_nonempty(val, "validation split")
    if base.intrinsics.decoder.name != "nanodet":
        raise DatasetError(f"base model {base.name}: classification training needs a nanodet base")
    report = progress or (lambda *_: None)
    torch.manual_seed(settings.seed)
    width, height = settings.input_size or (base.intrinsics.input.width, base.intrinsics.input.height)
    intrinsics = Intrinsics(
        task=Task.CLASSIFICATION,
        input=base.intrinsics.input.model_copy(update={"width": width, "height": height}),
        decoder=DecoderSpec(name="classification", params={"softmax": False, "top_k": min(5, len(classes))}),
        thresholds=base.intrinsics.thresholds.model_copy(update={"score": 0.0, "top_k": min(5, len(classes))}),
        tiling=Tiling(),
        inference_rate=base.intrinsics.inference_rate,
    )
    features_net, _ = feature_network(base.network, width, height)
    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.threads
    session = ort.InferenceSession(features_net, options, providers=["CPUExecutionProvider"])
    started = time.perf_counter()
    x_train = _pooled(session, [p for p, _ in train], intrinsics, report, "features (train)")
    x_val = _pooled(session, [p for p, _ in val], intrinsics, report, "features (val)")
    result = ClassifierResult(out, feature_seconds=time.perf_counter() - started)
    y_train = torch.tensor([c for _, c in train])
    y_val = torch.tensor([c for _, c in val])
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6  # standardise, folded into the layer below
    layer = torch.nn.Linear(x_train.shape[1], len(classes))
    optimizer = torch.optim.AdamW(layer.parameters(), lr=settings.learning_rate * 10, weight_decay=1e-3)
    best_acc, best_state = -1.0, layer.state_dict()
    for epoch in range(1, settings.epochs + 1):
        logits = layer((x_train - mean) / std)
        loss = torch.nn.functional.cross_entropy(logits, y_train)
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        with torch.no_grad():
            accuracy = float((layer((x_val - mean) / std).argmax(1) == y_val).float().mean())
        result.accuracy.append(accuracy)
        report("epochs", epoch, settings.epochs, f"loss {float(loss.detach()):.3f}  val top-1 {accuracy:.3f}")
        if accuracy > best_acc:
            best_acc, result.best_epoch = accuracy, epoch
            best_state = {k: v.clone() for k, v in layer.state_dict().items()}
        elif epoch - result.best_epoch >= settings.patience:
            break
    weight = (best_state["weight"] / std).numpy().astype(np.float32)
    bias = (best_state["bias"] - (best_state["weight"] * (mean / std)).sum(1)).numpy().astype(np.float32)
    network = classifier_network(features_net, weight, bias)
    write_package_atomic(
        out, model_id=settings.model_id, version=settings.version, network=network, labels=list(classes),
        intrinsics=intrinsics, extras=licences(base),
    )
    return result
