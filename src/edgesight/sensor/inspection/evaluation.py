"""Judge a product before going live: image AUROC, pixel AUROC and PRO, confusion at its threshold."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesight.apps.inspection.errors import InspectionInputError
from edgesight.apps.inspection.metrics import Confusion, auroc, pro_score
from edgesight.sensor.inspection.inspector import Inspector
from edgesight.sensor.inspection.parts import IMAGE_SUFFIXES, fit_part, read_part, read_parts

__all__ = ["Evaluation", "evaluate"]


@dataclass(frozen=True)
class Evaluation:
    """Figures of one product on labelled parts (pixel figures only when masks were given)."""

    good: int
    defective: int
    image_auroc: float
    pixel_auroc: float | None
    pro: float | None
    threshold: float
    confusion: Confusion


def _mask_for(masks: Path, part: Path) -> Path:
    for stem in (part.stem, f"{part.stem}_mask"):
        for suffix in IMAGE_SUFFIXES:
            if (candidate := masks / f"{stem}{suffix}").is_file():
                return candidate
    raise InspectionInputError(f"{masks}: no mask for {part.name} (looked for {part.stem}[_mask].png and alike)")


def evaluate(inspector: Inspector, good: Path, defect: Path, masks: Path | None = None) -> Evaluation:
    """Score every part of ``good`` and ``defect``; masks are matched to defective parts by file stem."""
    size = inspector.product.settings.part_size
    scores, labels, maps, truth = [], [], [], []
    for label, folder in ((0, good), (1, defect)):
        for path, image in read_parts(folder):
            verdict = inspector.inspect(image)
            scores.append(verdict.score)
            labels.append(label)
            if masks is not None:
                maps.append(inspector.heatmap(verdict))
                if label:
                    mask = read_part(_mask_for(masks, path), grayscale=True)
                    truth.append(fit_part(mask, size) > 127)
                else:
                    truth.append(np.zeros((size[1], size[0]), bool))
    y, s = np.array(labels), np.array(scores)
    pixel_auroc = pro = None
    if masks is not None:
        stacked_truth, stacked_maps = np.stack(truth), np.stack(maps)
        if not stacked_truth.any():
            raise InspectionInputError(f"{masks}: every mask is empty; pixel figures need marked defects")
        pixel_auroc = auroc(stacked_truth, stacked_maps)
        pro = pro_score(stacked_truth, stacked_maps)
    return Evaluation(
        good=int((y == 0).sum()),
        defective=int((y == 1).sum()),
        image_auroc=auroc(y, s),
        pixel_auroc=pixel_auroc,
        pro=pro,
        threshold=inspector.threshold,
        confusion=Confusion.at(y, s, inspector.threshold),
    )
