"""`edgesight sense` as a user meets it: real video, real model, one-line errors, exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from edgesight.cli import sense as sense_cli
from edgesight.core.wire import read_metadata
from edgesight.sensor import appearance, pipeline
from edgesight.sensor.runtime_policy import default_model, open_network
from edgesight.sensor.sources import Frame
from edgesight.sensor.zoo import load_model, resolve_model

EDGESIGHT = [sys.executable, "-c", "from edgesight.cli import main; main()"]


def sense(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EDGESIGHT, "sense", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_sense_writes_jsonl_and_prints_a_summary(vtest_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "vtest.jsonl"
    result = sense("--source", vtest_path, "--max-frames", "15", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "frames" in result.stdout and "people per frame" in result.stdout and "DNN" in result.stdout
    lines = out.read_text().splitlines()
    assert len(lines) == 15
    record = json.loads(lines[0])
    assert record["schema"] == "edgesight.frame/1" and record["frame_size"] == [768, 576]
    assert all(0 <= v <= 1 for d in record["detections"] for v in d["box"])


def test_the_summary_names_the_model_and_runtime_the_machine_and_config_chose(
    vtest_path: Path, tmp_path: Path
) -> None:
    result = sense("--source", vtest_path, "--max-frames", "5")
    assert result.returncode == 0, result.stderr
    model = default_model()  # the float twin in bfloat16 on a CPU with AMX or AMD's AVX-512 BF16, else int8
    assert model in result.stdout
    assert open_network(load_model(model)).runtime in result.stdout
    config = tmp_path / "device.yaml"
    config.write_text("sensor:\n  runtime: onnxruntime\n")
    forced = sense("--source", vtest_path, "--max-frames", "5", "--config", config)
    assert forced.returncode == 0, forced.stderr
    assert "nanodet-plus-m-416-int8" in forced.stdout and "onnxruntime" in forced.stdout
    assert "openvino" not in forced.stdout


def test_binary_output_round_trips(vtest_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "vtest.esb"
    assert sense("--source", vtest_path, "--max-frames", "40", "--out", out).returncode == 0
    records = list(read_metadata(out))
    assert [r.frame_index for r in records] == list(range(40))
    assert out.stat().st_size < 40 * 200  # compact: a few dozen bytes per frame


def test_missing_file(tmp_path: Path) -> None:
    result = sense("--source", tmp_path / "nope.avi")
    assert result.returncode == 1
    assert "no such video file" in one_line_error(result)


def test_text_file_is_not_a_video(tmp_path: Path) -> None:
    fake = tmp_path / "clip.mp4"
    fake.write_text("hello, I am not a video\n" * 50)
    result = sense("--source", fake)
    assert result.returncode == 1
    assert "clip.mp4" in one_line_error(result)


def test_unsupported_codec(tmp_path: Path) -> None:
    """An AVI whose video FourCC no decoder knows: the error names the file, nothing hangs."""
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "ffmpeg is installed by make test"
    made = tmp_path / "made.avi"
    subprocess.run([ffmpeg, "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=5", "-t", "1",
                    "-c:v", "mjpeg", str(made)], check=True, timeout=60)  # fmt: skip
    clip = tmp_path / "clip.avi"
    clip.write_bytes(made.read_bytes().replace(b"MJPG", b"ZZZZ"))  # the FourCC in both stream headers
    result = sense("--source", clip)
    assert result.returncode == 1
    assert "clip.avi" in one_line_error(result)


def test_truncated_video_ends_early_and_says_so(vtest_path: Path, tmp_path: Path) -> None:
    data = vtest_path.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 10])
    out = tmp_path / "cut.jsonl"
    result = sense("--source", cut, "--out", out)
    assert result.returncode == 0, result.stderr
    assert 0 < len(out.read_text().splitlines()) < 795
    assert "ended early" in result.stdout


def test_corrupt_frames_are_skipped_and_counted(vtest_path: Path, tmp_path: Path) -> None:
    data = bytearray(vtest_path.read_bytes()[:2_000_000])
    data[600_000:640_000] = bytes(40_000)  # a block of zeros in the middle of the stream
    bad = tmp_path / "bad.avi"
    bad.write_bytes(bytes(data))
    out = tmp_path / "bad.jsonl"
    result = sense("--source", bad, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "corrupt" in result.stdout
    assert len(out.read_text().splitlines()) > 100


def test_tampered_model_package(vtest_path: Path, tmp_path: Path) -> None:
    data = bytearray(resolve_model("nanodet-coco-int8").read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad.espkg"
    bad.write_bytes(bytes(data))
    result = sense("--source", vtest_path, "--model", bad)
    assert result.returncode == 1
    message = one_line_error(result)
    assert "bad.espkg" in message and ("checksum" in message or "not a readable" in message)


def test_unknown_model_name_lists_the_zoo(vtest_path: Path) -> None:
    result = sense("--source", vtest_path, "--model", "yolo-nonexistent")
    assert "nanodet-coco-int8" in one_line_error(result) and result.returncode == 1


def test_bad_roi_is_a_usage_error(vtest_path: Path) -> None:
    result = sense("--source", vtest_path, "--roi", "0.5,0.5,0.9,0.2")
    assert result.returncode == 2
    assert "--roi" in one_line_error(result)


def test_missing_camera(tmp_path: Path) -> None:
    result = sense("--source", "/dev/video9")
    assert result.returncode == 1
    assert "/dev/video9" in one_line_error(result)


def test_colour_vectors_are_computed_only_for_a_tracker_that_reads_them(
    vtest_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without a config nothing tracks, and at 4K the vectors cost a fifth of the frame rate
    # (42 fps without, 32-37 with, when they were read from a whole-frame conversion).
    boxes_read: list[int] = []

    def counting(frame: Frame, xyxy: np.ndarray) -> np.ndarray:
        boxes_read.append(len(xyxy))
        return appearance.frame_histograms(frame, xyxy)

    monkeypatch.setattr(pipeline, "frame_histograms", counting)
    app = typer.Typer()
    sense_cli.register(app)
    app.command("unused")(lambda: None)  # two commands: typer keeps the `sense` name
    runner = CliRunner()
    result = runner.invoke(app, ["sense", "--source", str(vtest_path), "--max-frames", "5"])
    assert result.exit_code == 0, result.output
    assert boxes_read == []
    config = tmp_path / "device.yaml"
    config.write_text("analytics:\n  tracking:\n    enabled: true\n")
    result = runner.invoke(app, ["sense", "--source", str(vtest_path), "--max-frames", "5", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert len(boxes_read) == 5 and sum(boxes_read) >= 5 * 3  # vtest.avi shows 3-9 people a frame
