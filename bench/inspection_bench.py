"""Inspection on the offline texture set: image/pixel AUROC and PRO per texture, latency per part.

Usage: ``python bench/inspection_bench.py [--train 30] [--test-good 40] [--test-defect 40]
[--textures brick,grass]`` (a few minutes per texture on 2 loaded cores). Latency is per 256x256
part with 2 ONNX Runtime threads: CPU time of this process (every thread; the figure that does not
depend on what else runs on the machine), split into the feature network (with its pooling and
projection head), the nearest-neighbour search with the map and decision, and the pixel heatmap;
wall time p50/p95; and from the image to the reject message arriving at an MQTT subscriber on the
local Mosquitto (if running).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import socket
import tempfile
import time
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from _common import median, table
from edgesight.sensor.inspection.evaluation import evaluate
from edgesight.sensor.inspection.inspector import Inspector, train_product
from edgesight.sensor.inspection.line import inspect_parts
from edgesight.sensor.inspection.parts import read_parts
from edgesight.sensor.inspection.signals import MqttRejectSignal
from inspection_set import TEXTURES, write_set


def _latency(inspector: Inspector, parts: list[np.ndarray], rounds: int = 3) -> dict[str, float]:
    """Per part: CPU time (all threads of this process; load-independent) of each step, wall p50/p95.

    Steps: the feature network with its pooling/projection head, the nearest-neighbour search with
    the map and decision (``judge``), the pixel heatmap (only stored for rejects).
    """
    steps: dict[str, list[float]] = {"network": [], "search": [], "heatmap": [], "cpu": [], "wall": []}
    for _ in range(rounds):
        for part in parts:
            wall, c0 = time.perf_counter(), time.process_time()
            patches, grid = inspector.features.patches(part)
            c1 = time.process_time()
            verdict = inspector.model.judge(patches, grid)
            c2 = time.process_time()
            inspector.heatmap(verdict)
            c3 = time.process_time()
            steps["wall"].append((time.perf_counter() - wall) * 1000)
            for name, ms in (("network", c1 - c0), ("search", c2 - c1), ("heatmap", c3 - c2), ("cpu", c3 - c0)):
                steps[name].append(ms * 1000)
    figures = {name: median(values) for name, values in steps.items()}
    figures["wall_p95"] = float(np.percentile(steps["wall"], 95))
    figures["cpu_p95"] = float(np.percentile(steps["cpu"], 95))
    return figures


def _mqtt_latency(inspector: Inspector, parts: list[np.ndarray]) -> float | None:
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", 1883)) != 0:
            return None
    signal = MqttRejectSignal(prefix=f"bench/{os.getpid()}")
    arrived: queue.Queue[float] = queue.Queue()
    sub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    sub.on_message = lambda *_: arrived.put(time.perf_counter())
    sub.connect("127.0.0.1", 1883)
    sub.subscribe(signal.topic(inspector.product.id), qos=1)
    sub.loop_start()
    time.sleep(0.5)
    inspector.set_threshold(0.0)  # every part is a reject, so every part is signalled
    delays = []
    for i, part in enumerate(parts):
        started = time.perf_counter()
        list(inspect_parts(inspector, [(f"p{i}", part)], [signal]))
        delays.append((arrived.get(timeout=10) - started) * 1000)
    inspector.set_threshold(inspector.product.settings.threshold)
    signal.close()
    sub.loop_stop()
    sub.disconnect()
    return median(delays)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=30)
    parser.add_argument("--test-good", type=int, default=40)
    parser.add_argument("--test-defect", type=int, default=40)
    parser.add_argument("--textures", default=",".join(TEXTURES), help="comma-separated, of " + ", ".join(TEXTURES))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for texture in args.textures.split(","):
            root = write_set(Path(tmp), texture, args.train, args.test_good, args.test_defect)
            started = time.perf_counter()
            product = train_product(texture, [im for _, im in read_parts(root / "train/good")])
            train_s = time.perf_counter() - started
            inspector = Inspector(product, threads=2)
            result = evaluate(inspector, root / "test/good", root / "test/defect", root / "ground_truth/defect")
            parts = [im for _, im in read_parts(root / "test/good")]
            lat = _latency(inspector, parts)
            mqtt_ms = _mqtt_latency(inspector, parts)
            c = result.confusion
            rows.append([
                texture, f"{result.image_auroc:.3f}", f"{result.pixel_auroc:.3f}", f"{result.pro:.3f}",
                f"{c.false_rejects}/{result.good}", f"{c.escapes}/{result.defective}",
                f"{product.bank.shape[0]} x {product.bank.shape[1]}", f"{train_s:.0f}",
                f"{lat['network']:.1f} + {lat['search']:.1f} + {lat['heatmap']:.1f}", f"{lat['cpu']:.1f}",
                f"{lat['cpu_p95']:.1f}", f"{lat['wall']:.1f}", f"{lat['wall_p95']:.1f}",
                "-" if mqtt_ms is None else f"{mqtt_ms:.1f}",
            ])  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (CPU ms are this process's CPU time, all threads)")
    print(table(
        ["texture", "image AUROC", "pixel AUROC", "PRO", "false rejects", "escapes", "memory bank",
         "train s", "CPU ms: network + search + heatmap", "CPU ms p50", "CPU ms p95", "wall ms p50",
         "wall ms p95", "image -> MQTT ms"], rows,
    ))  # fmt: skip


if __name__ == "__main__":
    main()
