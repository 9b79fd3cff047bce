"""`sense --preview`'s server: loopback only unless allowed, newest frame only, encoding only for viewers."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import httpx
import numpy as np
import numpy.typing as npt
import pytest

from edgesight.core.config import load_config
from edgesight.core.detections import Detections
from edgesight.core.errors import ConfigError
from edgesight.sensor.annotate import FrameAnnotator
from edgesight.sensor.preview import PreviewAddress, PreviewServer
from edgesight.sensor.sources import open_source
from mjpeg import jpeg_frames

CONFIG = Path(__file__).resolve().parents[2] / "examples" / "vtest-device.yaml"


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [("8090", "127.0.0.1", 8090), ("localhost:0", "localhost", 0), ("127.0.0.2:80", "127.0.0.2", 80),
     ("[::1]:8090", "::1", 8090)],
)  # fmt: skip
def test_loopback_addresses_are_accepted(text: str, host: str, port: int) -> None:
    assert PreviewAddress.parse(text) == PreviewAddress(host, port)
    assert PreviewAddress.parse(text).loopback


@pytest.mark.parametrize("text", ["0.0.0.0:8090", "192.168.1.20:8090", "camera.local:8090", "[::]:8090"])
def test_other_addresses_need_the_explicit_option(text: str) -> None:
    with pytest.raises(ConfigError, match=r"not a loopback address.*--preview-allow-remote"):
        PreviewAddress.parse(text)
    allowed = PreviewAddress.parse(text, allow_remote=True)
    assert allowed.port == 8090 and not allowed.loopback


@pytest.mark.parametrize(("text", "message"), [("http", "must be \\[HOST:\\]PORT"), ("70000", "0..65535")])
def test_bad_address_names_the_option(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"--preview.*{message}"):
        PreviewAddress.parse(text)


def test_a_busy_port_is_a_clear_error() -> None:
    with PreviewServer(PreviewAddress.parse("0")) as first:
        port = first.url.rsplit(":", 1)[1].strip("/")
        with pytest.raises(ConfigError, match=f"--preview: cannot listen on 127.0.0.1:{port}"):
            PreviewServer(PreviewAddress.parse(port))


def test_a_viewer_gets_the_newest_frame_and_the_stream_ends_on_close(vtest_path: Path) -> None:
    annotator = FrameAnnotator(load_config(CONFIG).analytics)
    with open_source(str(vtest_path)) as src:
        frames = [annotator.draw(f.to_bgr(), Detections.empty(), {}) for f in islice(src, 0, 50, 10)]
    preview = PreviewServer(PreviewAddress.parse("0"))
    try:
        with httpx.Client(base_url=preview.url, timeout=10) as client:
            page = client.get("/")
            assert page.status_code == 200 and 'src="/stream.mjpg"' in page.text and "http" not in page.text
            assert client.get("/nope").status_code == 404
            preview.publish(frames[0])  # nobody watches: nothing is encoded
            assert not preview.watched and preview.encoded == 0
            with client.stream("GET", "/stream.mjpg") as response:
                assert preview.watched
                viewer = jpeg_frames(response)
                first = next(viewer)  # the frame published before the viewer came
                assert first.shape == frames[0].shape
                # A viewer that does not read holds nothing up: publish returns at once, every time.
                for _ in range(50):
                    for frame in frames[1:4]:
                        preview.publish(frame)
                preview.publish(frames[4])
                received = [next(viewer)]
                while _closest(received[-1], frames) != 4:  # frames already on their way, then the newest
                    received.append(next(viewer))
                preview.close()
                assert list(viewer) == []  # the stream ends at the closing boundary
    finally:
        preview.close()
    assert preview.published == 1 + 50 * 3 + 1
    assert preview.encoded == 1 + len(received) < 20  # the frames nobody fetched were never encoded
    assert not preview.watched


def _closest(image: npt.NDArray[np.uint8], frames: list[npt.NDArray[np.uint8]]) -> int:
    """Which of ``frames`` a decoded JPEG shows (JPEG's loss is far smaller than people moving)."""
    return int(np.argmin([np.abs(image.astype(np.int16) - frame).mean() for frame in frames]))
