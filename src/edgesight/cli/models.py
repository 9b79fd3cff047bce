"""``edgesight models``: the shipped model zoo, with each network's latency measured here and now."""

from __future__ import annotations

import statistics
import time
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from edgesight.core.config import DEFAULT_MODEL
from edgesight.core.intrinsics import Layout
from edgesight.core.package import ModelPackage, read_package
from edgesight.sensor.runtime import OnnxNetwork
from edgesight.sensor.zoo import zoo_dir, zoo_names

_WARMUP = 2


def register(app: typer.Typer) -> None:
    app.command(
        "models", help="List the models that ship with EdgeSight, with latency measured on this machine."
    )(list_models)


def measure_latency_ms(package: ModelPackage, runs: int) -> float:
    """Median milliseconds of one inference on one thread (what each of the sensor's per-core
    sessions spends per pass), after a warm-up, on an all-zero input.

    Timed in this thread's CPU time: a single-threaded session runs in the calling thread, so
    this is the inference's own compute, the latency on an idle core, even while other processes
    load the machine (wall-clock time would add their share)."""
    spec = package.intrinsics.input
    shape = (1, 3, spec.height, spec.width) if spec.layout is Layout.NCHW else (1, spec.height, spec.width, 3)
    tensor = np.zeros(shape, np.uint8 if spec.dtype == "uint8" else np.float32)
    network = OnnxNetwork(package, threads=1)
    times = []
    for k in range(_WARMUP + runs):
        started = time.thread_time()
        network.run(tensor)
        if k >= _WARMUP:
            times.append((time.thread_time() - started) * 1e3)
    return statistics.median(times)


def list_models(
    runs: Annotated[
        int, typer.Option("--runs", min=0, help="inferences timed per model (0: skip timing)")
    ] = 10,
) -> None:
    columns = ("name", "task", "input", "precision", "decoder", "labels", "MB", "ms (1 thread)")
    table = Table(*columns, title="model zoo")
    for name in zoo_names():
        path = zoo_dir() / f"{name}.espkg"
        pkg = read_package(path)
        i = pkg.intrinsics
        marker = " (default)" if name == DEFAULT_MODEL else ""
        table.add_row(
            name + marker,
            i.task.value,
            f"{i.input.width}x{i.input.height} {i.input.color.value}",
            i.precision,
            i.decoder.name,
            str(len(pkg.labels)),
            f"{path.stat().st_size / 1e6:.1f}",
            f"{measure_latency_ms(pkg, runs):.1f}" if runs else "-",
        )
    Console().print(table)
