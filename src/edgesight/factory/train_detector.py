"""Transfer learning of a detector on the CPU: frozen NanoDet features computed once, head towers trained on them.

The shipped network is cut before the last ``tower_convs`` convolutions of each stride's head
tower (:mod:`edgesight.factory.nanodet_graph`). The part before the cut (backbone and feature
pyramid, the costly part) runs once per image in ONNX Runtime and its outputs are kept in memory
as float16; each epoch then runs only the towers and 1x1 heads in PyTorch, starting from the base
network's weights (a class whose name the base knows keeps its head row, e.g. ``person`` from COCO).
After every epoch: validation mAP50 / mAP50-95, a checkpoint (``last.pt``, and ``best.pt`` when
mAP50-95 improved), early stopping after ``patience`` epochs without improvement. The base
network is validated first (epoch 0) and is the first candidate, so training never ships weights
worse on validation than those it started from. ``resume`` continues from ``last.pt``.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort
import supervision as sv
import torch

from edgesight.core.intrinsics import Intrinsics, Tiling
from edgesight.core.package import ModelPackage, write_package
from edgesight.factory.datasets import DatasetError, DetectionSample, require_nonempty
from edgesight.factory.detection_head import Grid, NanoDetHead, Targets, assign, loss
from edgesight.factory.evaluate import (
    EVAL_SCORE_THRESHOLD,
    Accuracy,
    best_score_threshold,
    decode,
    mean_average_precision,
    targets_of,
)
from edgesight.factory.nanodet_graph import feature_network, head_weights, tower_weights, with_heads
from edgesight.factory.preprocess import Letterbox, read_bgr, to_tensor

__all__ = ["EpochResult", "ProgressCallback", "TrainResult", "TrainSettings", "licences", "train_detector", "write_package_atomic"]

log = logging.getLogger(__name__)
_EVAL_CHUNK = 32  # validation images through the heads at once


@dataclass(frozen=True)
class TrainSettings:
    """What to train and how; every default suits a few hundred images on 2 cores."""

    model_id: str
    version: str = "1.0.0"
    input_size: tuple[int, int] | None = None
    """(width, height) of the trained network; None keeps the base network's."""
    epochs: int = 200
    batch_size: int = 16
    learning_rate: float = 3e-4
    patience: int = 20
    seed: int = 0
    threads: int = 2
    flip: bool = True
    """Also train on each training image's left-right mirror (twice the feature time and epoch time)."""
    tower_convs: int = 4
    """Convs of each stride's head tower trained along with the 1x1 head (0: only the head).

    4 is NanoDet-Plus' whole tower (two depthwise + pointwise blocks); NanoDet's has 1."""


@dataclass
class EpochResult:
    epoch: int
    loss: float
    accuracy: Accuracy
    seconds: float


@dataclass
class TrainResult:
    package: Path
    history: list[EpochResult] = field(default_factory=list)
    best_epoch: int = 0
    feature_seconds: float = 0.0
    score_threshold: float = 0.0
    initial: Accuracy | None = None
    """Validation accuracy of the base network's heads, before any training (epoch 0)."""

    @property
    def best(self) -> EpochResult:
        """The epoch whose heads were shipped (epoch 0: the base heads, no epoch beat them)."""
        if self.best_epoch == 0 and self.initial is not None:
            return EpochResult(0, float("nan"), self.initial, 0.0)
        return next(r for r in self.history if r.epoch == self.best_epoch)


@dataclass
class _Cached:
    features: list[torch.Tensor]  # per stride (N, C, H, W) float16
    targets: list[Targets]
    letterboxes: list[Letterbox]
    labels: list[sv.Detections]


ProgressCallback = Callable[[str, int, int, str], None]
"""``(phase, done, total, message)``; phases ``features`` and ``epochs``."""


def _stack_features(
    session: ort.InferenceSession,
    samples: Sequence[DetectionSample],
    intrinsics: Intrinsics,
    grid: Grid,
    progress: ProgressCallback,
    phase: str,
    flip: bool = False,
) -> _Cached:
    """Features and targets of every sample; with ``flip``, of its mirror image too.

    Cached features cannot be augmented, so the one augmentation is made before caching: a
    left-right mirror is as plausible a view of the scene as the frame itself.
    """
    name = session.get_inputs()[0].name
    per_level: list[list[np.ndarray]] = [[] for _ in grid.shapes]
    targets, boxes, labels = [], [], []
    for done, sample in enumerate(samples, start=1):
        bgr = read_bgr(sample.image)
        views = [(bgr, sample.xyxy)]
        if flip:
            width = bgr.shape[1]
            mirrored = sample.xyxy[:, [2, 1, 0, 3]] * np.array([-1, 1, -1, 1], np.float32) + np.array([width, 0, width, 0], np.float32)
            views.append((np.ascontiguousarray(bgr[:, ::-1]), mirrored.astype(np.float32)))
        for image, xyxy in views:
            tensor, letterbox = to_tensor(image, intrinsics.input)
            for level, out in enumerate(session.run(None, {name: tensor})):
                per_level[level].append(out[0].astype(np.float16))
            targets.append(assign(grid, letterbox.to_input(xyxy), sample.class_ids))
            boxes.append(letterbox)
        labels.append(targets_of(sample))
        progress(phase, done, len(samples), sample.image.name)
    features = [torch.from_numpy(np.stack(level)) for level in per_level]
    return _Cached(features, targets, boxes, labels)


def _base_rows(classes: Sequence[str], base_labels: Sequence[str]) -> list[int | None]:
    index = {name.strip().lower(): i for i, name in enumerate(base_labels)}
    return [index.get(c.strip().lower()) for c in classes]


def _validate(head: NanoDetHead, cached: _Cached, grid: Grid, intrinsics: Intrinsics) -> list[sv.Detections]:
    centres, strides = grid.centres.numpy(), grid.strides.numpy()
    predictions = []
    with torch.no_grad():
        for i in range(len(cached.targets)):
            if i % _EVAL_CHUNK == 0:
                cls, reg = head([f[i : i + _EVAL_CHUNK] for f in cached.features])
                scores, regs = cls.sigmoid().numpy(), reg.reshape(*reg.shape[:2], -1).numpy()
            det = decode(
                scores[i % _EVAL_CHUNK],
                regs[i % _EVAL_CHUNK],
                centres,
                strides,
                score_threshold=EVAL_SCORE_THRESHOLD,
                iou_threshold=intrinsics.thresholds.iou,
                max_detections=intrinsics.thresholds.max_detections,
            )
            if len(det):
                det.xyxy = cached.letterboxes[i].to_image(np.asarray(det.xyxy, np.float32))
            predictions.append(det)
    return predictions


def _strides(intrinsics: Intrinsics) -> list[int]:
    return [int(s) for s in intrinsics.decoder.params.get("strides", [8, 16, 32])]


def _centre_offset(intrinsics: Intrinsics) -> float:
    return float(intrinsics.decoder.params.get("centre_offset", 0.5))


def train_detector(
    base: ModelPackage,
    classes: Sequence[str],
    train: Sequence[DetectionSample],
    val: Sequence[DetectionSample],
    settings: TrainSettings,
    workdir: Path,
    out: Path,
    *,
    resume: bool = False,
    progress: ProgressCallback | None = None,
    on_epoch: Callable[[EpochResult, bool], None] | None = None,
) -> TrainResult:
    """Train NanoDet head towers for ``classes`` on ``train``, validate on ``val``, write the package ``out``.

    Raises:
        DatasetError: for an empty split, or a base model that is not a NanoDet detector.
    """
    require_nonempty(train, "training split")
    require_nonempty(val, "validation split")
    if base.intrinsics.decoder.name != "nanodet":
        raise DatasetError(f"base model {base.name}: detection training needs a nanodet base, got {base.intrinsics.decoder.name}")
    report = progress or (lambda *_: None)
    torch.manual_seed(settings.seed)
    torch.set_num_threads(settings.threads)
    strides = _strides(base.intrinsics)
    width, height = settings.input_size or (base.intrinsics.input.width, base.intrinsics.input.height)
    # Upsampling paths start at stride 32 at most; NanoDet-Plus' stride-64 level is only
    # downsampled (its cells are rounded up, as the zoo's 416x416 shows).
    align = min(max(strides), 32)
    if width % align or height % align:
        raise DatasetError(f"input size {width}x{height}: both sides must be multiples of {align}")
    intrinsics = base.intrinsics.model_copy(
        update={
            "input": base.intrinsics.input.model_copy(update={"width": width, "height": height}),
            "tiling": Tiling(),
            "precision": "fp32",
        }
    )
    features_net, heads = feature_network(base.network, width, height, settings.tower_convs)
    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.threads
    session = ort.InferenceSession(features_net, options, providers=["CPUExecutionProvider"])
    grid = Grid.build(width, height, strides, _centre_offset(intrinsics))

    started = time.perf_counter()
    train_cache = _stack_features(session, train, intrinsics, grid, report, "features (train)", settings.flip)
    val_cache = _stack_features(session, val, intrinsics, grid, report, "features (val)")
    result = TrainResult(out, feature_seconds=time.perf_counter() - started)
    cached_shapes = tuple(tuple(f.shape[2:]) for f in train_cache.features)
    if cached_shapes != grid.shapes:
        raise DatasetError(f"base model {base.name} at {width}x{height}: feature maps {cached_shapes}, expected {grid.shapes}")

    channels = [f.shape[1] for f in train_cache.features]
    towers = [h.tower for h in heads.heads]
    head = NanoDetHead(channels, len(classes), heads.bins, towers, tower_weights(base.network, settings.tower_convs))
    head.init_from(head_weights(base.network), _base_rows(classes, base.labels))
    optimizer = torch.optim.AdamW(head.parameters(), lr=settings.learning_rate, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.epochs)
    workdir.mkdir(parents=True, exist_ok=True)
    last, best_path = workdir / "last.pt", workdir / "best.pt"
    start_epoch, best_map = 1, -1.0
    if resume and last.is_file():
        state = torch.load(last, weights_only=True)
        head.load_state_dict(state["head"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        start_epoch, best_map = state["epoch"] + 1, state["best_map"]
        result.history, result.best_epoch = [_epoch_from(r) for r in state["history"]], state["best_epoch"]
        log.info("resumed from %s at epoch %d", last, start_epoch)

    t0 = time.perf_counter()
    result.initial = mean_average_precision(_validate(head, val_cache, grid, intrinsics), val_cache.labels)
    if start_epoch == 1:
        # The base heads are the first candidate: a run that never beats them ships them unchanged.
        best_map = result.initial.map50_95
        _atomic_save({"head": head.state_dict(), "epoch": 0}, best_path)
    if on_epoch is not None:
        on_epoch(EpochResult(0, float("nan"), result.initial, time.perf_counter() - t0), False)
    n = len(train_cache.targets)
    for epoch in range(start_epoch, settings.epochs + 1):
        t0 = time.perf_counter()
        head.train()
        # One generator per epoch: a resumed run shuffles exactly as an uninterrupted one.
        order = torch.randperm(n, generator=torch.Generator().manual_seed(settings.seed * 100_003 + epoch))
        total, batches = 0.0, 0
        for first in range(0, n, settings.batch_size):
            idx = order[first : first + settings.batch_size]
            cls, reg = head([f[idx] for f in train_cache.features])
            batch_loss = loss(head, grid, cls, reg, [train_cache.targets[i] for i in idx.tolist()])
            optimizer.zero_grad()
            batch_loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            total += float(batch_loss.detach())
            batches += 1
        schedule.step()
        head.eval()
        accuracy = mean_average_precision(_validate(head, val_cache, grid, intrinsics), val_cache.labels)
        epoch_result = EpochResult(epoch, total / max(1, batches), accuracy, time.perf_counter() - t0)
        result.history.append(epoch_result)
        improved = accuracy.map50_95 > best_map
        if improved:
            best_map, result.best_epoch = accuracy.map50_95, epoch
            _atomic_save({"head": head.state_dict(), "epoch": epoch}, best_path)
        _atomic_save(
            {
                "head": head.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "epoch": epoch,
                "best_map": best_map,
                "best_epoch": result.best_epoch,
                "history": [_epoch_to(r) for r in result.history],
            },
            last,
        )
        report("epochs", epoch, settings.epochs, f"loss {epoch_result.loss:.3f}  {accuracy}")
        if on_epoch is not None:
            on_epoch(epoch_result, improved)
        if epoch - result.best_epoch >= settings.patience:
            log.info("early stop at epoch %d: no better mAP50-95 since epoch %d", epoch, result.best_epoch)
            break

    head.load_state_dict(torch.load(best_path, weights_only=True)["head"])
    head.eval()
    predictions = _validate(head, val_cache, grid, intrinsics)
    result.score_threshold, _ = best_score_threshold(predictions, val_cache.labels)
    intrinsics = intrinsics.model_copy(
        update={"thresholds": intrinsics.thresholds.model_copy(update={"score": result.score_threshold})}
    )
    network = with_heads(
        base.network, head.export(), len(classes), width, height, strides, head.export_towers() if settings.tower_convs else None
    )
    write_package_atomic(
        out, model_id=settings.model_id, version=settings.version, network=network, labels=list(classes),
        intrinsics=intrinsics, extras=licences(base),
    )
    return result


def _epoch_to(r: EpochResult) -> list[float]:
    """Plain numbers, so checkpoints load with ``weights_only=True`` (no pickled classes)."""
    return [r.epoch, r.loss, r.accuracy.map50, r.accuracy.map50_95, r.seconds]


def _epoch_from(values: list[float]) -> EpochResult:
    epoch, loss_value, map50, map50_95, seconds = values
    return EpochResult(int(epoch), loss_value, Accuracy(map50, map50_95), seconds)


def licences(base: ModelPackage) -> dict[str, bytes]:
    """The base network's licence texts travel with every model derived from it."""
    return {name: data for name, data in base.extras.items() if name.startswith("LICENSES/")}


def _atomic_save(state: dict[str, object], path: Path) -> None:
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        torch.save(state, tmp)
    os.replace(tmp.name, path)


def write_package_atomic(path: Path, **kwargs: object) -> Path:
    """:func:`write_package` to a temporary file beside ``path``, renamed when complete.

    A failure or interruption leaves no half-written package behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write_package(Path(tmp), **kwargs)  # type: ignore[arg-type]
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path

