"""NanoDet-Plus packages: the decoder against a plain per-cell reading of the network's maths."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from edgesight.core.package import ModelPackage
from edgesight.sensor.decoders import build_decoder
from edgesight.sensor.isp import Isp
from edgesight.sensor.runtime import OnnxNetwork
from edgesight.sensor.sources import open_source
from edgesight.sensor.zoo import load_model

PLUS_MODELS = [
    "nanodet-plus-m-416-int8", "nanodet-plus-m-416-fp32", "nanodet-plus-m-320-int8", "nanodet-plus-m-320-fp32",
]  # fmt: skip
STRIDES, BINS = (8, 16, 32, 64), 8


def reference_decode(outputs: list[np.ndarray], size: int, threshold: float) -> list[tuple[float, ...]]:
    """NanoDet-Plus' post-processing written out cell by cell: best class, then per side the
    softmax expectation of 8 bins times the stride, around the corner-aligned centre."""
    found = []
    for k, s in enumerate(STRIDES):
        cls, dis = outputs[2 * k][0], outputs[2 * k + 1][0]  # (80, H, W), (32, H, W)
        rows, cols = cls.shape[1], cls.shape[2]
        assert (rows, cols) == (math.ceil(size / s), math.ceil(size / s))
        for row in range(rows):
            for col in range(cols):
                scores = cls[:, row, col]
                best = int(np.argmax(scores))
                if scores[best] < threshold:
                    continue
                sides = []
                for side in range(4):
                    logits = dis[side * BINS : (side + 1) * BINS, row, col].astype(np.float64)
                    weights = np.exp(logits - logits.max())
                    sides.append(float((weights / weights.sum()) @ np.arange(BINS)) * s)
                cx, cy = col * s, row * s
                found.append(
                    (cx - sides[0], cy - sides[1], cx + sides[2], cy + sides[3], float(scores[best]), best)
                )
    return sorted(found)


@pytest.fixture(scope="module")
def frame_400(vtest_path: Path):  # type: ignore[no-untyped-def]
    with open_source(str(vtest_path)) as source:
        return next(f for f in source if f.index == 400)


@pytest.mark.parametrize("name", PLUS_MODELS)
def test_decoder_matches_the_reference_maths(name: str, frame_400) -> None:  # type: ignore[no-untyped-def]
    package = load_model(name)
    size = package.intrinsics.input.width
    tensor = Isp(package.intrinsics.input).process(frame_400)[0].tensor
    outputs = OnnxNetwork(package).run(tensor)
    threshold = 0.3
    cands = build_decoder(package)(outputs, threshold)
    ours = sorted(
        (*box, float(score), int(cid))
        for box, score, cid in zip(cands.xyxy.tolist(), cands.scores, cands.class_ids, strict=True)
    )
    expected = reference_decode(outputs, size, threshold)
    assert len(expected) >= 5  # the walkway has people at this frame
    assert len(ours) == len(expected)
    # Matched one to one rather than compared in sorted order: int8 outputs give ties (two boxes
    # with the same left edge), which float32 and float64 may sort differently.
    remaining = list(ours)
    for row in expected:
        match = next((k for k, r in enumerate(remaining) if np.allclose(r, row, rtol=0, atol=1e-3)), None)
        assert match is not None, f"reference candidate {row} not among ours: {remaining}"
        remaining.pop(match)


def test_plus_packages_carry_their_layout_and_licence() -> None:
    package: ModelPackage = load_model("nanodet-plus-m-416-int8")
    intr = package.intrinsics
    assert intr.decoder.params == {
        "strides": [8, 16, 32, 64],
        "bins": 8,
        "centre_offset": 0.0,
        "layout": "chw",
    }
    assert intr.input.resize.value == "stretch" and intr.input.color.value == "BGR"
    assert intr.precision == "int8"
    assert b"Apache License" in package.extras["LICENSES/LICENSE.nanodet-Apache-2.0"]
    assert b"1481b2417f57f93460e06c16bc170c24e4d1ed5a" in package.extras["LICENSES/SOURCE.md"]
