"""A package's int8 twin: the same model, its network quantized with calibration images."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edgesight.core.errors import EdgeSightError
from edgesight.core.package import ModelPackage, read_package
from edgesight.factory.datasets import require_nonempty
from edgesight.factory.preprocess import read_bgr, to_tensor
from edgesight.factory.quantize import nanodet_int8, nanodet_plus_int8
from edgesight.factory.train_detector import write_package_atomic

__all__ = ["calibration_tensors", "quantize_package"]


def calibration_tensors(package: ModelPackage, images: Sequence[Path]) -> Iterator[npt.NDArray[np.float32]]:
    """Input tensors of the images, pre-processed as the sensor would for this package."""
    for image in images:
        yield to_tensor(read_bgr(image), package.intrinsics.input)[0]


def quantize_package(package: ModelPackage, images: Sequence[Path], out: Path, model_id: str) -> ModelPackage:
    """Write the int8 version of an fp32 NanoDet package to ``out`` (atomically) and return it.

    Sensitive layers stay float: the first convolution and the heads (see
    :func:`edgesight.factory.quantize.nanodet_int8`).

    Raises:
        EdgeSightError: if the package is not an fp32 NanoDet detector or there are no images.
    """
    if package.intrinsics.decoder.name != "nanodet" or package.intrinsics.precision != "fp32":
        raise EdgeSightError(
            f"{package.source}: quantize takes an fp32 nanodet package, got {package.intrinsics.precision} "
            f"{package.intrinsics.decoder.name}"
        )
    require_nonempty(images, "calibration images")
    # NanoDet-Plus (ncnn export, ``chw`` outputs) also quantizes its channel shuffles, as the zoo's int8.
    plus = package.intrinsics.decoder.params.get("layout") == "chw"
    network = (nanodet_plus_int8 if plus else nanodet_int8)(package.network, calibration_tensors(package, images))
    write_package_atomic(
        out,
        model_id=model_id,
        version=package.version,
        network=network,
        labels=list(package.labels),
        intrinsics=package.intrinsics.model_copy(update={"precision": "int8"}),
        extras=dict(package.extras),
    )
    return read_package(out)
