"""Latency of a network on this machine with ONNX Runtime: the median of a few timed runs."""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping

import numpy as np
import onnxruntime as ort

from edgesight.factory.memory_report import GraphError

__all__ = ["median_latency_ms"]

_NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
}


def median_latency_ms(
    network: bytes,
    *,
    runs: int = 10,
    warmup: int = 2,
    threads: int = 1,
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
) -> float:
    """Median wall time of one inference in milliseconds, on random inputs.

    Same session options as the sensor (all graph optimisations, ``threads`` intra-op threads);
    dynamic dimensions take ``input_shapes`` or 1. The first ``warmup`` runs are not timed.
    """
    if runs < 1:
        raise GraphError(f"runs must be at least 1, got {runs}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        session = ort.InferenceSession(network, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad graphs
        raise GraphError(f"the network does not load in ONNX Runtime ({exc})") from exc
    rng = np.random.default_rng(0)
    feeds = {}
    for spec in session.get_inputs():
        given = (input_shapes or {}).get(spec.name)
        shape = [d if isinstance(d, int) and d > 0 else (given[i] if given else 1) for i, d in enumerate(spec.shape)]
        dtype = _NUMPY_TYPES.get(spec.type)
        if dtype is None:
            raise GraphError(f"input {spec.name!r} has type {spec.type}, which the latency probe cannot fill")
        feeds[spec.name] = (rng.random(shape) * 255).astype(dtype)
    timings = []
    for i in range(warmup + runs):
        start = time.perf_counter()
        session.run(None, feeds)
        if i >= warmup:
            timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)
