"""Detection datasets in YOLO, COCO and VOC: loading, and clear errors naming the file and line."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgesight.factory.datasets import DatasetError, DatasetFormat, load_detection, load_folders, split

W, H = 64, 48


def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((H, W, 3), 128, np.uint8))


def yolo(root: Path, labels: dict[str, str], names: tuple[str, ...] = ("person", "car")) -> Path:
    (root / "labels").mkdir(parents=True)
    (root / "data.yaml").write_text("names:\n" + "".join(f"  - {n}\n" for n in names))
    for stem, text in labels.items():
        _image(root / "images" / f"{stem}.png")
        (root / "labels" / f"{stem}.txt").write_text(text)
    return root


def coco(root: Path, annotations: list[dict[str, object]], files: tuple[str, ...] = ("a.png", "b.png")) -> Path:
    for name in files:
        _image(root / "images" / name)
    doc = {
        "images": [{"id": i + 1, "file_name": name, "width": W, "height": H} for i, name in enumerate(("a.png", "b.png"))],
        "categories": [{"id": 1, "name": "person"}],
        "annotations": annotations,
    }
    (root / "annotations.json").write_text(json.dumps(doc))
    return root


def voc(root: Path, box: tuple[int, int, int, int], with_image: bool = True) -> Path:
    (root / "Annotations").mkdir(parents=True)
    (root / "JPEGImages").mkdir(parents=True)
    if with_image:
        _image(root / "JPEGImages" / "a.jpg")
    x1, y1, x2, y2 = box
    (root / "Annotations" / "a.xml").write_text(
        f"<annotation><filename>a.jpg</filename><size><width>{W}</width><height>{H}</height><depth>3</depth></size>"
        f"<object><name>person</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax>"
        "</bndbox></object></annotation>"
    )
    return root


def test_yolo_loads_boxes_in_pixels(tmp_path: Path) -> None:
    data = load_detection(yolo(tmp_path, {"a": "1 0.5 0.5 0.25 0.5\n", "b": ""}), DatasetFormat.YOLO)
    assert data.classes == ("person", "car")
    a, b = data.samples
    assert a.xyxy.tolist() == [[24.0, 12.0, 40.0, 36.0]] and a.class_ids.tolist() == [1]
    assert len(b.xyxy) == 0


def test_yolo_unknown_class_names_file_and_line(tmp_path: Path) -> None:
    yolo(tmp_path, {"a": "0 0.5 0.5 0.1 0.1\n3 0.5 0.5 0.1 0.1\n"})
    with pytest.raises(DatasetError, match=r"labels/a\.txt:2: class id 3 unknown \(data.yaml has 2 classes\)"):
        load_detection(tmp_path, DatasetFormat.YOLO)


def test_yolo_box_outside_image_names_file_and_line(tmp_path: Path) -> None:
    yolo(tmp_path, {"a": "0 0.95 0.5 0.3 0.1\n"})
    with pytest.raises(DatasetError, match=r"labels/a\.txt:1: box .* lies outside"):
        load_detection(tmp_path, DatasetFormat.YOLO)


def test_yolo_label_without_image_is_an_error(tmp_path: Path) -> None:
    yolo(tmp_path, {"a": "0 0.5 0.5 0.1 0.1\n"})
    (tmp_path / "labels" / "ghost.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(DatasetError, match=r"labels/ghost\.txt: no image ghost\.\*"):
        load_detection(tmp_path, DatasetFormat.YOLO)


def test_yolo_without_images_is_an_empty_dataset(tmp_path: Path) -> None:
    yolo(tmp_path, {})
    (tmp_path / "images").mkdir()
    with pytest.raises(DatasetError, match="has no images"):
        load_detection(tmp_path, DatasetFormat.YOLO)


def test_coco_loads_and_checks(tmp_path: Path) -> None:
    ann = {"id": 7, "image_id": 1, "category_id": 1, "bbox": [10, 5, 20, 30], "area": 600, "iscrowd": 0}
    data = load_detection(coco(tmp_path / "ok", [ann]), DatasetFormat.COCO)
    assert data.classes == ("person",)
    assert data.samples[0].xyxy.tolist() == [[10.0, 5.0, 30.0, 35.0]]

    coco(tmp_path / "missing", [ann], files=("a.png",))
    with pytest.raises(DatasetError, match=r"image id 2: file .*b\.png not found"):
        load_detection(tmp_path / "missing", DatasetFormat.COCO)

    outside = {**ann, "bbox": [50, 5, 40, 10]}
    coco(tmp_path / "outside", [outside])
    with pytest.raises(DatasetError, match=r"annotation id 7: box \[50, 5, 90, 15\] .* outside the 64x48 image"):
        load_detection(tmp_path / "outside", DatasetFormat.COCO)

    unknown = {**ann, "category_id": 9}
    coco(tmp_path / "unknown", [unknown])
    with pytest.raises(DatasetError, match=r"annotation id 7: category_id 9 unknown"):
        load_detection(tmp_path / "unknown", DatasetFormat.COCO)


def test_voc_loads_and_checks(tmp_path: Path) -> None:
    data = load_detection(voc(tmp_path / "ok", (4, 6, 20, 30)), DatasetFormat.VOC)
    assert data.classes == ("person",)
    # VOC corners are 1-based pixel indices: supervision moves the top-left one to 0-based.
    assert data.samples[0].xyxy.round().tolist() == [[3.0, 5.0, 20.0, 30.0]]
    with pytest.raises(DatasetError, match=r"a\.xml: object 1 \(person\): box .* outside"):
        load_detection(voc(tmp_path / "outside", (4, 6, 90, 30)), DatasetFormat.VOC)
    with pytest.raises(DatasetError, match=r"a\.xml: no image a\.\*"):
        load_detection(voc(tmp_path / "noimage", (4, 6, 20, 30), with_image=False), DatasetFormat.VOC)


def test_empty_split_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"validation split.*empty"):
        split([1, 2, 3], 0.01, seed=0, source="demo")


def test_folders(tmp_path: Path) -> None:
    for cls, count in (("cat", 2), ("dog", 1)):
        for i in range(count):
            _image(tmp_path / cls / f"{i}.png")
    data = load_folders(tmp_path)
    assert data.classes == ("cat", "dog") and [c for _, c in data.samples] == [0, 0, 1]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"empty: class folder has no images"):
        load_folders(tmp_path)
