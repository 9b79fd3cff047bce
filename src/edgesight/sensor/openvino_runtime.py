"""The network on OpenVINO, the runtime the sensor picks for a float network on a bfloat16 CPU.

OpenVINO is an optional dependency (``pip install 'edgesight[openvino]'``). On a CPU with Intel
AMX it runs a float network in bfloat16 on the matrix unit; on nanodet-plus-m-416 that is 12 ms a
pass against ONNX Runtime's 15.5 ms for the int8 network and 21.5 ms for the float one (one
thread, Xeon with AMX; BENCHMARKS.md). On AMD's AVX-512 BF16 (Zen 4) it is 13.8 ms against 14.4
ms for int8. Elsewhere it has no such edge (float32: 20 ms; bfloat16 on an Intel CPU's AVX-512
BF16 without AMX: 27.7 ms), which is why :mod:`edgesight.sensor.runtime_policy` chooses it only
on those two.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from edgesight.core.errors import ModelLoadError
from edgesight.core.package import ModelPackage
from edgesight.sensor.runtime import check_input

__all__ = ["OpenVinoNetwork", "Precision", "openvino_installed", "telemetry_choice_file"]

Precision = Literal["bf16", "f32"]
"""Arithmetic OpenVINO runs a float network in: bfloat16 (where the CPU has it) or float32."""

_OV_DTYPES = {"f32": "float32", "u8": "uint8"}

log = logging.getLogger(__name__)


def _dims(port: Any) -> tuple[int | None, ...]:
    """A port's shape, a dynamic dimension as None."""
    return tuple(int(d.get_length()) if d.is_static else None for d in port.get_partial_shape())


def telemetry_choice_file() -> Path:
    """Where OpenVINO's telemetry package reads the user's choice (``1`` yes, ``0`` no)."""
    return Path.home() / "intel" / "openvino_telemetry"


def _decline_telemetry() -> None:
    """Record "no" to OpenVINO's telemetry where no choice is recorded, before OpenVINO is imported.

    Importing the ``openvino`` package reports the import to Intel's analytics over the network
    unless the user has declined (or ``CI=true``). A sensor sends nothing anywhere it was not told
    to, so EdgeSight declines the way OpenVINO documents (``opt_in_out --opt_out`` writes the same
    ``0``). A choice already recorded is the user's own and stays as it is.
    """
    path = telemetry_choice_file()
    if path.exists():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("0", encoding="utf-8")
    except OSError as exc:
        log.warning(
            "could not record the decline of OpenVINO's telemetry in %s (%s): OpenVINO may try to report "
            "its import; write 0 to that file to stop it",
            path, exc,
        )  # fmt: skip


def openvino_installed() -> bool:
    """Whether the ``openvino`` package can be imported (without importing it: it is large).

    Example:
        >>> isinstance(openvino_installed(), bool)
        True
    """
    return importlib.util.find_spec("openvino") is not None


class OpenVinoNetwork:
    """One compiled network with one inference request, the OpenVINO twin of
    :class:`~edgesight.sensor.runtime.OnnxNetwork`: ``threads`` inference threads, not pinned
    to cores (the sensor shares the machine with decoding, the ISP and other processes).

    Args:
        package: a verified model package; its ONNX network is read from memory.
        threads: inference threads of this network.
        precision: ``bf16`` runs float layers in bfloat16 (needs a CPU with AVX-512 BF16 or AMX),
            ``f32`` in float32.

    Raises:
        ModelLoadError: OpenVINO is not installed, the network does not compile, or its input does
            not match the intrinsics.
    """

    def __init__(self, package: ModelPackage, threads: int = 1, precision: Precision = "bf16") -> None:
        if not openvino_installed():
            raise ModelLoadError(
                f"{package.source}: sensor.runtime openvino needs the openvino package "
                "(pip install 'edgesight[openvino]')"
            )
        _decline_telemetry()
        import openvino as ov  # deferred: 180 MB that a device on ONNX Runtime never loads

        self.runtime = f"openvino {precision}"
        config: dict[str, Any] = {
            "INFERENCE_NUM_THREADS": threads,
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
            "ENABLE_CPU_PINNING": False,
            "INFERENCE_PRECISION_HINT": precision,
        }
        try:
            core = ov.Core()
            self._compiled = core.compile_model(core.read_model(package.network), "CPU", config)
        except Exception as exc:  # OpenVINO raises plain RuntimeErrors for bad graphs and settings
            raise ModelLoadError(f"{package.source}: model.onnx does not compile in OpenVINO ({exc})") from exc
        inputs = self._compiled.inputs
        if len(inputs) != 1:
            raise ModelLoadError(f"{package.source}: network must have 1 input, it has {len(inputs)}")
        element = inputs[0].get_element_type().get_type_name()
        check_input(package, _dims(inputs[0]), _OV_DTYPES.get(element, element))
        self.output_shapes: list[tuple[int | str | None, ...]] = [_dims(o) for o in self._compiled.outputs]
        self._request = self._compiled.create_infer_request()

    def run(self, tensor: npt.NDArray[np.float32] | npt.NDArray[np.uint8]) -> list[npt.NDArray[np.float32]]:
        """Run one inference; outputs in the network's order (copies: the request reuses its own)."""
        results = self._request.infer({0: tensor}, share_inputs=True)
        return [np.asarray(results[o], dtype=np.float32) for o in self._compiled.outputs]
