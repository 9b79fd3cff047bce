"""The maths of inspection on real texture patches: coreset, nearest neighbours, calibration, metrics, product files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from skimage import data as skdata

from edgesight.apps.inspection.calibration import calibrate_threshold
from edgesight.apps.inspection.errors import InspectionInputError
from edgesight.apps.inspection.memory_bank import MemoryBank, greedy_coreset
from edgesight.apps.inspection.metrics import Confusion, auroc, pro_score
from edgesight.apps.inspection.model import InspectionModel
from edgesight.apps.inspection.product import (
    InspectionProduct,
    ProductSettings,
    product_path,
    read_product,
    write_product,
)
from edgesight.core.errors import ModelLoadError


def _brick_patches(n: int = 2000, side: int = 4) -> np.ndarray:
    """Flattened 4x4 patches of scikit-image's brick photograph, as stand-in features."""
    image = skdata.brick().astype(np.float32) / 255.0
    rng = np.random.default_rng(1)
    ys, xs = rng.integers(0, image.shape[0] - side, n), rng.integers(0, image.shape[1] - side, n)
    return np.stack([image[y : y + side, x : x + side].ravel() for y, x in zip(ys, xs, strict=True)])


def test_coreset_covers_the_features_better_than_a_random_subset() -> None:
    features = _brick_patches()
    chosen = greedy_coreset(features, 100, sketch_dim=16)
    random = np.random.default_rng(0).choice(len(features), 100, replace=False)
    coverage = MemoryBank(features[chosen]).nearest_distances(features).max()
    random_coverage = MemoryBank(features[random]).nearest_distances(features).max()
    assert len(set(chosen.tolist())) == 100
    assert coverage < random_coverage


def test_nearest_distances_match_scipy_kdtree_in_chunks() -> None:
    from scipy.spatial import cKDTree

    features = _brick_patches(3000)
    bank, queries = features[:500], features[500:]
    expected, _ = cKDTree(bank).query(queries)
    np.testing.assert_allclose(MemoryBank(bank).nearest_distances(queries), expected, atol=1e-3)


def test_threshold_rejects_at_most_the_target_share_of_good_parts() -> None:
    scores = np.random.default_rng(0).gamma(2.0, size=1000)
    threshold = calibrate_threshold(scores, 0.05)
    assert np.mean(scores > threshold) <= 0.05
    assert np.mean(scores > threshold) > 0.04


def test_calibration_refuses_a_single_held_out_part() -> None:
    with pytest.raises(InspectionInputError, match="at least 2 held-out good parts, got 1"):
        calibrate_threshold(np.array([1.0]), 0.01)


def test_auroc_matches_the_pairwise_definition() -> None:
    rng = np.random.default_rng(3)
    labels, scores = rng.integers(0, 2, 200), rng.normal(size=200)
    scores[labels == 1] += 1.0
    pos, neg = scores[labels == 1], scores[labels == 0]
    pairwise = np.mean((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :]))
    assert auroc(labels, scores) == pytest.approx(pairwise)


def test_pro_weighs_each_region_alike() -> None:
    masks = np.zeros((1, 64, 64), bool)
    masks[0, :32, :32] = True  # a large region, found
    masks[0, 50:52, 50:52] = True  # a small region, missed
    maps = np.where(masks, 0.0, 0.5).astype(np.float32)
    maps[0, :32, :32] = 1.0
    assert pro_score(masks, maps) == pytest.approx(0.5, abs=0.02)


def test_confusion_counts_rejects_and_escapes() -> None:
    c = Confusion.at(np.array([0, 0, 0, 1, 1]), np.array([0.1, 0.9, 0.2, 0.8, 0.3]), 0.5)
    assert (c.true_rejects, c.false_rejects, c.escapes, c.true_passes) == (1, 1, 1, 2)


def test_threshold_change_changes_the_next_decision() -> None:
    features = _brick_patches(1024)
    model = InspectionModel(MemoryBank(features[:512]), threshold=10.0, stride=8)
    part = features[512:768].copy()
    part[100] += 0.8  # one patch unlike any brick patch
    assert model.judge(part, (16, 16)).passed
    model.set_threshold(0.2)
    verdict = model.judge(part, (16, 16))
    assert not verdict.passed and verdict.region is not None
    with pytest.raises(InspectionInputError, match="threshold must be a finite number >= 0, got -1"):
        model.set_threshold(-1)


def _product(tmp_path: Path) -> Path:
    settings = ProductSettings(
        part_size=(64, 64), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), backbone="toy@1", stride=8,
        border_cells=0, threshold=1.5, false_reject_rate=0.01, calibration_scores=(1.0, 1.5), train_parts=3,
    )  # fmt: skip
    product = InspectionProduct(
        id="bracket", version="1", settings=settings, network=b"onnx",
        bank=np.ones((4, 2), np.float32), projection=np.eye(2, dtype=np.float32),
    )  # fmt: skip
    return write_product(tmp_path / "bracket.esinsp", product)


def test_product_round_trip_keeps_the_threshold_as_data(tmp_path: Path) -> None:
    loaded = read_product(_product(tmp_path))
    assert loaded.settings.threshold == 1.5 and loaded.bank.shape == (4, 2)
    assert product_path(tmp_path, "bracket") == tmp_path / "bracket.esinsp"


def test_tampered_product_is_refused(tmp_path: Path) -> None:
    path = _product(tmp_path)
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    members["product.json"] = members["product.json"].replace(b"1.5", b"9.5", 1)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(ModelLoadError, match=r"checksum mismatch for product\.json"):
        read_product(path)


def test_product_with_a_zip_bomb_member_is_refused_before_unpacking(tmp_path: Path) -> None:
    path = _product(tmp_path)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("LICENSES/bomb.txt", bytes(64 << 20))  # 64 MiB of zeros, about 64 KB packed
    with pytest.raises(ModelLoadError, match=r"member LICENSES/bomb\.txt expands"):
        read_product(path)


def test_unknown_product_names_the_known_ones(tmp_path: Path) -> None:
    _product(tmp_path)
    with pytest.raises(InspectionInputError, match=r"unknown product 'housing'.*products in .*: bracket"):
        product_path(tmp_path, "housing")
