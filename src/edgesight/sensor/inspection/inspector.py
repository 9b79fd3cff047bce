"""Train a product from good parts, and inspect parts with it.

Training: patch features of most good parts fill the memory bank (greedy k-center coreset of a
random projection of them); the rest are held out and their scores calibrate the threshold for
the target false-reject rate. Inspection: one feature-network run, one nearest-neighbour search,
then the decision with the threshold in force at that moment (changeable at run time).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgesight.apps.inspection.calibration import MIN_HELD_OUT, calibrate_threshold
from edgesight.apps.inspection.errors import InspectionInputError
from edgesight.apps.inspection.features import random_projection
from edgesight.apps.inspection.memory_bank import MemoryBank, greedy_coreset
from edgesight.apps.inspection.model import InspectionModel, Verdict
from edgesight.apps.inspection.product import InspectionProduct, ProductSettings, check_product_name
from edgesight.apps.inspection.scoring import PIXEL_SIGMA
from edgesight.core.package import read_package
from edgesight.sensor.inspection.backbone import (
    BACKBONE_MODEL,
    FEATURE_STRIDE,
    BackboneSpec,
    FeatureNetwork,
    cut_feature_network,
)
from edgesight.sensor.inspection.parts import fit_part
from edgesight.sensor.zoo import resolve_model

__all__ = ["MIN_GOOD_PARTS", "MIN_TRAIN_PARTS", "Inspector", "TrainOptions", "part_size_of", "train_product"]

log = logging.getLogger(__name__)

MIN_TRAIN_PARTS = 3
MIN_GOOD_PARTS = MIN_TRAIN_PARTS + MIN_HELD_OUT
"""Smallest good set: a few parts for the bank and two held out to calibrate the threshold."""
_SIZE_MULTIPLE = 16  # the coarse stage's stride: its grid must divide the fine one exactly


@dataclass(frozen=True)
class TrainOptions:
    """Knobs of training (defaults follow PatchCore's, scaled to a small CPU).

    Attributes:
        held_out: share of good parts kept out of the bank to calibrate the threshold.
        false_reject_rate: target share of good parts rejected.
        coreset_ratio: share of patch features kept in the bank.
        max_bank: most features kept in the bank, whatever the good set's size: the search per
            part grows with the bank, so this bounds the latency.
        projection_dim: dimension of the random projection of patch features.
        border_cells: edge cells not judged.
        seed: seeds the split, the projection and the coreset's start.
    """

    held_out: float = 0.2
    false_reject_rate: float = 0.01
    coreset_ratio: float = 0.1
    max_bank: int = 4096
    projection_dim: int = 128
    border_cells: int = 2
    seed: int = 0


def part_size_of(image: np.ndarray) -> tuple[int, int]:
    """The product's part size for parts like ``image``: its size rounded down to a multiple of 16.

    Example:
        >>> part_size_of(np.zeros((250, 300, 3), np.uint8))
        (288, 240)
    """
    height, width = image.shape[:2]
    return width // _SIZE_MULTIPLE * _SIZE_MULTIPLE, height // _SIZE_MULTIPLE * _SIZE_MULTIPLE


def train_product(
    product_id: str,
    good_parts: Sequence[np.ndarray],
    options: TrainOptions | None = None,
    backbone: str = BACKBONE_MODEL,
    version: str | None = None,
) -> InspectionProduct:
    """Train a product from same-size BGR good parts (see :func:`edgesight.sensor.inspection.parts.read_parts`)."""
    options = options or TrainOptions()
    check_product_name(product_id)
    if len(good_parts) < MIN_GOOD_PARTS:
        raise InspectionInputError(
            f"the good set has {len(good_parts)} parts; training needs at least {MIN_GOOD_PARTS} "
            f"({MIN_TRAIN_PARTS} for the memory bank, {MIN_HELD_OUT} held out to calibrate the threshold)"
        )
    package = read_package(resolve_model(backbone))
    network, spec = cut_feature_network(package)
    features = FeatureNetwork(network, spec)
    size = part_size_of(good_parts[0])
    order = np.random.default_rng(options.seed).permutation(len(good_parts))
    n_held = max(MIN_HELD_OUT, round(len(good_parts) * options.held_out))
    held, train = order[:n_held], order[n_held:]
    stacked = np.concatenate([features.patches(fit_part(good_parts[i], size))[0] for i in train])
    projection = random_projection(stacked.shape[1], options.projection_dim, options.seed)
    projected = stacked @ projection
    started = time.perf_counter()
    bank_size = min(options.max_bank, max(1, int(len(projected) * options.coreset_ratio)))
    keep = greedy_coreset(projected, bank_size, options.seed)
    log.info("coreset of %d from %d features in %.1f s", len(keep), len(projected), time.perf_counter() - started)
    model = InspectionModel(
        MemoryBank(projected[keep]), threshold=0.0, stride=FEATURE_STRIDE,
        border_cells=options.border_cells, pixel_sigma=PIXEL_SIGMA,
    )  # fmt: skip
    # held-out parts are scored exactly as at run time: projected inside the network
    projected_features = FeatureNetwork(network, spec, projection=projection)
    scores = np.array([_judge(projected_features, model, fit_part(good_parts[i], size)).score for i in held])
    threshold = calibrate_threshold(scores, options.false_reject_rate)
    settings = ProductSettings(
        part_size=size, mean=spec.mean, std=spec.std, backbone=spec.source, stride=FEATURE_STRIDE,
        border_cells=options.border_cells, threshold=threshold, false_reject_rate=options.false_reject_rate,
        calibration_scores=tuple(round(float(s), 6) for s in scores), train_parts=len(train),
        pixel_sigma=PIXEL_SIGMA,
    )  # fmt: skip
    licences = {name: data for name, data in package.extras.items() if name.startswith("LICENSES/")}
    return InspectionProduct(
        id=product_id,
        # The UTC training time as a PEP 440 version (2026.1130.73600), so a later training is a
        # higher version and the downgrade check (--accepted-versions) can order them.
        version=version or time.strftime("%Y.%m%d.%H%M%S", time.gmtime()),
        settings=settings,
        network=network,
        bank=projected[keep],
        projection=projection,
        licences=licences,
    )


def _judge(features: FeatureNetwork, model: InspectionModel, part: np.ndarray) -> Verdict:
    patches, grid = features.patches(part)
    return model.judge(patches, grid)


class Inspector:
    """Judges parts of one product; the threshold can be changed while it runs.

    Args:
        product: a loaded product.
        threads: ONNX Runtime threads of the feature network.

    Attributes:
        features: the feature network, with the pooling and projection inside it.
        model: the decision (memory bank and threshold).
    """

    def __init__(self, product: InspectionProduct, threads: int = 2) -> None:
        self.product = product
        s = product.settings
        spec = BackboneSpec(s.backbone, s.mean, s.std)
        self.features = FeatureNetwork(product.network, spec, threads, projection=product.projection)
        self.model = InspectionModel(
            MemoryBank(product.bank), s.threshold, s.stride, border_cells=s.border_cells, pixel_sigma=s.pixel_sigma
        )

    @property
    def threshold(self) -> float:
        """The threshold in force."""
        return self.model.threshold

    def set_threshold(self, threshold: float) -> None:
        """Change the threshold without a restart; the next part is judged with it."""
        self.model.set_threshold(threshold)
        log.info("product %s: threshold set to %.4f", self.product.id, self.model.threshold)

    def apply_twin(self, desired: Mapping[str, Any]) -> bool:
        """Take this product's threshold from a device twin's desired state, if it names one.

        The twin key is ``inspection.thresholds.<product id>`` (a number). Returns whether the
        threshold changed.
        """
        section = desired.get("inspection")
        thresholds = section.get("thresholds") if isinstance(section, Mapping) else None
        if not isinstance(thresholds, Mapping) or self.product.id not in thresholds:
            return False
        value = thresholds[self.product.id]
        if value == self.threshold:
            return False
        self.set_threshold(value)
        return True

    def inspect(self, part: np.ndarray) -> Verdict:
        """Judge one BGR part (resized to the product's part size if it differs)."""
        return _judge(self.features, self.model, fit_part(part, self.product.settings.part_size))

    def heatmap(self, verdict: Verdict) -> np.ndarray:
        """The verdict's anomaly map at the part's pixel size."""
        return verdict.pixel_map if verdict.pixel_map is not None else self.model.heatmap(verdict.grid_map)
