"""Decoders turn a network's output tensors into candidate boxes: one module per model family.

All are pure numpy; which one a model uses is named in its intrinsics (``decoder.name``).
"""

from __future__ import annotations

from edgesight.core.package import ModelPackage
from edgesight.sensor.decoders.base import Candidates, Decoder
from edgesight.sensor.decoders.classification import ClassificationDecoder
from edgesight.sensor.decoders.nanodet import NanoDetDecoder
from edgesight.sensor.decoders.nms import nms
from edgesight.sensor.decoders.ssd import SsdDecoder
from edgesight.sensor.decoders.yolo import YoloDecoder

__all__ = ["Candidates", "Decoder", "build_decoder", "nms"]


def build_decoder(package: ModelPackage) -> Decoder:
    """The decoder named by a package's intrinsics, configured from its parameters and extras."""
    spec = package.intrinsics.decoder
    size = (package.intrinsics.input.width, package.intrinsics.input.height)
    n = len(package.labels)
    if spec.name == "nanodet":
        return NanoDetDecoder(spec.params, num_classes=n, input_size=size)
    if spec.name == "ssd":
        return SsdDecoder(spec.params, num_classes=n, input_size=size, extras=package.extras)
    if spec.name == "yolo":
        return YoloDecoder(spec.params, num_classes=n)
    return ClassificationDecoder(spec.params, num_classes=n, input_size=size)
