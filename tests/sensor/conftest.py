"""Fixtures for sensor tests: the real vtest.avi and short clips made by ffmpeg."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from support import need

ClipMaker = Callable[..., Path]


@pytest.fixture(scope="session")
def make_clip(vtest_path: Path, tmp_path_factory: pytest.TempPathFactory) -> ClipMaker:
    """Make (once per session) a short H.264 clip from vtest.avi with ffmpeg.

    Call as ``make_clip("name.mp4", seconds=4, extra=["-movflags", "+faststart"])``; the
    container follows the suffix. Clips are 320x240, 10 fps, a keyframe every 10 frames.
    """
    need(shutil.which("ffmpeg") is not None, "ffmpeg CLI is not installed (make test installs it)")
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
