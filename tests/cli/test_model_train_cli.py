"""`edgesight model train | quantize` on bad input: one line naming the file and line, exit code 2, no output file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

EDGESIGHT = [sys.executable, "-c", "from edgesight.cli import main; main()"]


def edgesight(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EDGESIGHT, *map(str, args)], capture_output=True, text=True, timeout=300)


def test_unknown_class_id_is_reported_with_file_and_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    (data / "labels").mkdir()
    (data / "data.yaml").write_text("names: [person]\n")
    cv2.imwrite(str(data / "images" / "a.png"), np.zeros((48, 64, 3), np.uint8))
    (data / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2 0.2\n")
    out = tmp_path / "models" / "m.espkg"
    result = edgesight("model", "train", data, "--out", out, "--epochs", "1")
    assert result.returncode == 2, result.stderr
    assert "labels/a.txt:2: class id 1 unknown (data.yaml has 1 classes)" in result.stderr.replace("\n", "")
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_bad_input_size_is_a_usage_error(tmp_path: Path) -> None:
    result = edgesight("model", "train", tmp_path, "--out", tmp_path / "m.espkg", "--input-size", "640")
    assert result.returncode == 2
    assert "--input-size must be WIDTHxHEIGHT" in result.stderr
