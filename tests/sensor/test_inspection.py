"""Inspection with the shipped feature network on real texture photographs with synthetic defects."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgesight.apps.inspection.errors import InspectionInputError
from edgesight.apps.inspection.metrics import auroc
from edgesight.apps.inspection.product import read_product, write_product
from edgesight.core.twin import merge_patch
from edgesight.sensor.inspection.inspector import Inspector, train_product
from edgesight.sensor.inspection.parts import read_parts
from inspection_set import make_parts


@pytest.fixture(scope="module")
def brick() -> tuple[Inspector, list[np.ndarray], list[np.ndarray]]:
    goods, defects = make_parts("brick", 18, 8, seed=7)
    product = train_product("brick", [p.image for p in goods[:12]])
    held_out_good = [p.image for p in goods[12:]]
    return Inspector(product), held_out_good, [p.image for p in defects]


def test_trained_product_finds_synthetic_defects_on_held_out_parts(
    brick: tuple[Inspector, list[np.ndarray], list[np.ndarray]],
) -> None:
    inspector, good, defective = brick
    scores = [inspector.inspect(p).score for p in good + defective]
    labels = np.array([0] * len(good) + [1] * len(defective))
    assert auroc(labels, np.array(scores)) >= 0.85


def test_rejected_part_has_a_region_and_a_pixel_heatmap(
    brick: tuple[Inspector, list[np.ndarray], list[np.ndarray]],
) -> None:
    inspector, _, defective = brick
    hole = defective[1]  # kinds go scratch, hole, crack, stain
    inspector.set_threshold(0.0)
    try:
        verdict = inspector.inspect(hole)
    finally:
        inspector.set_threshold(inspector.product.settings.threshold)
    assert not verdict.passed and verdict.region is not None
    assert inspector.heatmap(verdict).shape == (256, 256)


def test_threshold_from_the_twin_changes_decisions_without_restart(
    brick: tuple[Inspector, list[np.ndarray], list[np.ndarray]],
) -> None:
    inspector, good, _ = brick
    part = good[0]
    calibrated = inspector.threshold
    desired = merge_patch({}, {"inspection": {"thresholds": {"brick": 0.0}}})
    try:
        assert inspector.apply_twin(desired)
        assert not inspector.inspect(part).passed
        desired = merge_patch(desired, {"inspection": {"thresholds": {"brick": calibrated * 10}}})
        assert inspector.apply_twin(desired)
        assert inspector.inspect(part).passed
        assert not inspector.apply_twin({"inspection": {"thresholds": {"other-product": 0.0}}})
    finally:
        inspector.set_threshold(calibrated)


def test_product_file_round_trip_judges_alike(
    brick: tuple[Inspector, list[np.ndarray], list[np.ndarray]], tmp_path: Path
) -> None:
    inspector, good, _ = brick
    reloaded = Inspector(read_product(write_product(tmp_path / "brick.esinsp", inspector.product)))
    assert reloaded.threshold == inspector.threshold
    assert reloaded.inspect(good[0]).score == pytest.approx(inspector.inspect(good[0]).score, rel=1e-5)
    assert "LICENSES/LICENSE.nanodet-Apache-2.0" in reloaded.product.licences


def test_too_small_good_set_is_refused() -> None:
    goods, _ = make_parts("grass", 4, 0)
    with pytest.raises(InspectionInputError, match="the good set has 4 parts; training needs at least 5"):
        train_product("grass", [p.image for p in goods])


def test_mixed_sizes_unreadable_and_empty_folders_are_refused(tmp_path: Path) -> None:
    goods, _ = make_parts("gravel", 2, 0)
    cv2.imwrite(str(tmp_path / "a.png"), goods[0].image)
    cv2.imwrite(str(tmp_path / "b.png"), goods[1].image[:200])
    with pytest.raises(InspectionInputError, match=r"b.png: 256x200 differs from a.png 256x256"):
        read_parts(tmp_path)
    (tmp_path / "b.png").write_bytes(b"not an image")
    with pytest.raises(InspectionInputError, match=r"b.png: not a readable image"):
        read_parts(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InspectionInputError, match=r"empty: holds no part images"):
        read_parts(empty)
