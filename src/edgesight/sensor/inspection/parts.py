"""Part images from folders and videos, with one clear error per bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from edgesight.apps.inspection.errors import InspectionInputError

__all__ = ["IMAGE_SUFFIXES", "MIN_PART_SIDE", "fit_part", "image_files", "read_part", "read_parts", "video_parts"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
MIN_PART_SIDE = 64
"""Smallest part side: below it the stride-16 stage has too few cells to compare."""


def image_files(folder: Path) -> list[Path]:
    """Image files of ``folder`` in name order; an error if it is missing or holds none."""
    if not folder.is_dir():
        raise InspectionInputError(f"{folder}: not a folder of part images")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InspectionInputError(f"{folder}: holds no part images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def read_part(path: Path, grayscale: bool = False) -> np.ndarray:
    """One image as BGR uint8 (or a single channel); an error naming the file if it cannot be read."""
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE if grayscale else cv2.IMREAD_COLOR)
    if image is None:
        raise InspectionInputError(f"{path}: not a readable image")
    if min(image.shape[:2]) < MIN_PART_SIDE:
        raise InspectionInputError(
            f"{path}: {image.shape[1]}x{image.shape[0]} is too small, parts need at least {MIN_PART_SIDE} px a side"
        )
    return np.asarray(image)


def read_parts(folder: Path) -> list[tuple[Path, np.ndarray]]:
    """Every part image of ``folder``; all must have the same size (one product, one camera view)."""
    parts = [(path, read_part(path)) for path in image_files(folder)]
    first_path, first = parts[0]
    for path, image in parts[1:]:
        if image.shape != first.shape:
            raise InspectionInputError(
                f"{path}: {image.shape[1]}x{image.shape[0]} differs from {first_path.name} "
                f"{first.shape[1]}x{first.shape[0]}; parts of one set must have one size"
            )
    return parts


def video_parts(path: Path, every: int) -> Iterator[tuple[str, np.ndarray]]:
    """Parts from a video: every ``every``-th frame, as a line trigger at a fixed cadence would take them."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise InspectionInputError(f"{path}: not a readable video")
    try:
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if index % every == 0:
                yield f"{path.stem}-{index:06d}", frame
            index += 1
    finally:
        capture.release()


def fit_part(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a part to the product's ``(width, height)`` (a no-op when it already fits)."""
    if (image.shape[1], image.shape[0]) == size:
        return image
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
