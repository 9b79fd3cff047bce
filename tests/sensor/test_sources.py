"""Frame sources against real files, a real local HTTP server and a fake camera."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from edgesight.core.errors import ConfigError, SourceEndedError, SourceError
from edgesight.core.intrinsics import ColorOrder
from edgesight.sensor import sources
from edgesight.sensor.sources import (
    CameraSource,
    CropBox,
    Frame,
    ImageFolderSource,
    ReconnectPolicy,
    StreamSource,
    VideoFileSource,
    open_source,
)

ClipMaker = Callable[..., Path]
FAST_RETRY = ReconnectPolicy(initial_delay_s=0.05, max_delay_s=0.2, max_attempts=2, jitter=0.0)


def damaged_copy(src: Path, dst: Path, keep: float | None = None, garbage_at: float | None = None) -> Path:
    """A copy of ``src`` cut to its first ``keep`` fraction of bytes, or with noise at ``garbage_at``."""
    data = bytearray(src.read_bytes())
    if keep is not None:
        data = data[: int(len(data) * keep)]
    if garbage_at is not None:
        start = int(len(data) * garbage_at)
        data[start : start + 16_000] = np.random.default_rng(7).integers(0, 256, 16_000, np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


# --- video files ---------------------------------------------------------------------------------


def test_vtest_first_frames_have_monotonic_indexes_and_timestamps(vtest_path: Path) -> None:
    with open_source(str(vtest_path)) as source:
        assert isinstance(source, sources.FrameSource)
        assert (source.codec, source.fps, source.frame_count) == ("msmpeg4", 10.0, 795)
        frames = [frame for _, frame in zip(range(50), source, strict=False)]
    assert [f.index for f in frames] == list(range(50))
    stamps = np.array([f.timestamp for f in frames])
    assert np.all(np.diff(stamps) > 0)
    np.testing.assert_allclose(np.diff(stamps), 0.1, atol=1e-6)
    assert stamps[0] == pytest.approx(vtest_path.stat().st_mtime)  # no creation_time tag in vtest.avi
    assert (frames[0].width, frames[0].height) == (768, 576)
    assert isinstance(frames[0].picture, av.VideoFrame)  # kept native, not converted
    assert frames[0].picture.format.name == "yuv420p"


def test_vtest_decodes_all_795_frames(vtest_path: Path) -> None:
    with VideoFileSource(vtest_path) as source:
        count = sum(1 for _ in source)
        stats = source.stats
    assert count == 795
    assert (stats.frames_decoded, stats.corrupt_frames, stats.ended_early, stats.frames_declared) == (
        795, 0, False, 795,
    )  # fmt: skip


def test_h264_mp4_with_creation_time(make_clip: ClipMaker) -> None:
    clip = make_clip("tagged.mp4", extra=["-metadata", "creation_time=2024-01-02T03:04:05Z"])
    with open_source(str(clip)) as source:
        assert (source.codec, source.fps, source.frame_count) == ("h264", 10.0, 40)
        frames = list(source)
    assert len(frames) == 40 and source.stats.ended_early is False
    start = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()
    assert frames[0].timestamp == pytest.approx(start)
    assert frames[-1].timestamp == pytest.approx(start + 3.9)
    assert frames[5].to_bgr().shape == (240, 320, 3)


def test_truncated_avi_ends_early_without_raising(vtest_path: Path, tmp_path: Path) -> None:
    clip = damaged_copy(vtest_path, tmp_path / "cut.avi", keep=0.4)
    with open_source(str(clip)) as source:
        count = sum(1 for _ in source)
    stats = source.stats
    assert 100 < count < 795
    assert stats.ended_early is True and stats.frames_declared == 795 and stats.frames_decoded == count


def test_truncated_mp4_ends_early_without_raising(make_clip: ClipMaker, tmp_path: Path) -> None:
    clip = make_clip("faststart.mp4", extra=["-movflags", "+faststart"])
    cut = damaged_copy(clip, tmp_path / "cut.mp4", keep=0.4)
    with open_source(str(cut)) as source:
        count = sum(1 for _ in source)
    assert 0 < count < 40
    assert source.stats.ended_early is True


def test_truncated_mp4_without_its_index_is_a_clear_error(make_clip: ClipMaker, tmp_path: Path) -> None:
    cut = damaged_copy(make_clip("plain.mp4"), tmp_path / "noindex.mp4", keep=0.4)  # moov atom at the end
    with pytest.raises(SourceError, match=r"noindex\.mp4"), open_source(str(cut)):
        pass


def test_garbage_in_mp4_is_skipped_counted_and_decoding_goes_on(make_clip: ClipMaker, tmp_path: Path) -> None:
    clip = make_clip("faststart.mp4", extra=["-movflags", "+faststart"])
    broken = damaged_copy(clip, tmp_path / "garbage.mp4", garbage_at=0.5)
    with open_source(str(broken)) as source:
        frames = list(source)
    stats = source.stats
    assert stats.corrupt_frames >= 1
    assert len(frames) < 40 and len(frames) > 30
    assert frames[-1].timestamp - frames[0].timestamp == pytest.approx(3.9)  # later frames still came
    assert [f.index for f in frames] == list(range(len(frames)))
    assert stats.ended_early is False


def test_garbage_in_avi_is_skipped_and_counted(vtest_path: Path, tmp_path: Path) -> None:
    broken = damaged_copy(vtest_path, tmp_path / "garbage.avi", garbage_at=0.5)
    with open_source(str(broken)) as source:
        count = sum(1 for _ in source)
    assert source.stats.corrupt_frames >= 1
    assert 780 < count < 795


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.avi"
    with pytest.raises(SourceError, match=f"^no such video file: {missing}$"), open_source(str(missing)):
        pass


def test_text_file_named_mp4_is_not_a_video(tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("these are meeting notes, not a video\n" * 20)
    with pytest.raises(SourceError, match=r"notes\.mp4 is not a video"), open_source(str(fake)):
        pass


def test_unknown_codec_names_the_file(vtest_path: Path, tmp_path: Path) -> None:
    data = vtest_path.read_bytes()[:300_000]
    header = data[:4096].replace(b"div3", b"zqzq").replace(b"DIV3", b"ZQZQ")  # a FourCC nobody decodes
    clip = tmp_path / "strange.avi"
    clip.write_bytes(header + data[4096:])
    with pytest.raises(SourceError, match=r"strange\.avi: FFmpeg has no decoder"), open_source(str(clip)):
        pass


def test_iterating_a_source_that_is_not_open_is_an_error(vtest_path: Path) -> None:
    with pytest.raises(SourceError, match="not open"):
        iter(VideoFileSource(vtest_path))


def test_open_source_rejects_bad_specs_and_options(vtest_path: Path) -> None:
    with pytest.raises(ConfigError, match="'ftp'"):
        open_source("ftp://example.com/a.mp4")
    with pytest.raises(ConfigError, match="option 'read_timeout_s' does not apply to video file"):
        open_source(str(vtest_path), read_timeout_s=3)
    with pytest.raises(ConfigError, match="reconnect"):
        open_source("rtsp://cam/live", reconnect={"max_tries": 3})
    stream = open_source("rtsp+tcp://cam/live", reconnect={"max_attempts": 3})
    assert isinstance(stream, StreamSource)
    assert isinstance(open_source(f"file://{vtest_path}"), VideoFileSource)


# --- frames --------------------------------------------------------------------------------------


def test_av_frame_crop_scale_matches_the_bgr_path(vtest_path: Path) -> None:
    with open_source(str(vtest_path)) as source:
        frame = next(iter(source))
    bgr = Frame.from_bgr(frame.index, frame.timestamp, frame.to_bgr())
    box = CropBox(100, 50, 400, 300)
    for color in ColorOrder:
        fast = frame.crop_scale(box, (200, 150), color).astype(np.int16)
        reference = bgr.crop_scale(box, (200, 150), color).astype(np.int16)
        assert fast.shape == (150, 200, 3)
        assert np.abs(fast - reference).mean() < 4.0, color
    with pytest.raises(ValueError, match="outside"):
        frame.crop_scale(CropBox(700, 0, 100, 10), (10, 10))


def test_av_frame_crop_scale_planes_match_the_bgr_path(vtest_path: Path) -> None:
    """Colour planes (what an NCHW network takes) hold the same picture, in the order asked for."""
    with open_source(str(vtest_path)) as source:
        frame = next(iter(source))
    bgr = Frame.from_bgr(frame.index, frame.timestamp, frame.to_bgr())
    box = CropBox(100, 50, 400, 300)
    for color in ColorOrder:
        planes = frame.crop_scale_planes(box, (200, 150), color)
        reference = bgr.crop_scale(box, (200, 150), color).astype(np.int16)
        assert [p.shape for p in planes] == [(150, 200)] * 3
        assert np.abs(np.dstack(planes).astype(np.int16) - reference).mean() < 4.0, color
        from_array = bgr.crop_scale_planes(box, (200, 150), color)
        assert np.array_equal(np.dstack(from_array), reference)
    with pytest.raises(ValueError, match="outside"):
        frame.crop_scale_planes(CropBox(700, 0, 100, 10), (10, 10))


# --- image folders -------------------------------------------------------------------------------


def test_image_folder_sorted_skips_unreadable_and_stamps_from_mtime(tmp_path: Path) -> None:
    for name, value in [("b.png", 20), ("a.jpg", 10), ("c.bmp", 30)]:
        cv2.imwrite(str(tmp_path / name), np.full((24, 32, 3), value, np.uint8))
    (tmp_path / "b2.jpeg").write_bytes(b"not a jpeg")
    (tmp_path / "readme.txt").write_text("ignored")
    with open_source(str(tmp_path), fps=4) as source:
        assert isinstance(source, ImageFolderSource) and source.frame_count == 4
        start = tmp_path.stat().st_mtime
        frames = list(source)
    assert [int(f.to_bgr()[0, 0, 0]) for f in frames] == [10, 20, 30]
    assert [f.index for f in frames] == [0, 1, 2]
    assert [f.timestamp - start for f in frames] == pytest.approx([0.0, 0.25, 0.75])  # b2.jpeg was slot 2
    assert source.stats.corrupt_frames == 1


def test_empty_or_missing_image_folder(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="holds no"), ImageFolderSource(tmp_path):
        pass
    with pytest.raises(SourceError, match="no such image folder"), ImageFolderSource(tmp_path / "x"):
        pass
    with pytest.raises(ConfigError, match="fps"):
        ImageFolderSource(tmp_path, fps=0)


# --- cameras -------------------------------------------------------------------------------------


def test_missing_camera_is_a_clear_error() -> None:
    if Path("/dev/video0").exists():
        pytest.skip("this machine has a camera")
    with (
        pytest.raises(SourceError, match=r"^camera /dev/video0 not found or busy$"),
        open_source("/dev/video0"),
    ):
        pass
    with pytest.raises(SourceError, match=r"^camera /dev/video0 not found or busy$"), open_source("0"):
        pass


class FakeCapture:
    """A cv2.VideoCapture stand-in that plays ``script``: True = a frame, False = a failed read."""

    def __init__(self, script: list[bool], opened: bool = True) -> None:
        self.script = list(script)
        self.opened = opened
        self.released = False
        self.props: dict[int, float] = {}

    def isOpened(self) -> bool:
        return self.opened

    def read(self) -> tuple[bool, Any]:
        ok = self.script.pop(0) if self.script else False
        return (True, np.zeros((6, 8, 3), np.uint8)) if ok else (False, None)

    def set(self, prop_id: int, value: float) -> bool:
        self.props[prop_id] = value
        return True

    def get(self, prop_id: int) -> float:
        return self.props.get(prop_id, 0.0)

    def release(self) -> None:
        self.released = True


def test_camera_reads_reopens_after_drops_and_then_ends() -> None:
    captures = [
        FakeCapture([True, True, False, False, False]),
        FakeCapture([True]),
        FakeCapture([], opened=False),
    ]
    opened: list[int | str] = []

    def factory(device: int | str) -> FakeCapture:
        opened.append(device)
        return captures[len(opened) - 1] if len(opened) <= len(captures) else FakeCapture([], opened=False)

    camera = CameraSource(0, size=(8, 6), fps=15, reconnect=FAST_RETRY, capture_factory=factory)
    frames: list[Frame] = []
    with camera, pytest.raises(SourceEndedError, match="reconnection attempts failed"):
        for frame in camera:
            frames.append(frame)
    assert [f.index for f in frames] == [0, 1, 2]
    assert camera.stats.reconnects == 1 and camera.stats.ended_early is True
    assert captures[0].released and captures[0].props[cv2.CAP_PROP_FPS] == 15
    assert camera.name == "/dev/video0"


# --- network streams -----------------------------------------------------------------------------


class ClipServer:
    """A local HTTP server (127.0.0.1 only) that plays a clip; connection n follows ``plan[n]``.

    Plans: ``"full"`` serves the clip, ``"cut"`` sends 40 % then closes the socket, ``"stall"``
    sends 40 % then goes silent (until the server stops), ``"404"`` answers Not Found.
    """

    def __init__(self, clip: Path, plan: list[str]) -> None:
        self.data = clip.read_bytes()
        self.plan = plan
        self.connections = 0
        self.stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                index = server.connections
                server.connections += 1
                mode = server.plan[min(index, len(server.plan) - 1)]
                if mode == "404":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "video/mp2t")
                self.send_header("Content-Length", str(len(server.data)))
                self.end_headers()
                part = server.data if mode == "full" else server.data[: int(len(server.data) * 0.4)]
                try:
                    self.wfile.write(part)
                    self.wfile.flush()
                    if mode == "stall":
                        server.stop.wait(30)
                except (BrokenPipeError, ConnectionResetError):
                    return
                if mode != "full":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/clip.ts"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ClipServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def ts_clip(make_clip: ClipMaker) -> Path:
    return make_clip("stream.ts", seconds=3.0)


def read_all(source: StreamSource) -> tuple[list[Frame], BaseException | None]:
    frames: list[Frame] = []
    with source:
        try:
            for frame in source:
                frames.append(frame)
        except SourceError as exc:
            return frames, exc
    return frames, None


def test_http_stream_reconnects_after_a_cut_and_keeps_counting(ts_clip: Path) -> None:
    with ClipServer(ts_clip, ["cut", "full", "404"]) as server:
        source = StreamSource(server.url, open_timeout_s=3, read_timeout_s=3, reconnect=FAST_RETRY)
        started = time.monotonic()
        frames, error = read_all(source)
        elapsed = time.monotonic() - started
    assert isinstance(error, SourceEndedError), error
    stats = source.stats
    assert stats.reconnects == 1  # after the cut; the two attempts after the full clip were refused
    assert server.connections == 4  # cut, full, 404, 404
    assert stats.corrupt_frames <= 2  # at most the frames torn by the cut
    assert [f.index for f in frames] == list(range(len(frames)))
    assert 30 + 5 < len(frames) <= 30 + 30  # part of the clip, then all of it
    assert np.all(np.diff([f.timestamp for f in frames]) > 0)
    assert elapsed < 15


def test_http_stream_that_stalls_hits_the_read_timeout(ts_clip: Path) -> None:
    with ClipServer(ts_clip, ["stall", "404"]) as server:
        source = StreamSource(server.url, open_timeout_s=2, read_timeout_s=1, reconnect=FAST_RETRY)
        started = time.monotonic()
        frames, error = read_all(source)
        elapsed = time.monotonic() - started
    assert isinstance(error, SourceEndedError), error
    assert 0 < len(frames) < 30
    assert elapsed < 10


@pytest.mark.parametrize("plan", [["cut", "404"], ["stall"]], ids=["during-backoff", "during-read"])
def test_close_from_another_thread_ends_iteration_promptly(ts_clip: Path, plan: list[str]) -> None:
    slow_retry = ReconnectPolicy(initial_delay_s=20, max_delay_s=20, max_attempts=3, jitter=0.0)
    with ClipServer(ts_clip, plan) as server:
        source = StreamSource(server.url, open_timeout_s=2, read_timeout_s=2, reconnect=slow_retry)
        frames, error = [], None
        with source:
            closer = threading.Timer(0.5, source.close)
            closer.start()
            started = time.monotonic()
            try:
                frames = list(source)
            except SourceError as exc:
                error = exc
            elapsed = time.monotonic() - started
            closer.join()
    assert error is None and len(frames) > 0
    assert elapsed < 4  # not the 20 s backoff; a stalled read ends at the 2 s read timeout
    assert source.stats.reconnects == 0
    with pytest.raises(SourceError, match="not open"):
        iter(source)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("scheme", ["http", "tcp", "rtsp"])
def test_unreachable_url_fails_fast(scheme: str) -> None:
    url = f"{scheme}://127.0.0.1:{free_port()}/live"
    started = time.monotonic()
    with (
        pytest.raises(SourceError, match=r"cannot open stream .*127\.0\.0\.1"),
        open_source(url, open_timeout_s=2),
    ):
        pass
    assert time.monotonic() - started < 5


@pytest.fixture
def silent_listener() -> Iterator[str]:
    """A TCP port that accepts connections and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/live"


def test_server_that_never_answers_times_out(silent_listener: str) -> None:
    started = time.monotonic()
    with (
        pytest.raises(SourceError, match="cannot open stream"),
        open_source(silent_listener, open_timeout_s=1),
    ):
        pass
    assert time.monotonic() - started < 5


def test_reconnect_policy_backoff_and_validation() -> None:
    policy = ReconnectPolicy(initial_delay_s=1.0, max_delay_s=8.0, jitter=0.25)
    for attempt, base in enumerate([1.0, 2.0, 4.0, 8.0, 8.0]):
        assert base * 0.75 <= policy.delay_s(attempt) <= base * 1.25
    with pytest.raises(ConfigError, match="jitter"):
        ReconnectPolicy(jitter=1.5)
    with pytest.raises(ConfigError, match="initial_delay_s <= max_delay_s"):
        ReconnectPolicy(initial_delay_s=5, max_delay_s=1)
