"""Labelled images for training: detection datasets (YOLO, COCO, Pascal VOC) and class folders.

supervision's loaders read the three detection formats. They are lenient where training must not
be: a YOLO label file without an image is skipped, a COCO image that is not on disk fails only when
first read, a box may reach outside its image. So each dataset is checked first, and every problem
raises :class:`DatasetError` naming the file (and line, or annotation id) and the value.
"""

from __future__ import annotations

import json
import random
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import yaml

from edgesight.core.errors import EdgeSightError
from edgesight.core.exit_codes import ExitCode

__all__ = ["IMAGE_SUFFIXES", "ClassificationData", "DatasetError", "DatasetFormat", "DetectionData", "DetectionSample", "load_detection", "load_folders", "require_nonempty", "split"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
T = TypeVar("T")
_EDGE_TOLERANCE_PX = 1.0  # annotation tools round box edges; a pixel past the border is not an error


class DatasetError(EdgeSightError):
    """A training dataset is missing, malformed or empty; the message names the file and line."""

    exit_code = ExitCode.USAGE


class DatasetFormat(StrEnum):
    YOLO = "yolo"
    COCO = "coco"
    VOC = "voc"
    FOLDERS = "folders"
    """Classification: one sub-folder of images per class."""


@dataclass(frozen=True)
class DetectionSample:
    """One image and its boxes (``xyxy`` pixels) with class ids into the dataset's classes."""

    image: Path
    xyxy: npt.NDArray[np.float32]
    class_ids: npt.NDArray[np.int64]


@dataclass(frozen=True)
class DetectionData:
    classes: tuple[str, ...]
    samples: tuple[DetectionSample, ...]


@dataclass(frozen=True)
class ClassificationData:
    classes: tuple[str, ...]
    samples: tuple[tuple[Path, int], ...]


def load_detection(root: Path, fmt: DatasetFormat) -> DetectionData:
    """Check and load a detection dataset.

    Layouts: YOLO ``root/data.yaml``, ``root/images/``, ``root/labels/``; COCO ``root/images/`` and
    ``root/annotations.json``; VOC ``root/JPEGImages/`` and ``root/Annotations/``.

    Raises:
        DatasetError: naming the file and line (or annotation) of the first problem, or the
            dataset if it has no images.
    """
    import supervision as sv  # the `factory` extra; imported here so the CLI starts without it

    if not root.is_dir():
        raise DatasetError(f"dataset not found: {root}")
    if fmt is DatasetFormat.YOLO:
        _check_yolo(root)
        ds = sv.DetectionDataset.from_yolo(str(root / "images"), str(root / "labels"), str(root / "data.yaml"))
    elif fmt is DatasetFormat.COCO:
        _check_coco(root / "annotations.json", root / "images")
        ds = sv.DetectionDataset.from_coco(str(root / "images"), str(root / "annotations.json"))
    elif fmt is DatasetFormat.VOC:
        _check_voc(root / "Annotations", root / "JPEGImages")
        ds = sv.DetectionDataset.from_pascal_voc(str(root / "JPEGImages"), str(root / "Annotations"))
    else:
        raise DatasetError(f"{fmt.value} is not a detection dataset format (use yolo, coco or voc)")
    samples = []
    for path in ds.image_paths:
        det = ds.annotations[path]
        xyxy = det.xyxy.astype(np.float32).reshape(-1, 4)
        ids = (det.class_id if det.class_id is not None else np.zeros(len(xyxy))).astype(np.int64)
        samples.append(DetectionSample(Path(path), xyxy, ids))
    if not samples:
        raise DatasetError(f"{root}: the dataset has no images")
    samples.sort(key=lambda s: s.image.name)
    return DetectionData(tuple(ds.classes), tuple(samples))


def load_folders(root: Path) -> ClassificationData:
    """Classification data: ``root/<class>/<image>``; classes in sorted folder-name order.

    Raises:
        DatasetError: if ``root`` has fewer than two class folders or a class folder has no image.
    """
    if not root.is_dir():
        raise DatasetError(f"dataset not found: {root}")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise DatasetError(f"{root}: a classification dataset needs at least two class folders, found {classes}")
    samples: list[tuple[Path, int]] = []
    for index, name in enumerate(classes):
        images = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise DatasetError(f"{root / name}: class folder has no images ({', '.join(IMAGE_SUFFIXES)})")
        samples.extend((p, index) for p in images)
    return ClassificationData(tuple(classes), tuple(samples))


def split(items: Sequence[T], val_fraction: float, seed: int, source: str) -> tuple[list[T], list[T]]:
    """A seeded random train/validation split; both parts must be non-empty.

    Example:
        >>> split(list(range(10)), 0.2, seed=0, source="demo")
        ([0, 1, 2, 3, 4, 5, 6, 9], [7, 8])
    """
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    n_val = round(len(items) * val_fraction)
    val_idx = set(order[:n_val])
    train = [item for i, item in enumerate(items) if i not in val_idx]
    val = [item for i, item in enumerate(items) if i in val_idx]
    require_nonempty(train, f"{source} (train split, val fraction {val_fraction})")
    require_nonempty(val, f"{source} (validation split, val fraction {val_fraction})")
    return train, val


def require_nonempty(items: Sequence[object], what: str) -> None:
    """Raise :class:`DatasetError` naming ``what`` when a split has no samples."""
    if not items:
        raise DatasetError(f"{what}: the split is empty, nothing to train or validate on")


def _check_box(
    where: str, box: Sequence[float], width: float, height: float, tol: float = _EDGE_TOLERANCE_PX
) -> None:
    x1, y1, x2, y2 = box
    if not (x2 > x1 and y2 > y1):
        raise DatasetError(f"{where}: box {[round(v, 2) for v in box]} has no area")
    if x1 < -tol or y1 < -tol or x2 > width + tol or y2 > height + tol:
        raise DatasetError(
            f"{where}: box {[round(v, 2) for v in box]} (x1, y1, x2, y2) lies outside the "
            f"{width:g}x{height:g} image"
        )


def _check_yolo(root: Path) -> None:
    data_yaml, images, labels = root / "data.yaml", root / "images", root / "labels"
    for need in (data_yaml, images, labels):
        if not need.exists():
            raise DatasetError(f"{root}: YOLO dataset needs {need.name} ({need} not found)")
    try:
        names = yaml.safe_load(data_yaml.read_text()).get("names")
    except (yaml.YAMLError, AttributeError) as exc:
        raise DatasetError(f"{data_yaml}: not a YOLO data.yaml with 'names' ({exc})") from exc
    if not isinstance(names, list | dict) or not names:
        raise DatasetError(f"{data_yaml}: 'names' must be a non-empty list of class names, got {names!r}")
    stems = {p.stem for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    for label in sorted(labels.glob("*.txt")):
        if label.stem not in stems:
            raise DatasetError(f"{label}: no image {label.stem}.* for this label file in {images}")
        for number, line in enumerate(label.read_text().splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            where = f"{label}:{number}"
            if len(fields) != 5:
                raise DatasetError(f"{where}: expected 'class cx cy w h', got {line!r}")
            try:
                class_id, cx, cy, w, h = int(fields[0]), *map(float, fields[1:])
            except ValueError as exc:
                raise DatasetError(f"{where}: not numbers: {line!r}") from exc
            if not 0 <= class_id < len(names):
                raise DatasetError(f"{where}: class id {class_id} unknown (data.yaml has {len(names)} classes)")
            _check_box(where, (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), 1.0, 1.0, tol=1e-3)


def _check_coco(annotations: Path, images: Path) -> None:
    if not annotations.is_file():
        raise DatasetError(f"COCO annotations not found: {annotations}")
    try:
        coco = json.loads(annotations.read_text())
    except ValueError as exc:
        raise DatasetError(f"{annotations}: not valid JSON ({exc})") from exc
    categories = {c["id"] for c in coco.get("categories", [])}
    sizes: dict[int, tuple[int, int]] = {}
    for image in coco.get("images", []):
        path = images / image["file_name"]
        if not path.is_file():
            raise DatasetError(f"{annotations}: image id {image['id']}: file {path} not found")
        sizes[image["id"]] = (image["width"], image["height"])
    for ann in coco.get("annotations", []):
        where = f"{annotations}: annotation id {ann.get('id')}"
        if ann.get("category_id") not in categories:
            raise DatasetError(f"{where}: category_id {ann.get('category_id')} unknown (categories {sorted(categories)})")
        if ann.get("image_id") not in sizes:
            raise DatasetError(f"{where}: image_id {ann.get('image_id')} is not in 'images'")
        x, y, w, h = ann["bbox"]
        _check_box(where, (x, y, x + w, y + h), *sizes[ann["image_id"]])


def _check_voc(annotations: Path, images: Path) -> None:
    if not annotations.is_dir() or not images.is_dir():
        raise DatasetError(f"VOC dataset needs {annotations} and {images}")
    for xml in sorted(annotations.glob("*.xml")):
        try:
            root = ET.parse(xml).getroot()
        except ET.ParseError as exc:
            raise DatasetError(f"{xml}: not valid XML ({exc})") from exc
        stem = xml.stem
        if not any((images / f"{stem}{s}").is_file() for s in IMAGE_SUFFIXES):
            raise DatasetError(f"{xml}: no image {stem}.* in {images}")
        size = root.find("size")
        if size is None:
            raise DatasetError(f"{xml}: no <size> element")
        width, height = float(size.findtext("width", "0")), float(size.findtext("height", "0"))
        for number, obj in enumerate(root.iter("object"), start=1):
            box = obj.find("bndbox")
            if box is None:
                raise DatasetError(f"{xml}: object {number} has no <bndbox>")
            coords = [float(box.findtext(k, "nan")) for k in ("xmin", "ymin", "xmax", "ymax")]
            _check_box(f"{xml}: object {number} ({obj.findtext('name')})", coords, width, height)
