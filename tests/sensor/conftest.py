"""Fixtures for sensor tests: the real vtest.avi and short clips made by ffmpeg."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VTEST = REPO / "data" / "vtest.avi"
VTEST_DEBIAN = Path("/tmp/ocvdoc/usr/share/doc/opencv-doc/examples/data/vtest.avi")

ClipMaker = Callable[..., Path]


@pytest.fixture(scope="session")
def vtest_path() -> Path:
    """data/vtest.avi (768x576, 795 frames, 10 fps, MS-MPEG4), copied from opencv-doc if missing."""
    if not VTEST.is_file() and VTEST_DEBIAN.is_file():
        VTEST.parent.mkdir(exist_ok=True)
        shutil.copyfile(VTEST_DEBIAN, VTEST)
    if not VTEST.is_file():
        pytest.skip(f"{VTEST} is missing: run `make data`")
    return VTEST


@pytest.fixture(scope="session")
def make_clip(vtest_path: Path, tmp_path_factory: pytest.TempPathFactory) -> ClipMaker:
    """Make (once per session) a short H.264 clip from vtest.avi with ffmpeg.

    Call as ``make_clip("name.mp4", seconds=4, extra=["-movflags", "+faststart"])``; the
    container follows the suffix. Clips are 320x240, 10 fps, a keyframe every 10 frames.
    """
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg CLI is not installed")
    folder = tmp_path_factory.mktemp("clips")
    made: dict[str, Path] = {}

    def make(name: str, seconds: float = 4.0, extra: list[str] | None = None) -> Path:
        if name in made:
            return made[name]
        out = folder / name
        command = [
            "ffmpeg", "-loglevel", "error", "-y", "-i", str(vtest_path), "-t", str(seconds),
            "-vf", "scale=320:240", "-c:v", "libx264", "-preset", "ultrafast", "-g", "10",
            "-pix_fmt", "yuv420p", *(extra or []), str(out),
        ]  # fmt: skip
        subprocess.run(command, check=True, timeout=60)
        made[name] = out
        return out

    return make
