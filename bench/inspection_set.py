"""A seeded offline inspection test set: real textures cut into parts, with synthetic defects and masks.

Textures are scikit-image's bundled sample photographs, 512x512 grey, shipped inside the wheel so
nothing is downloaded: ``brick`` (regular), ``grass`` and ``gravel`` (stochastic), and ``moon`` (a
smooth, low-contrast pitted surface, the nearest the wheel has to a cast or matte metal part; its
own craters are normal variation, present in training parts too). The wheel has no fabric or
brushed-metal photograph; its other images are scenes, not surfaces. A *part* is a 256x256 crop at a random
offset, rotated by up to +-3 degrees and scaled in brightness by up to +-4%, as parts vary on a
line. A defective part gets one defect of a random kind, size and contrast, and a mask of it:

* scratch: a straight line 1-3 px wide, 30-120 px long, brighter or darker by 45-110 grey levels;
* hole: a filled ellipse of 4-14 px radius, near black;
* crack: a random walk of 6-14 steps of 5-11 px, 1-2 px wide, dark;
* stain: a Gaussian blob of 10-28 px radius blended 35-65% toward a light or dark tone.

The same seed gives byte-identical images. Layout written by :func:`write_set` (MVTec AD-like)::

    OUT/<texture>/train/good/*.png  test/good/*.png  test/defect/*.png  ground_truth/defect/*.png

Usage: ``python bench/inspection_set.py OUT [--train 40] [--test-good 20] [--test-defect 20]``.
Held-out parts come from the same photograph as the training parts (a 512x512 image holds few
distinct 256x256 crops), so they overlap training parts in area though never in exact placement.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from skimage import data as skdata

TEXTURES = ("brick", "grass", "gravel", "moon")
PART_SIZE = 256
DEFECT_KINDS = ("scratch", "hole", "crack", "stain")


@dataclass(frozen=True)
class Part:
    """One part: a BGR image, and for defective parts the defect's kind and binary mask."""

    image: np.ndarray
    mask: np.ndarray | None = None
    kind: str = "good"


def _texture(name: str) -> np.ndarray:
    image: np.ndarray = getattr(skdata, name)()
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def _cut(texture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height, width = texture.shape
    x = int(rng.integers(0, width - PART_SIZE + 1))
    y = int(rng.integers(0, height - PART_SIZE + 1))
    angle = float(rng.uniform(-3.0, 3.0))
    rotation = cv2.getRotationMatrix2D((x + PART_SIZE / 2, y + PART_SIZE / 2), angle, 1.0)
    rotation[:, 2] -= (x, y)
    part = cv2.warpAffine(texture, rotation, (PART_SIZE, PART_SIZE), borderMode=cv2.BORDER_REFLECT)
    gain = float(rng.uniform(0.96, 1.04))
    return np.clip(part.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def _point(rng: np.random.Generator, margin: int = 24) -> tuple[int, int]:
    return int(rng.integers(margin, PART_SIZE - margin)), int(rng.integers(margin, PART_SIZE - margin))


def _scratch(part: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    mask = np.zeros_like(part)
    cx, cy = _point(rng)
    length, angle = rng.uniform(30, 120), rng.uniform(0, np.pi)
    dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
    cv2.line(mask, (int(cx - dx), int(cy - dy)), (int(cx + dx), int(cy + dy)), 255, int(rng.integers(1, 4)))
    shift = float(rng.uniform(45, 110)) * (1 if rng.random() < 0.5 else -1)
    out = np.where(mask > 0, np.clip(part.astype(np.float32) + shift, 0, 255), part)
    return out.astype(np.uint8), mask


def _hole(part: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    mask = np.zeros_like(part)
    axes = (int(rng.integers(4, 15)), int(rng.integers(4, 15)))
    cv2.ellipse(mask, _point(rng), axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
    out = part.copy()
    out[mask > 0] = rng.integers(5, 35)
    return out, mask


def _crack(part: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    mask = np.zeros_like(part)
    x, y = _point(rng, margin=60)
    heading = rng.uniform(0, 2 * np.pi)
    points = [(x, y)]
    for _ in range(int(rng.integers(6, 15))):
        heading += rng.uniform(-0.7, 0.7)
        step = rng.uniform(5, 11)
        x, y = x + np.cos(heading) * step, y + np.sin(heading) * step
        points.append((x, y))
    cv2.polylines(mask, [np.array(points, np.int32)], False, 255, int(rng.integers(1, 3)))
    out = part.copy()
    out[mask > 0] = (part[mask > 0] * rng.uniform(0.1, 0.35)).astype(np.uint8)
    return out, mask


def _stain(part: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    cx, cy = _point(rng)
    radius = float(rng.uniform(10, 28))
    yy, xx = np.mgrid[:PART_SIZE, :PART_SIZE]
    alpha = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (radius / 2) ** 2)) * rng.uniform(0.35, 0.65)
    tone = 235.0 if rng.random() < 0.5 else 20.0
    out = part.astype(np.float32) * (1 - alpha) + tone * alpha
    mask = (alpha > 0.15).astype(np.uint8) * 255
    return np.clip(out, 0, 255).astype(np.uint8), mask


_DRAW: dict[str, Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]] = {
    "scratch": _scratch, "hole": _hole, "crack": _crack, "stain": _stain,
}  # fmt: skip


def make_parts(texture: str, good: int, defective: int, seed: int = 0) -> tuple[list[Part], list[Part]]:
    """``good`` good parts and ``defective`` defective parts of one texture (kinds in turn).

    Example:
        >>> good, bad = make_parts("brick", 1, 2, seed=3)
        >>> good[0].image.shape, [p.kind for p in bad], bool(bad[0].mask.any())
        ((256, 256, 3), ['scratch', 'hole'], True)
    """
    texture_image = _texture(texture)
    rng = np.random.default_rng([seed, TEXTURES.index(texture) if texture in TEXTURES else 99])
    bgr = lambda gray: cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)  # noqa: E731
    goods = [Part(bgr(_cut(texture_image, rng))) for _ in range(good)]
    defects = []
    for i in range(defective):
        kind = DEFECT_KINDS[i % len(DEFECT_KINDS)]
        image, mask = _DRAW[kind](_cut(texture_image, rng), rng)
        defects.append(Part(bgr(image), mask, kind))
    return goods, defects


def write_set(out: Path, texture: str, train: int, test_good: int, test_defect: int, seed: int = 0) -> Path:
    """Write one texture's train/test/ground_truth folders under ``out/texture`` and return that folder."""
    goods, defects = make_parts(texture, train + test_good, test_defect, seed)
    root = out / texture
    folders = {name: root / name for name in ("train/good", "test/good", "test/defect", "ground_truth/defect")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(goods):
        split = "train/good" if i < train else "test/good"
        cv2.imwrite(str(folders[split] / f"{i:03d}.png"), part.image)
    for i, part in enumerate(defects):
        assert part.mask is not None
        cv2.imwrite(str(folders["test/defect"] / f"{i:03d}_{part.kind}.png"), part.image)
        cv2.imwrite(str(folders["ground_truth/defect"] / f"{i:03d}_{part.kind}.png"), part.mask)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--train", type=int, default=40)
    parser.add_argument("--test-good", type=int, default=20)
    parser.add_argument("--test-defect", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for texture in TEXTURES:
        root = write_set(args.out, texture, args.train, args.test_good, args.test_defect, args.seed)
        print(f"{root}: {args.train} train, {args.test_good} good + {args.test_defect} defective test parts")


if __name__ == "__main__":
    main()
