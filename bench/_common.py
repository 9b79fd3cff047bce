"""Helpers shared by the benchmarks: machine description, test videos, timing, tables."""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgesight.sensor.runtime_policy import cpu_flags

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
VTEST = ROOT / "data" / "vtest.avi"

_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512bw", "avx512_bf16", "amx_bf16", "amx_int8", "fma")


@dataclass(frozen=True)
class Video:
    """A benchmark clip: file, frame size, frame rate, frame count and codec."""

    path: Path
    width: int
    height: int
    fps: float
    frames: int
    codec: str

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps

    @property
    def bitrate_bytes_s(self) -> float:
        """Whole file size (container included) per second of video."""
        return self.path.stat().st_size / self.duration_s

    @property
    def label(self) -> str:
        return f"{self.path.name} ({self.width}x{self.height} {self.codec}, {self.fps:g} fps)"


def probe(path: Path) -> Video:
    """Frame size, rate, count and codec of a video file, read with PyAV."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = stream.frames or sum(1 for _ in container.demux(stream) if _.size)
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        return Video(
            path,
            stream.codec_context.width,
            stream.codec_context.height,
            rate,
            frames,
            stream.codec_context.name,
        )


def make_h264(source: Path, out: Path, width: int, height: int, fps: int, preset: str = "medium") -> Path:
    """Encode ``source`` to H.264 (crf 23, yuv420p) at ``width x height`` once; reuse it afterwards.

    Every source frame is kept and re-timed to ``fps`` (``setpts``), so nothing is duplicated or
    dropped: vtest.avi's 795 frames at 30 fps make a 26.5 s clip whose bitrate is that of a real
    30 fps camera stream of the same pictures.
    """
    if out.is_file():
        return out
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg is needed to make the benchmark clips (make bench installs it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp" + out.suffix)
    vf = f"scale={width}:{height}:flags=bicubic,setpts=N/({fps}*TB)"
    command = [
        "ffmpeg", "-y", "-loglevel", "error", "-i", str(source), "-vf", vf, "-r", str(fps),
        "-c:v", "libx264", "-preset", preset, "-crf", "23", "-pix_fmt", "yuv420p", str(tmp),
    ]  # fmt: skip
    started = time.perf_counter()
    print(f"making {out.relative_to(ROOT)} with ffmpeg (once) ...", flush=True)
    subprocess.run(command, check=True)
    tmp.replace(out)
    print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
    return out


def machine_description() -> list[tuple[str, str]]:
    """CPU model, cores, SIMD flags, RAM and library versions, as (name, value) rows."""
    import av
    import cv2
    import numpy
    import onnxruntime

    cpu, flags = platform.processor() or "?", cpu_flags()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    present = [f for f in _FLAGS if f in flags]
    vnni = any("vnni" in f for f in flags)
    amx = "amx_bf16" in flags
    try:
        from importlib.metadata import version

        openvino = f", OpenVINO {version('openvino')}"
    except ImportError:
        openvino = ""
    return [
        ("CPU", cpu),
        ("cores (usable)", f"{len(os.sched_getaffinity(0))} (of {os.cpu_count()})"),
        (
            "SIMD flags",
            f"{' '.join(present) or 'none of ' + ' '.join(_FLAGS)}; VNNI: {'yes' if vnni else 'no'}; AMX-BF16: {'yes' if amx else 'no'}",
        ),
        ("RAM", f"{ram_gb:.1f} GiB"),
        ("OS / Python", f"{platform.platform()} / {platform.python_version()}"),
        (
            "libraries",
            f"onnxruntime {onnxruntime.__version__}, PyAV {av.__version__}, OpenCV {cv2.__version__}, "
            f"numpy {numpy.__version__}{openvino}",
        ),
        ("load average at start", " ".join(f"{v:.2f}" for v in os.getloadavg())),
    ]


def interleaved_ms(calls: Sequence[Callable[[], object]], runs: int, warmup: int = 10) -> list[list[float]]:
    """Milliseconds per call of each function, calling them in turn ``runs`` times after a warm-up.

    Interleaving makes every function see the same machine: drift from other jobs hits all alike.
    """
    for call in calls:
        for _ in range(warmup):
            call()
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(runs):
        for call, sink in zip(calls, times, strict=True):
            t0 = time.perf_counter()
            call()
            sink.append((time.perf_counter() - t0) * 1e3)
    return times


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (pastes straight into BENCHMARKS.md)."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    return "\n".join([line, rule, *body])


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)
