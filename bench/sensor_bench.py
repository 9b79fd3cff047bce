"""Sensor runtime benchmark: end-to-end fps, the plain peer pipeline, DNN fp32 vs int8, metadata bytes.

Prints Markdown tables (they paste into BENCHMARKS.md). Run with ``make bench`` or

    .venv/bin/python bench/sensor_bench.py [--frames 150] [--rounds 2] [--tiling 2x2]

Makes (once) into bench/out/: a 3840x2160 H.264 version of vtest.avi and a vtest-resolution H.264
encode, both with ffmpeg (crf 23). Models, their default tiling and the sensor's thread setting
come from the installed package, so the benchmark follows the shipped defaults. Every comparison
interleaves its contenders (ours, peer, ours, peer, ...) so load from other jobs hits both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from _common import OUT, VTEST, Video, interleaved_ms, machine_description, make_h264, probe, table
from edgesight.cli.sense import parse_tiling
from edgesight.core.frame import FrameMeta
from edgesight.core.intrinsics import Tiling
from edgesight.core.package import ModelPackage
from edgesight.core.wire import encode_batch, frame_to_json
from edgesight.sensor.isp import Isp
from edgesight.sensor.pipeline import Sensor, SensorSettings
from edgesight.sensor.runtime import OnnxNetwork
from edgesight.sensor.sources import open_source
from edgesight.sensor.zoo import DEFAULT_MODEL, load_model, zoo_names
from peer_pipeline import PeerPipeline

FP32_MODEL, INT8_MODEL = "nanodet-coco-fp32", "nanodet-coco-int8"


@dataclass
class RunResult:
    """Totals of one or more runs of a pipeline over the same frames."""

    frames: int = 0
    seconds: float = 0.0
    isp_ms: float = 0.0
    dnn_ms: float = 0.0
    post_ms: float = 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def per_frame(self, total_ms: float) -> float:
        return total_ms / self.frames if self.frames else 0.0


def tiling_name(tiling: Tiling) -> str:
    return "off" if tiling.rows == tiling.cols == 1 else f"{tiling.rows}x{tiling.cols}"


def run_ours(
    video: Video, package: ModelPackage, tiling: Tiling, frames: int, keep: list[FrameMeta] | None = None
) -> RunResult:
    """One sensor run over the first ``frames`` frames; session creation and file opening untimed."""
    settings = SensorSettings(tiling=tiling)
    with open_source(str(video.path)) as source:
        sensor = Sensor(source, package, settings)
        started = time.perf_counter()
        for meta in sensor.run(max_frames=frames):
            if keep is not None:
                keep.append(meta)
        seconds = time.perf_counter() - started
    s = sensor.stats
    return RunResult(s.frames, seconds, s.isp_ms, s.dnn_ms, s.post_ms)


def run_peer(video: Video, package: ModelPackage, frames: int) -> RunResult:
    """One run of the plain pipeline over the first ``frames`` frames (threads as the sensor's)."""
    peer = PeerPipeline(package, threads=SensorSettings().threads)
    for _ in peer.run(str(video.path), 0, frames):
        pass
    s = peer.stats
    return RunResult(s.frames, s.elapsed_s, s.decode_ms + s.pre_ms, s.dnn_ms, s.post_ms)


def add(total: RunResult, part: RunResult) -> None:
    total.frames += part.frames
    total.seconds += part.seconds
    total.isp_ms += part.isp_ms
    total.dnn_ms += part.dnn_ms
    total.post_ms += part.post_ms


def end_to_end(
    videos: list[Video], models: list[str], tilings: dict[str, list[Tiling]], args: argparse.Namespace
) -> tuple[list[list[object]], list[list[object]], dict[str, list[FrameMeta]]]:
    """Section 1 and 2: ours (each tiling) and the peer, interleaved round by round."""
    ours_rows: list[list[object]] = []
    peer_rows: list[list[object]] = []
    metas: dict[str, list[FrameMeta]] = {}
    for video in videos:
        frames = min(args.frames, video.frames)
        for name in models:
            package = load_model(name)
            ours = {tiling_name(t): RunResult() for t in tilings[name]}
            peer = RunResult()
            for round_ in range(args.rounds):
                for k, t in enumerate(tilings[name]):
                    # The default model's first run (tiling off) supplies the records for section 4.
                    record = name == DEFAULT_MODEL and round_ == 0 and k == 0
                    keep = metas.setdefault(video.path.name, []) if record else None
                    add(ours[tiling_name(t)], run_ours(video, package, t, frames, keep))
                if not args.skip_peer:
                    add(peer, run_peer(video, package, frames))
            default = tiling_name(package.intrinsics.tiling)
            for tname, r in ours.items():
                label = f"{tname} (default)" if tname == default else tname
                ours_rows.append([
                    video.path.name, name, label, r.fps, r.per_frame(r.isp_ms), r.per_frame(r.dnn_ms),
                    r.per_frame(r.post_ms),
                ])  # fmt: skip
            if not args.skip_peer:
                off = ours[tiling_name(Tiling())]
                peer_rows.append([
                    video.path.name, name, off.fps, peer.fps, off.fps / peer.fps if peer.fps else 0.0,
                    peer.per_frame(peer.isp_ms), peer.per_frame(peer.dnn_ms), peer.per_frame(peer.post_ms),
                ])  # fmt: skip
            print(f"  done: {video.path.name} {name}", flush=True)
    return ours_rows, peer_rows, metas


def dnn_fp32_vs_int8(runs: int, repeats: int) -> list[list[object]]:
    """Section 3: DNN ms in a tight loop, one ISP tensor of vtest.avi, fp32 and int8 interleaved."""
    fp32, int8 = load_model(FP32_MODEL), load_model(INT8_MODEL)
    threads = SensorSettings().threads
    with open_source(str(VTEST)) as source:
        frame = next(f for f in source if f.index == 400)
    tensor = Isp(fp32.intrinsics.input).process(frame)[0].tensor
    nets = [OnnxNetwork(fp32, threads), OnnxNetwork(int8, threads)]
    rows: list[list[object]] = []
    for repeat in range(repeats):
        t_fp32, t_int8 = interleaved_ms([lambda n=n: n.run(tensor) for n in nets], runs, warmup=20)
        pair_ratio = statistics.median(a / b for a, b in zip(t_fp32, t_int8, strict=True))
        m32, m8 = statistics.median(t_fp32), statistics.median(t_int8)
        rows.append([repeat + 1, runs, m32, m8, m32 / m8, pair_ratio])
    return rows


def metadata_bytes(metas: dict[str, list[FrameMeta]], videos: list[Video]) -> list[list[object]]:
    """Section 4: our binary and JSON Lines bytes per second of video vs the video's own bitrate."""
    rows: list[list[object]] = []
    by_name = {v.path.name: v for v in videos}
    for name, records in metas.items():
        video = by_name[name]
        # An .esb file: each 30-frame batch from encode_batch behind a 4-byte length.
        binary = sum(4 + len(encode_batch(records[i : i + 30])) for i in range(0, len(records), 30))
        jsonl = sum(len(frame_to_json(m).encode()) + 1 for m in records)
        per_s = video.fps / len(records)
        compare = [(video.label, video.bitrate_bytes_s)]
        if name == "vtest.avi":  # the same pictures as a modern camera would send them
            h264 = by_name.get("vtest-h264-10fps.mp4")
            if h264 is not None:
                compare.append((h264.label, h264.bitrate_bytes_s))
        for label, video_bytes_s in compare:
            rows.append([
                f"{name}: {len(records)} frames", label, int(video_bytes_s), binary * per_s,
                jsonl * per_s, video_bytes_s / (binary * per_s), video_bytes_s / (jsonl * per_s),
            ])  # fmt: skip
    return rows


def memory_probe(model: str, video: Path, frames: int) -> None:
    """Child process: one sensor run, then print its own peak resident memory.

    Linux carries ``ru_maxrss`` over fork + exec, so a child of this (large) benchmark process
    would report the parent's peak; ``VmHWM`` in /proc/self/status is the peak of the child's own
    address space. Both are printed; the table uses VmHWM where the system has it.
    """
    package = load_model(model)
    result = run_ours(probe(video), package, package.intrinsics.tiling, frames)
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    hwm_mb = None
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                hwm_mb = int(line.split()[1]) / 1024
    r = {
        "model": model,
        "video": video.name,
        "frames": result.frames,
        "maxrss_mb": maxrss_mb,
        "hwm_mb": hwm_mb,
    }
    print(json.dumps(r))


def peak_memory(model: str, videos: list[Video], frames: int) -> list[list[object]]:
    rows: list[list[object]] = []
    for video in videos:
        command = [sys.executable, __file__, "--memory-probe", model, str(video.path), str(frames)]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        peak = r["hwm_mb"] if r["hwm_mb"] is not None else r["maxrss_mb"]
        rows.append([r["model"], video.label, r["frames"], peak])
    return rows


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150, help="frames per run and video (default 150)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds per contender (default 2)")
    parser.add_argument(
        "--tiling", default=None, help="also run this tiling, e.g. 2x2 (default: off + model's)"
    )
    parser.add_argument("--models", nargs="+", default=None, help="zoo models (default: all shipped)")
    parser.add_argument("--dnn-runs", type=int, default=200, help="tight-loop runs per repeat (default 200)")
    parser.add_argument("--dnn-repeats", type=int, default=3)
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--json", type=Path, default=OUT / "sensor_bench.json", help="raw results file")
    parser.add_argument(
        "--memory-probe", nargs=3, metavar=("MODEL", "VIDEO", "FRAMES"), help=argparse.SUPPRESS
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.memory_probe:
        model, video, frames = args.memory_probe
        memory_probe(model, Path(video), int(frames))
        return
    started = time.perf_counter()
    print("## Machine\n")
    print(table(["machine", ""], machine_description()))
    vtest = probe(VTEST)
    video_4k = probe(make_h264(VTEST, OUT / "vtest-4k.mp4", 3840, 2160, 30))
    vtest_h264 = probe(make_h264(VTEST, OUT / "vtest-h264-10fps.mp4", vtest.width, vtest.height, 10))
    models = args.models or [DEFAULT_MODEL, *[m for m in zoo_names() if m != DEFAULT_MODEL]]
    tilings: dict[str, list[Tiling]] = {}
    for name in models:
        options = [Tiling(), load_model(name).intrinsics.tiling]
        extra = parse_tiling(args.tiling)
        if extra is not None:
            options.append(extra)
        tilings[name] = list({tiling_name(t): t for t in options}.values())
    print(f"\nvideos: {video_4k.label}, {vtest.label}; {args.frames} frames x {args.rounds} rounds per row\n")

    ours_rows, peer_rows, metas = end_to_end([video_4k, vtest], models, tilings, args)
    print("\n## 1. End to end (decode + ISP + DNN + post; the sensor's producer/consumer threads)\n")
    print(table(["video", "model", "tiling", "fps", "ISP ms", "DNN ms", "post ms"], ours_rows))
    if peer_rows:
        print(
            "\n## 2. Ours vs the plain peer pipeline (cv2 + numpy + onnxruntime + supervision), tiling off\n"
        )
        headers = [
            "video",
            "model",
            "ours fps",
            "peer fps",
            "ours/peer",
            "peer decode+pre ms",
            "peer DNN ms",
            "peer post ms",
        ]
        print(table(headers, peer_rows))
    print(f"\n## 3. DNN ms, {FP32_MODEL} vs {INT8_MODEL} (tight loop, interleaved, median)\n")
    dnn_rows = dnn_fp32_vs_int8(args.dnn_runs, args.dnn_repeats)
    print(
        table(["repeat", "runs", "fp32 ms", "int8 ms", "ratio of medians", "median of pair ratios"], dnn_rows)
    )
    print(f"\n## 4. Metadata bytes per second of video ({DEFAULT_MODEL}, binary .esb in 30-frame batches)\n")
    meta_rows = metadata_bytes(metas, [video_4k, vtest, vtest_h264])
    headers = ["records", "video", "video B/s", "binary B/s", "JSONL B/s", "video/binary", "video/JSONL"]
    print(table(headers, meta_rows))
    print(f"\n## 5. Peak memory of a sensor run ({DEFAULT_MODEL}, own process, VmHWM / ru_maxrss)\n")
    mem_rows = peak_memory(DEFAULT_MODEL, [video_4k, vtest], args.frames)
    print(table(["model", "video", "frames", "peak RSS MB"], mem_rows))
    elapsed = time.perf_counter() - started
    print(
        f"\nbenchmark took {elapsed / 60:.1f} min; load average now {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "ours": ours_rows, "peer": peer_rows, "dnn": dnn_rows, "metadata": meta_rows, "memory": mem_rows,
        "elapsed_s": elapsed, "machine": machine_description(),
    }, indent=1, default=str))  # fmt: skip


if __name__ == "__main__":
    main()
