"""The run-time feature path (pooling and projection inside the network) against the numpy one."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edgesight.apps.inspection.features import patch_features, random_projection
from edgesight.apps.inspection.memory_bank import MemoryBank
from edgesight.apps.inspection.model import InspectionModel
from edgesight.apps.inspection.product import ProductSettings, read_product, write_product
from edgesight.apps.inspection.scoring import PIXEL_SIGMA
from edgesight.core.errors import ModelLoadError
from edgesight.sensor.inspection.backbone import GRID_STAGE, FeatureNetwork, load_backbone
from edgesight.sensor.inspection.feature_head import with_feature_head
from edgesight.sensor.inspection.inspector import Inspector, TrainOptions, train_product
from inspection_set import make_parts


@pytest.fixture(scope="module")
def gravel() -> tuple[list[np.ndarray], list[np.ndarray]]:
    goods, defects = make_parts("gravel", 9, 2, seed=5)
    return [p.image for p in goods], [p.image for p in defects]


def test_feature_head_equals_numpy_pooling_and_projection(gravel: tuple[list[np.ndarray], list[np.ndarray]]) -> None:
    network, spec = load_backbone()
    projection = random_projection(192, 128, seed=3)
    plain, headed = FeatureNetwork(network, spec), FeatureNetwork(network, spec, projection=projection)
    for part in (gravel[1][0], gravel[0][0][:128, :192]):  # a defect; a smaller, non-square part
        features, grid = patch_features(plain(part), reference=GRID_STAGE)
        projected, headed_grid = headed.patches(part)
        assert headed_grid == grid == (part.shape[0] // 8, part.shape[1] // 8)
        np.testing.assert_allclose(projected, features @ projection, rtol=1e-4, atol=1e-4)


def test_products_judge_alike_on_the_numpy_path(gravel: tuple[list[np.ndarray], list[np.ndarray]]) -> None:
    """Products trained before the head existed were judged by the numpy path: same scores now."""
    goods, defects = gravel
    product = train_product("gravel", goods, TrainOptions(max_bank=300))
    assert product.bank.shape == (300, 128)  # 7 training parts x 1024 cells x 10 % is capped
    inspector = Inspector(product)
    s = product.settings
    numpy_path = InspectionModel(
        MemoryBank(product.bank), s.threshold, s.stride, product.projection, s.border_cells, s.pixel_sigma
    )
    plain = FeatureNetwork(product.network, inspector.features.spec)
    for part in defects + goods[:1]:
        expected = numpy_path.judge(*plain.patches(part))
        verdict = inspector.inspect(part)
        assert verdict.score == pytest.approx(expected.score, rel=1e-4)
        # cells whose nearest bank feature is almost the same see float rounding through the sqrt
        np.testing.assert_allclose(verdict.grid_map, expected.grid_map, atol=2e-3)


def test_products_without_pixel_scoring_are_scored_on_the_grid(
    gravel: tuple[list[np.ndarray], list[np.ndarray]],
) -> None:
    """product.json of products trained before pixel scoring has no pixel_sigma: their threshold
    was calibrated on the grid map's maximum, so that stays their score."""
    goods, defects = gravel
    product = train_product("gravel", goods, TrainOptions(max_bank=200))
    assert product.settings.pixel_sigma == PIXEL_SIGMA
    old_json = json.loads(product.settings.to_json())
    del old_json["pixel_sigma"]
    old_settings = ProductSettings.from_json(json.dumps(old_json).encode(), "old.esinsp")
    assert old_settings.pixel_sigma is None
    old, new = Inspector(replace(product, settings=old_settings)), Inspector(product)
    part = defects[0]
    old_verdict, new_verdict = old.inspect(part), new.inspect(part)
    assert old_verdict.score == pytest.approx(float(old_verdict.grid_map.max()))
    assert new_verdict.score == pytest.approx(float(new.heatmap(new_verdict).max()))
    assert new_verdict.score < float(new_verdict.grid_map.max())  # the pixel blur lowers a lone peak


def test_a_product_of_another_format_version_is_refused_naming_it(
    gravel: tuple[list[np.ndarray], list[np.ndarray]], tmp_path: Path
) -> None:
    path = write_product(tmp_path / "gravel.esinsp", train_product("gravel", gravel[0], TrainOptions(max_bank=50)))
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    manifest = json.loads(members["manifest.json"])
    manifest["format"] = "edgesight.inspection-product/2"
    members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(ModelLoadError, match=r"format must be 'edgesight.inspection-product/1', got 'edgesight.inspection-product/2'"):
        read_product(path)


def test_feature_head_needs_the_two_stage_outputs() -> None:
    network, _ = load_backbone()
    headed = with_feature_head(network, random_projection(192, 16))
    with pytest.raises(ModelLoadError, match="expected 2 stage outputs"):
        with_feature_head(headed, random_projection(192, 16), "bracket.esinsp")
