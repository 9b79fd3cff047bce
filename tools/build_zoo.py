"""Package the converted networks into the model zoo (src/edgesight/zoo/*.espkg).

Input: build/onnx/ from tools/convert_nanodet.sh and tools/convert_ssdlite.sh, and the NanoDet-Plus
ONNX files vendored in tools/vendor/nanodet-plus/ (provenance there). The int8 variants are made
here with EdgeSight's own quantizer, calibrated on real frames passed through the same ISP the
sensor uses, so calibration sees exactly what inference will see: frames of vtest.avi, and for
NanoDet-Plus also the offline photos of scikit-image and matplotlib (people, objects, a cat), so
the activation ranges are not those of one scene.

    python tools/build_zoo.py [--calibration data/vtest.avi] [--frames 32] [--only nanodet-plus]
    python tools/build_zoo.py --pins     # only re-pin the packages already in the zoo

Every build ends by writing ``zoo/pins.json``: the SHA-256 of each package, which is how the
runtime trusts the zoo (docs/package-trust.md). Adding a package to the zoo means re-pinning.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edgesight.core.intrinsics import Intrinsics
from edgesight.core.package import PACKAGE_SUFFIX, write_package
from edgesight.core.trust import sha256_file
from edgesight.factory.quantize import nanodet_int8, nanodet_plus_int8
from edgesight.sensor.isp import Isp
from edgesight.sensor.sources import Frame, open_source

ROOT = Path(__file__).resolve().parent.parent
ONNX_DIR = ROOT / "build" / "onnx"
ZOO = ROOT / "src" / "edgesight" / "zoo"
LICENSES = ROOT / "tools" / "licenses"
VERSION = "1.0.0"
VENDOR = ROOT / "tools" / "vendor"
PLUS_VERSION = "1.0.0"
PLUS_INT8_VERSION = "1.1.0"
"""1.1.0: the output convolutions in int8 too (their Splits stay float), 4 % faster a pass."""

NANODET = {
    "task": "detection",
    "input": {
        "width": 416,
        "height": 416,
        "layout": "NCHW",
        "dtype": "float32",
        "color": "BGR",
        "resize": "letterbox",
        "pad_value": 0,
        # NanoDet's training normalisation (per-channel BGR mean and std).
        "mean": [103.53, 116.28, 123.675],
        "std": [57.375, 57.12, 58.395],
    },
    "decoder": {"name": "nanodet", "params": {"strides": [8, 16, 32], "bins": 11}},
    # Chosen on vtest.avi against tests/data/vtest_people.csv (bench/accuracy.py): two side-by-side
    # tiles show far people larger than the whole frame would (recall 0.91 vs 0.89), and 0.50 drops
    # a traffic cone NanoDet scores 0.35-0.45 as a person (precision 0.98 vs 0.74 at 0.35).
    "thresholds": {"score": 0.5, "iou": 0.6, "max_detections": 100},
    "tiling": {"rows": 1, "cols": 2, "overlap": 0.2, "include_full": False},
    "inference_rate": 30,
}


def nanodet_plus(size: int) -> dict[str, object]:
    """Intrinsics of NanoDet-Plus-m at ``size`` (see tools/vendor/nanodet-plus/SOURCE.md)."""
    return {
        "task": "detection",
        "input": {
            "width": size,
            "height": size,
            "layout": "NCHW",
            "dtype": "float32",
            "color": "BGR",
            # Trained on stretched images: letterboxing costs accuracy.
            "resize": "stretch",
            "mean": [103.53, 116.28, 123.675],
            "std": [57.375, 57.12, 58.395],
        },
        # ncnn export: (1, C, H, W) outputs, 4 strides, reg_max 7 (8 bins), centres on the grid
        # corners (with +0.5 the boxes shift by half a cell and accuracy drops sharply).
        "decoder": {
            "name": "nanodet",
            "params": {"strides": [8, 16, 32, 64], "bins": 8, "centre_offset": 0.0, "layout": "chw"},
        },
        # 0.45 against tests/data/vtest_people.csv (bench/accuracy.py) keeps precision >= 0.95
        # with the traffic cone below it; IoU 0.6 as NanoDet. No tiles by default: the sensor
        # adds them only where the ROI is much larger than the input (sensor/tiling_policy.py).
        "thresholds": {"score": 0.45, "iou": 0.6, "max_detections": 100},
        "inference_rate": 30,
    }


SSDLITE = {
    "task": "detection",
    "input": {
        "width": 300,
        "height": 300,
        "layout": "NCHW",
        "dtype": "float32",
        "color": "RGB",
        "resize": "stretch",
        "mean": [127.5, 127.5, 127.5],
        "std": [127.5, 127.5, 127.5],
    },
    "decoder": {"name": "ssd", "params": {"anchors": "anchors.npy", "scale_factors": [10, 10, 5, 5]}},
    "thresholds": {"score": 0.35, "iou": 0.6, "max_detections": 100},
    "inference_rate": 30,
}


def licence_files(model: str) -> dict[str, bytes]:
    return {f"LICENSES/{p.name}": p.read_bytes() for p in sorted((LICENSES / model).iterdir())}


def calibration_tensors(intrinsics: Intrinsics, video: Path, count: int) -> Iterator[npt.NDArray[np.float32]]:
    """``count`` frames spread over the whole video, through the sensor's own ISP."""
    isp = Isp(intrinsics.input)
    with open_source(str(video)) as source:
        total = source.frame_count or 800
        step = max(1, total // count)
        for frame in source:
            if frame.index % step == step // 2:
                yield isp.process(frame)[0].tensor  # type: ignore[misc]


def photo_tensors(intrinsics: Intrinsics) -> Iterator[npt.NDArray[np.float32]]:
    """The offline photos of scikit-image and matplotlib through the sensor's ISP (whole image)."""
    import matplotlib.cbook
    import skimage.data

    isp = Isp(intrinsics.input)
    rgb = [getattr(skimage.data, name)() for name in ("astronaut", "coffee", "chelsea", "rocket")]
    rgb.append(np.stack([skimage.data.camera()] * 3, axis=2))
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        import cv2

        rgb.append(cv2.imdecode(np.frombuffer(f.read(), np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1])
    for k, image in enumerate(rgb):
        frame = Frame.from_bgr(k, 0.0, np.ascontiguousarray(image[:, :, ::-1]))
        yield isp.process(frame)[0].tensor  # type: ignore[misc]


def build_nanodet_plus(labels: list[str], video: Path, frames: int) -> None:
    """``nanodet-plus-m-{416,320}-{fp32,int8}`` from the vendored ONNX files."""
    extras = licence_files("nanodet-plus")
    for size in (416, 320):
        fp32 = (VENDOR / "nanodet-plus" / f"nanodet_plus_m_{size}.onnx").read_bytes()
        intr = Intrinsics.model_validate(nanodet_plus(size))
        name = f"nanodet-plus-m-{size}"
        write_package(
            ZOO / f"{name}-fp32.espkg", model_id=f"{name}-fp32", version=PLUS_VERSION, network=fp32,
            labels=labels, intrinsics=intr, extras=extras,
        )  # fmt: skip
        calibration = itertools.chain(calibration_tensors(intr, video, frames), photo_tensors(intr))
        write_package(
            ZOO / f"{name}-int8.espkg", model_id=f"{name}-int8", version=PLUS_INT8_VERSION,
            network=nanodet_plus_int8(fp32, calibration), labels=labels,
            intrinsics=intr.model_copy(update={"precision": "int8"}), extras=extras,
        )  # fmt: skip


def write_pins(zoo: Path = ZOO) -> Path:
    """Pin every package in ``zoo`` by SHA-256 in ``zoo/pins.json`` (sorted, so diffs stay small)."""
    pins = {p.name: sha256_file(p) for p in sorted(zoo.glob(f"*{PACKAGE_SUFFIX}"))}
    path = zoo / "pins.json"
    path.write_text(json.dumps(pins, indent=2) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibration", type=Path, default=ROOT / "data" / "vtest.avi")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--pins", action="store_true", help="only re-pin the packages already in the zoo")
    parser.add_argument("--only", choices=["nanodet-plus"], help="build only these packages")
    args = parser.parse_args()
    if args.pins:
        print(f"pinned {write_pins().relative_to(ROOT)}")
        return

    labels = (ROOT / "tools" / "labels" / "coco80.txt").read_text().splitlines()
    build_nanodet_plus(labels, args.calibration, args.frames)
    if args.only is None:
        build_converted(labels, args.calibration, args.frames)
    for p in sorted(ZOO.glob("*.espkg")):
        print(f"{p.relative_to(ROOT)}  {p.stat().st_size / 1e6:.1f} MB")
    print(f"pinned {write_pins().relative_to(ROOT)}")


def build_converted(labels: list[str], video: Path, frames: int) -> None:
    """NanoDet (g) and SSDlite from build/onnx/ (the conversion scripts' output)."""
    nanodet_fp32 = (ONNX_DIR / "nanodet-coco.fp32.onnx").read_bytes()
    intr = Intrinsics.model_validate(NANODET)
    write_package(
        ZOO / "nanodet-coco-fp32.espkg",
        model_id="nanodet-coco-fp32",
        version=VERSION,
        network=nanodet_fp32,
        labels=labels,
        intrinsics=intr,
        extras=licence_files("nanodet"),
    )
    int8 = nanodet_int8(nanodet_fp32, calibration_tensors(intr, video, frames))
    write_package(
        ZOO / "nanodet-coco-int8.espkg",
        model_id="nanodet-coco-int8",
        version=VERSION,
        network=int8,
        labels=labels,
        intrinsics=intr.model_copy(update={"precision": "int8"}),
        extras=licence_files("nanodet"),
    )

    ssd = Intrinsics.model_validate(SSDLITE)
    write_package(
        ZOO / "ssdlite-person.espkg",
        model_id="ssdlite-person",
        version=VERSION,
        network=(ONNX_DIR / "ssdlite-person.fp32.onnx").read_bytes(),
        labels=["person"],
        intrinsics=ssd,
        extras={
            "anchors.npy": (ONNX_DIR / "ssdlite-person.anchors.npy").read_bytes(),
            **licence_files("ssdlite"),
        },
    )


if __name__ == "__main__":
    main()
