"""`edgesight sense --preview`: the annotated run, live on a local page, ending with the run."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from mjpeg import jpeg_frames

EDGESIGHT = [sys.executable, "-c", "from edgesight.cli import main; main()"]
CONFIG = Path(__file__).resolve().parents[2] / "examples" / "vtest-device.yaml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_page(url: str, process: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            return httpx.get(url, timeout=5)
        except httpx.ConnectError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not answer within 60 s")


def test_preview_streams_annotated_frames_and_stops_with_the_run(vtest_path: Path) -> None:
    port = _free_port()
    command = [*EDGESIGHT, "sense", "--source", str(vtest_path), "--config", str(CONFIG),
               "--max-frames", "200", "--preview", str(port)]  # fmt: skip  # 200: seconds to connect, even idle
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        page = _wait_for_page(f"http://127.0.0.1:{port}/", process)
        assert page.status_code == 200 and '<img src="/stream.mjpg"' in page.text
        with httpx.stream("GET", f"http://127.0.0.1:{port}/stream.mjpg", timeout=30) as response:
            frames = list(jpeg_frames(response))  # until the run ends and closes the stream
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert f"preview: http://127.0.0.1:{port}/" in stderr and "│ frames" in stdout
    assert len(frames) >= 2 and all(f.shape == (576, 768, 3) for f in frames)
    assert np.abs(frames[0].astype(np.int16) - frames[-1]).mean() > 3  # people moved between them
    # Drawn like --annotate: the west gate (x = 0.30 of the width) in the lines' pink (BGR 6E 3C FF).
    column = frames[-1][200:330, round(0.30 * 768) - 1 : round(0.30 * 768) + 2].reshape(-1, 3).astype(int)
    assert np.median(np.abs(column - [0x6E, 0x3C, 0xFF]).sum(axis=1)) < 60
    with pytest.raises(httpx.ConnectError):  # the server stopped with the run
        httpx.get(f"http://127.0.0.1:{port}/", timeout=5)


def test_a_non_loopback_preview_is_refused_naming_the_option(vtest_path: Path) -> None:
    result = subprocess.run(
        [*EDGESIGHT, "sense", "--source", str(vtest_path), "--preview", "0.0.0.0:8090"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "error: --preview 0.0.0.0:8090: 0.0.0.0 is not a loopback address" in result.stderr
    assert "--preview-allow-remote" in result.stderr and "Traceback" not in result.stderr
