"""`edgesight inspect` as a line engineer meets it: train, run, eval on texture parts; one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from inspection_set import make_parts

EDGESIGHT = [sys.executable, "-c", "from edgesight.cli import main; main()"]


def inspect(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EDGESIGHT, "inspect", *map(str, args)], capture_output=True, text=True, timeout=300,
        env={**__import__("os").environ, "COLUMNS": "200"},
    )  # fmt: skip


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Good parts to train on, held-out good and defective parts with masks, and a trained product."""
    root = tmp_path_factory.mktemp("line") / "grass"
    goods, defects = make_parts("grass", 12, 4, seed=11)
    for name in ("train/good", "test/good", "test/defect", "masks"):
        (root / name).mkdir(parents=True)
    for i, part in enumerate(goods):
        cv2.imwrite(str(root / ("train/good" if i < 8 else "test/good") / f"{i:03d}.png"), part.image)
    for i, part in enumerate(defects):
        cv2.imwrite(str(root / "test/defect" / f"d{i}.png"), part.image)
        assert part.mask is not None
        cv2.imwrite(str(root / "masks" / f"d{i}_mask.png"), part.mask)
    result = inspect("train", "--good", root / "train/good", "--products", root / "products")
    assert result.returncode == 0, result.stderr
    assert "grass" in result.stdout and "256x256" in result.stdout and "6 + 2" in result.stdout
    return root


def test_run_writes_inspection_events_and_a_summary(line: Path) -> None:
    events = line / "events.jsonl"
    feedback = line / "feedback.csv"
    feedback.write_text("d0.png,defect\n")
    result = inspect(
        "run", "--source", line / "test/defect", "--product", "grass", "--products", line / "products",
        "--events", events, "--threshold", "0", "--heatmaps", line / "heat", "--allow-images",
        "--feedback", feedback,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(x) for x in events.read_text().splitlines()]
    assert [r["properties"]["part_id"] for r in records] == [f"d{i}.png" for i in range(4)]
    assert all(r["type"] == "inspection" and r["properties"]["passed"] is False for r in records)
    assert sorted(p.name for p in (line / "heat").iterdir()) == [f"d{i}.png" for i in range(4)]
    assert "REJECT" in result.stdout and "yield" in result.stdout and "0.0%" in result.stdout


def test_eval_prints_aurocs_pro_and_confusion(line: Path) -> None:
    result = inspect(
        "eval", "--good", line / "test/good", "--defect", line / "test/defect", "--masks", line / "masks",
        "--product", "grass", "--products", line / "products",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for text in ("image AUROC", "pixel AUROC", "PRO", "4 + 4", "false rejects", "escapes"):
        assert text in result.stdout


def test_heatmaps_need_the_image_policy(line: Path) -> None:
    result = inspect(
        "run", "--source", line / "test/good", "--product", "grass", "--products", line / "products",
        "--heatmaps", line / "heat2",
    )  # fmt: skip
    assert "--allow-images" in one_line_error(result)
    assert not (line / "heat2").exists()


def test_bad_input_gives_one_clear_error_each(line: Path, tmp_path: Path) -> None:
    products = line / "products"
    unknown = inspect("run", "--source", line / "test/good", "--product", "bracket", "--products", products)
    assert "unknown product 'bracket'" in one_line_error(unknown) and "grass" in unknown.stderr

    empty = tmp_path / "empty"
    empty.mkdir()
    assert "holds no part images" in one_line_error(inspect("train", "--good", empty, "--products", products))

    small = tmp_path / "small"
    small.mkdir()
    for path in sorted((line / "train/good").iterdir())[:3]:
        (small / path.name).write_bytes(path.read_bytes())
    too_small = inspect("train", "--good", small, "--products", products)
    assert "the good set has 3 parts; training needs at least 5" in one_line_error(too_small)

    (small / "broken.png").write_bytes(b"\x89PNG truncated")
    assert "broken.png: not a readable image" in one_line_error(inspect("train", "--good", small, "--products", products))

    (small / "broken.png").unlink()
    image = cv2.imread(str(next(small.iterdir())))
    cv2.imwrite(str(small / "wide.png"), cv2.resize(image, (320, 256)))
    mixed = inspect("train", "--good", small, "--products", products)
    assert "wide.png: 320x256 differs from" in one_line_error(mixed)
