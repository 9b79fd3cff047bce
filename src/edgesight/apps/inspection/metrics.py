"""How well scores separate good from defective: image and pixel AUROC, PRO, confusion at a threshold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, stats  # type: ignore[import-untyped,unused-ignore]

from edgesight.apps.inspection.errors import InspectionInputError

__all__ = ["PRO_FPR_LIMIT", "Confusion", "auroc", "pro_score"]

PRO_FPR_LIMIT = 0.3
"""PRO is integrated up to this false-positive rate, as in MVTec AD."""


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U), ties counted half.

    Example:
        >>> auroc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
        0.75
    """
    positive = labels.astype(bool).ravel()
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise InspectionInputError(f"AUROC needs both classes, got {n_pos} defective and {n_neg} good")
    ranks = stats.rankdata(scores.ravel())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pro_score(masks: np.ndarray, maps: np.ndarray, fpr_limit: float = PRO_FPR_LIMIT, steps: int = 200) -> float:
    """Per-region overlap, normalised area under the PRO curve up to ``fpr_limit`` (MVTec AD).

    Each connected defect region counts the same whatever its size, so a missed small scratch
    weighs as much as a missed large stain.

    Example:
        >>> masks = np.zeros((1, 4, 4), bool); masks[0, :2, :2] = True
        >>> maps = masks.astype(np.float32)
        >>> round(pro_score(masks, maps), 3)
        1.0
    """
    masks = masks.astype(bool)
    negatives = maps[~masks]
    if negatives.size == 0 or not masks.any():
        raise InspectionInputError("PRO needs defect pixels and good pixels")
    regions: list[tuple[int, np.ndarray]] = []
    for i, mask in enumerate(masks):
        labels, count = ndimage.label(mask)
        regions.extend((i, labels == k) for k in range(1, count + 1))
    levels = np.unique(np.quantile(maps, np.linspace(0.0, 1.0, steps)))[::-1]
    fprs, pros = [0.0], [0.0]
    for t in levels:
        fprs.append(float(np.mean(negatives >= t)))
        pros.append(float(np.mean([np.mean(maps[i][region] >= t) for i, region in regions])))
    fpr, pro = np.asarray(fprs), np.asarray(pros)
    at_limit = float(np.interp(fpr_limit, fpr, pro))
    keep = fpr < fpr_limit
    curve_fpr = np.append(fpr[keep], fpr_limit)
    curve_pro = np.append(pro[keep], at_limit)
    return float(np.trapezoid(curve_pro, curve_fpr) / fpr_limit)


@dataclass(frozen=True)
class Confusion:
    """Decisions at one threshold against the truth (defective = positive = reject)."""

    true_rejects: int
    false_rejects: int
    escapes: int
    true_passes: int

    @classmethod
    def at(cls, labels: np.ndarray, scores: np.ndarray, threshold: float) -> Confusion:
        """Count decisions ``score > threshold`` against ``labels`` (1 = defective).

        Example:
            >>> Confusion.at(np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.7, 0.2]), 0.5)
            Confusion(true_rejects=1, false_rejects=1, escapes=1, true_passes=1)
        """
        defective, rejected = labels.astype(bool), scores > threshold
        return cls(
            true_rejects=int(np.sum(defective & rejected)),
            false_rejects=int(np.sum(~defective & rejected)),
            escapes=int(np.sum(defective & ~rejected)),
            true_passes=int(np.sum(~defective & ~rejected)),
        )
