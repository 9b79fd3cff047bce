"""A model of the small noise a pixel-level change puts on a sensor's detections, and its spread.

A change that alters pixels only by rounding (an ISP, a resizer, a codec build) leaves the
detector's precision and recall where they were but moves every box, score and colour vector a
little, and a tracker's id switches and IDF1 on one video move by more than the effects being
measured (vtest.avi: 17 -> 20 switches, IDF1 0.857 -> 0.819 from colour planes rounded by
libswscale instead of OpenCV). So a tracker is judged over several draws of that noise, each a
seeded perturbation of the cached detections:

* box corners: Gaussian, ``box_px`` at 768 px frame width (scaled with the width);
* scores: Gaussian, ``score``, then mapped back onto the video's own scores by rank, so the
  number of boxes above any threshold is unchanged (no box is added or dropped);
* appearance vectors: Gaussian per component, ``look``, clipped at 0 (they are histograms) and
  re-normalised to unit length.

Calibration: between the two vtest.avi caches that differ only by that ISP change, on boxes
matched at IoU > 0.8, the medians are: corner |difference| 0.62 px, score |difference| 0.029,
colour cosine 0.995. Two draws of this model should differ from each other as those two caches
do; each draw adds its own noise, so each sigma is the difference's divided by sqrt(2): corners
0.92 / sqrt 2 = 0.65 px, scores 0.043 / sqrt 2 = 0.03, looks 0.011 (1 - cosine 0.0025 from the
cached vector, 0.005 between two draws). Differences to the real change: its colour cosines have
a longer tail (5th percentile 0.966), and it also replaced about half of the boxes scoring
0.2-0.3 (NMS keeps another of a dozen near-equal candidates), a quarter of those at 0.3-0.45 and
3 % of those above. A perturbation cannot invent those boxes, so its spread is a lower bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgesight.core.detections import Detections

__all__ = ["Noise", "Spread", "perturb"]

REFERENCE_WIDTH = 768  # px: the width at which box_px is given (vtest.avi)


@dataclass(frozen=True)
class Noise:
    """Standard deviations of the perturbation (see the module docstring for where they come from)."""

    box_px: float = 0.65
    score: float = 0.03
    look: float = 0.011


def perturb(
    video: Sequence[Detections], size: tuple[int, int], seed: int, noise: Noise = Noise()
) -> list[Detections]:
    """Every frame's detections of ``video`` with boxes, scores and appearance vectors jittered.

    The same ``seed`` gives the same draw. Corners are re-ordered if a jitter crosses them and
    stay inside the ``size`` (width, height) frame, as the sensor's do. Scores are jittered, then
    mapped back onto the video's own scores by rank (the k-th lowest jittered score becomes the
    k-th lowest cached one): a jitter alone widens their distribution and, low scores being far
    more common, puts boxes over every threshold (vtest.avi at 0.03: +13 % above 0.25, where the
    trackers package starts tracks), which a pixel-level change does not do (33850 -> 33746 boxes).
    """
    rng = np.random.default_rng(seed)
    sigma = noise.box_px * size[0] / REFERENCE_WIDTH
    scores = np.concatenate([d.confidence for d in video]) if video else np.zeros(0)
    jittered = scores + rng.normal(0.0, noise.score, scores.shape)
    ranked = np.empty_like(scores)
    ranked[np.argsort(jittered, kind="stable")] = np.sort(scores)
    out = []
    start = 0
    for det in video:
        n = len(det)
        xyxy = det.xyxy.astype(np.float64) + rng.normal(0.0, sigma, (n, 4))
        x = np.clip(np.sort(xyxy[:, [0, 2]], axis=1), 0, size[0])
        y = np.clip(np.sort(xyxy[:, [1, 3]], axis=1), 0, size[1])
        boxes = np.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], axis=1).astype(det.xyxy.dtype)
        conf = ranked[start : start + n].astype(det.confidence.dtype)
        start += n
        moved = Detections.from_arrays(boxes, conf, det.class_id, det.class_name, det.tracker_id)
        out.append(moved if det.embedding is None else moved.with_embedding(_jitter_looks(det.embedding, rng, noise.look)))
    return out


def _jitter_looks(looks: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Unit histogram vectors plus Gaussian noise, clipped at 0 and re-normalised; all-zero rows
    (the sensor's "no look") stay all zero."""
    known = np.abs(looks).sum(axis=1) > 0
    moved = np.clip(looks + rng.normal(0.0, sigma, looks.shape), 0.0, None)
    norm = np.linalg.norm(moved, axis=1, keepdims=True)
    return np.where(known[:, None] & (norm > 0), moved / np.maximum(norm, 1e-12), 0.0).astype(looks.dtype)


@dataclass(frozen=True)
class Spread:
    """Mean, minimum and maximum of one figure over the seeded draws."""

    mean: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            raise ValueError("Spread.of: no values (run with --seeds >= 1)")
        return cls(float(np.mean(values)), float(np.min(values)), float(np.max(values)))
