"""Sensor benchmark: the shipped defaults end to end against the plain peer and the machine's ceiling.

Prints Markdown tables (they paste into BENCHMARKS.md), machine and SIMD flags first. Run with
``make bench`` or

    .venv/bin/python bench/sensor_bench.py [--frames 300] [--rounds 2]

Makes (once) into bench/out/: a 3840x2160 H.264 version of vtest.avi (30 fps) and a vtest-size
H.264 encode, both with ffmpeg (crf 23). On each video, in one interleaved run (ours, peer,
ceiling probe, ours, peer, ...):

* **ours**: ``Sensor`` at the shipped defaults (this machine's default model and runtime, one
  session per core, automatic tiling), wall-clock fps over the first ``--frames`` frames;
* **peer**: ``bench/peer_pipeline.py`` (OpenCV capture, numpy pre-processing, ONNX Runtime with
  its default threads), whole frame, on the int8 ``model.onnx`` of the default network: ONNX
  Runtime's fastest form of it (on a CPU with AMX or AMD's AVX-512 BF16 the defaults run the
  float form of the same network in bfloat16 on OpenVINO; the peer on that float file would be
  slower still);
* **ceiling**: the machine's limit for the same work, ``cores / CPU time per frame`` of decode +
  ISP + network (all passes the defaults run) done one after another in one thread. It decodes
  as the defaults do (at 4K without H.264's deblocking filter, see
  ``edgesight.sensor.deblocking_policy``) and uses process CPU time, so other jobs on the machine
  barely move it.

The CPU ms per frame of each (process CPU time, all threads) are printed too: on a loaded machine
wall-clock fps fall with the load, while ours/ceiling CPU time still shows what the pipeline adds
to the bare work (threads, queues, decoding of boxes, NMS).

Then: where each video's CPU time per frame goes (decode, ISP, one network pass; process CPU
time, so it holds on a shared machine), DNN ms of the default network in fp32 and int8, metadata
bytes (tracked, binary, KPIs per batch and per frame) against the 4K H.264 stream, and peak memory.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
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
from edgesight.agent.runner import AgentSettings
from edgesight.apps.tracking import Tracker
from edgesight.core.frame import FrameMeta
from edgesight.core.package import ModelPackage
from edgesight.core.wire import encode_batch
from edgesight.sensor.deblocking_policy import deblocks
from edgesight.sensor.detector import Detector
from edgesight.sensor.isp import Isp
from edgesight.sensor.openvino_runtime import OpenVinoNetwork, openvino_installed
from edgesight.sensor.pipeline import Sensor, SensorSettings, default_sessions
from edgesight.sensor.runtime import Network, OnnxNetwork
from edgesight.sensor.runtime_policy import default_model, open_network, openvino_precision, runtime_name
from edgesight.sensor.sources import FrameSource, open_source
from edgesight.sensor.zoo import DEFAULT_MODEL, load_model
from peer_pipeline import PeerPipeline

TARGETS = {"ours/peer": 1.5, "% of ceiling": 85.0}
FPS_TARGETS = {"vtest.avi": 100.0, "vtest-4k.mp4": 40.0}
"""fps required on an AVX-512 VNNI machine (issue 9)."""


@dataclass
class Totals:
    """Frames and seconds (wall or CPU) summed over rounds."""

    frames: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0
    passes: int = 0

    def add(self, frames: int, seconds: float, cpu_s: float = 0.0) -> None:
        self.frames += frames
        self.seconds += seconds
        self.cpu_s += cpu_s

    @property
    def cpu_ms(self) -> float:
        """Process CPU milliseconds per frame (all threads)."""
        return 1e3 * self.cpu_s / self.frames if self.frames else 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


def run_ours(
    video: Video, package: ModelPackage, frames: int, keep: list[FrameMeta] | None = None
) -> tuple[int, float, float]:
    """The sensor at its defaults over the first ``frames`` frames (session creation untimed):
    frames, wall seconds, process CPU seconds."""
    with open_source(str(video.path)) as source:
        sensor = Sensor(source, package, SensorSettings())
        started, cpu = time.perf_counter(), time.process_time()
        for meta in sensor.run(max_frames=frames):
            if keep is not None:
                keep.append(meta)
        return sensor.stats.frames, time.perf_counter() - started, time.process_time() - cpu


def run_peer(peer: PeerPipeline, video: Video, frames: int) -> tuple[int, float, float]:
    cpu = time.process_time()
    for _ in peer.run(str(video.path), 0, frames):
        pass
    return peer.stats.frames, peer.stats.elapsed_s, time.process_time() - cpu


def defaults_source(video: Video, package: ModelPackage) -> tuple[FrameSource, Isp]:
    """An unopened source of ``video`` decoding as the defaults do (the sensor sets its deblocking
    filter, see ``edgesight.sensor.deblocking_policy``), and the defaults' ISP (ROI, tiles)."""
    source = open_source(str(video.path))
    return source, Sensor(source, package).isp


def ceiling_probe(
    video: Video, package: ModelPackage, detector: Detector, frames: int
) -> tuple[int, float, int]:
    """Decode, ISP and every network pass of the defaults, one frame after another in this thread;
    returns (frames, process CPU seconds, passes per frame)."""
    source, isp = defaults_source(video, package)
    count, passes = 0, 0
    with source:
        frames_iter = iter(source)
        started = time.process_time()
        for frame in frames_iter:
            outputs = isp.process(frame)
            for out in outputs:
                detector.network.run(out.tensor)
            passes = len(outputs)
            count += 1
            if count >= frames:
                break
        return count, time.process_time() - started, passes


def end_to_end(
    videos: list[Video], args: argparse.Namespace
) -> tuple[list[list[object]], dict[str, list[FrameMeta]]]:
    package = load_model(default_model())
    peer = PeerPipeline(load_model(DEFAULT_MODEL))
    probe_detector = Detector(package, threads=1)
    cores = default_sessions()
    rows: list[list[object]] = []
    metas: dict[str, list[FrameMeta]] = {}
    totals = {v.path.name: (Totals(), Totals(), Totals()) for v in videos}
    for round_ in range(args.rounds):
        for video in videos:
            frames = min(args.frames, video.frames)
            ours, theirs, ceiling = totals[video.path.name]
            keep = metas.setdefault(video.path.name, []) if round_ == 0 else None
            ours.add(*run_ours(video, package, frames, keep))
            theirs.add(*run_peer(peer, video, frames))
            n, cpu_s, ceiling.passes = ceiling_probe(video, package, probe_detector, frames)
            ceiling.add(n, cpu_s / cores, cpu_s)
            print(f"  round {round_ + 1}: {video.path.name} ours {ours.fps:.1f} peer {theirs.fps:.1f} "
                  f"ceiling {ceiling.fps:.1f} fps", flush=True)  # fmt: skip
    for video in videos:
        ours, theirs, ceiling = totals[video.path.name]
        ratio = ours.fps / theirs.fps if theirs.fps else 0.0
        share = 100 * ours.fps / ceiling.fps if ceiling.fps else 0.0
        need = FPS_TARGETS.get(video.path.name)
        met = (
            ratio >= TARGETS["ours/peer"]
            and share >= TARGETS["% of ceiling"]
            and (need is None or ours.fps >= need)
        )
        rows.append([
            video.label, f"{ceiling.passes}", f"{ours.fps:.1f}", f"{theirs.fps:.1f}", f"{ratio:.2f}",
            f"{ceiling.fps:.1f}", f"{share:.0f}", f">= {need:g}" if need else "-", "yes" if met else "**no**",
            f"{ours.cpu_ms:.1f}", f"{theirs.cpu_ms:.1f}", f"{ceiling.cpu_ms:.1f}",
        ])  # fmt: skip
    return rows, metas


def stage_cpu(videos: list[Video], frames: int, rounds: int) -> list[list[object]]:
    """Process CPU ms per frame of decoding (``frames`` frames), of the defaults' ISP (all tiles, on
    30 decoded frames kept in memory: 370 MB at 4K) and of one network pass (one single-threaded
    session): min and median over ``rounds`` interleaved runs."""
    package = load_model(default_model())
    network = open_network(package, "auto", 1)
    rows: list[list[object]] = []
    for video in videos:
        source, isp = defaults_source(video, package)
        n = min(frames, video.frames)
        with source:
            pictures = list(itertools.islice(source, 30))
        outputs = isp.process(pictures[0])
        passes, tensor = len(outputs), outputs[0].tensor
        decode, isp_ms, dnn = [], [], []
        for _ in range(rounds):
            with defaults_source(video, package)[0] as source:
                cpu = time.process_time()
                count = sum(1 for _ in itertools.islice(source, n))
                decode.append(1e3 * (time.process_time() - cpu) / count)
            cpu = time.process_time()
            for picture in pictures:
                isp.process(picture)
            isp_ms.append(1e3 * (time.process_time() - cpu) / len(pictures))
            for _ in range(20):
                cpu = time.process_time()
                network.run(tensor)
                dnn.append(1e3 * (time.process_time() - cpu))
        del pictures
        deblocking = deblocks(SensorSettings().deblocking, isp.downscale(video.width, video.height))
        rows.append([
            video.label, n, rounds, "on" if deblocking else "off", f"{min(decode):.1f} / {statistics.median(decode):.1f}",
            f"{min(isp_ms):.1f} / {statistics.median(isp_ms):.1f}", passes,
            f"{min(dnn):.1f} / {statistics.median(dnn):.1f}",
            f"{statistics.median(decode) + statistics.median(isp_ms) + passes * statistics.median(dnn):.1f}",
        ])  # fmt: skip
    return rows


def dnn_networks() -> list[tuple[str, Network]]:
    """The default network as fp32 and int8 on ONNX Runtime and, where installed, fp32 on OpenVINO
    in the precision the CPU offers (bf16 on AMX and AMD's AVX-512 BF16), each with one thread."""
    int8 = load_model(DEFAULT_MODEL)
    fp32 = load_model(DEFAULT_MODEL.replace("-int8", "-fp32"))
    nets: list[tuple[str, Network]] = [("fp32 onnxruntime", OnnxNetwork(fp32, 1)), ("int8 onnxruntime", OnnxNetwork(int8, 1))]
    if openvino_installed():
        precision = openvino_precision()
        nets.append((f"fp32 openvino {precision}", OpenVinoNetwork(fp32, 1, precision)))
    return nets


def dnn_ms(runs: int, repeats: int) -> tuple[list[str], list[list[object]]]:
    """DNN ms (wall, median) in a tight loop on one ISP tensor of vtest.avi, the networks of
    :func:`dnn_networks` interleaved, 1 thread."""
    nets = dnn_networks()
    with open_source(str(VTEST)) as source:
        frame = next(f for f in source if f.index == 400)
    tensor = Isp(load_model(DEFAULT_MODEL).intrinsics.input).process(frame)[0].tensor
    rows: list[list[object]] = []
    for repeat in range(repeats):
        times = interleaved_ms([lambda n=n: n.run(tensor) for _, n in nets], runs, warmup=20)
        medians = [statistics.median(t) for t in times]
        rows.append([repeat + 1, runs, *(f"{m:.1f}" for m in medians), f"{medians[0] / medians[1]:.2f}",
                     *(f"{medians[1] / m:.2f}" for m in medians[2:])])  # fmt: skip
    headers = ["repeat", "runs", *(f"{label} ms" for label, _ in nets), "fp32/int8 (onnxruntime)",
               *(f"int8 onnxruntime / {label}" for label, _ in nets[2:])]  # fmt: skip
    return headers, rows


def metadata_bytes(metas: dict[str, list[FrameMeta]], videos: list[Video]) -> list[list[object]]:
    """Binary ``.esb`` bytes per second (the agent's batches, ``AgentSettings.batch_frames`` frames
    behind a 4-byte length) of tracked and untracked records against the video's own bytes per second."""
    rows: list[list[object]] = []
    by_name = {v.path.name: v for v in videos}
    for name, records in metas.items():
        video = by_name[name]
        tracker = Tracker()
        # Tracked as the agent sends it: confirmed tracks only, each box with its track id.
        tracked = [
            dataclasses.replace(r, detections=tracker.update(r.detections, r.timestamp)) for r in records
        ]
        per_s = video.fps / len(records)
        size = AgentSettings.batch_frames
        for label, recs in (("untracked", records), ("tracked", tracked)):
            binary, per_frame_kpis = (
                sum(4 + len(encode_batch(recs[i : i + size], kpi=kpi)) for i in range(0, len(recs), size))
                for kpi in ("batch", "frame")
            )
            rows.append([
                f"{name}: {len(recs)} frames, {label}", video.label, int(video.bitrate_bytes_s),
                f"{binary / len(recs):.1f}", f"{per_frame_kpis / len(recs):.1f}", f"{binary * per_s:.0f}",
                f"{video.bitrate_bytes_s / (binary * per_s):.0f}",
            ])  # fmt: skip
    return rows


def memory_probe(model: str, video: Path, frames: int) -> None:
    """Child process: one sensor run at the defaults, then print its own peak resident memory
    (VmHWM: ``ru_maxrss`` is carried over fork + exec from the benchmark parent on Linux)."""
    run_ours(probe(video), load_model(model), frames)
    hwm_mb = None
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                hwm_mb = int(line.split()[1]) / 1024
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"model": model, "video": video.name, "peak_mb": hwm_mb or maxrss_mb}))


def peak_memory(model: str, videos: list[Video], frames: int) -> list[list[object]]:
    rows: list[list[object]] = []
    for video in videos:
        command = [sys.executable, __file__, "--memory-probe", model, str(video.path), str(frames)]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        rows.append([r["model"], video.label, frames, f"{r['peak_mb']:.0f}"])
    return rows


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="frames per run and video (default 300)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    parser.add_argument("--dnn-runs", type=int, default=100, help="tight-loop runs per repeat (default 100)")
    parser.add_argument("--dnn-repeats", type=int, default=2)
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
    machine = machine_description()
    print("## Machine\n")
    print(table(["machine", ""], machine))
    vtest = probe(VTEST)
    video_4k = probe(make_h264(VTEST, OUT / "vtest-4k.mp4", 3840, 2160, 30))
    ours = default_model()
    runtime = runtime_name(load_model(ours))
    print(f"\nours: {ours} on {runtime}; peer: {DEFAULT_MODEL} on onnxruntime; "
          f"{args.frames} frames x {args.rounds} interleaved rounds per video\n")  # fmt: skip
    rows, metas = end_to_end([vtest, video_4k], args)
    print(f"\n## 1. End to end at the shipped defaults ({ours}, {runtime}) vs peer and ceiling\n")
    headers = ["video", "passes/frame", "ours fps", "peer fps", "ours/peer", "ceiling fps", "% of ceiling",
               "fps target (VNNI)", "targets met", "ours CPU ms/frame", "peer CPU ms/frame",
               "ceiling CPU ms/frame"]  # fmt: skip
    print(table(headers, rows))
    print("\n## 1b. CPU ms per frame by stage (process CPU time, min / median over rounds)\n")
    stage_rows = stage_cpu([vtest, video_4k], min(args.frames, 150), max(2, args.rounds))
    print(table(["video", "frames", "rounds", "deblocking", "decode ms", "ISP ms (all passes)", "passes", "DNN ms/pass (1 thread)",
                 "sum of medians ms"], stage_rows))  # fmt: skip
    print(f"\n## 2. DNN ms of {DEFAULT_MODEL.replace('-int8', '')} by precision and runtime (1 thread, interleaved, median)\n")
    dnn_headers, dnn_rows = dnn_ms(args.dnn_runs, args.dnn_repeats)
    print(table(dnn_headers, dnn_rows))
    print(f"\n## 3. Metadata: binary .esb ({AgentSettings.batch_frames}-frame batches, KPIs per batch) vs the video stream\n")
    meta_rows = metadata_bytes(metas, [video_4k, vtest])
    headers = ["records", "video", "video B/s", "binary B/frame", "B/frame, KPIs per frame", "binary B/s",
               "video/binary"]  # fmt: skip
    print(table(headers, meta_rows))
    print("\n## 4. Peak memory of a sensor run at the defaults (own process, VmHWM)\n")
    mem_rows = peak_memory(ours, [video_4k, vtest], min(args.frames, 150))
    print(table(["model", "video", "frames", "peak RSS MB"], mem_rows))
    elapsed = time.perf_counter() - started
    print(
        f"\nbenchmark took {elapsed / 60:.1f} min; load average now {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "ours": [ours, runtime], "end_to_end": rows, "stages": stage_rows, "dnn": [dnn_headers, *dnn_rows], "metadata": meta_rows, "memory": mem_rows,
        "elapsed_s": elapsed, "machine": machine,
    }, indent=1, default=str))  # fmt: skip


if __name__ == "__main__":
    main()
