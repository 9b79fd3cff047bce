"""The network on ONNX Runtime: a session per model package, checked against its intrinsics.

:class:`Network` is what the detector needs of any runtime; :class:`OnnxNetwork` is the default
one, :class:`~edgesight.sensor.openvino_runtime.OpenVinoNetwork` the other (see
:mod:`edgesight.sensor.runtime_policy` for which one a sensor uses).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from edgesight.core.errors import ModelLoadError
from edgesight.core.intrinsics import Layout
from edgesight.core.package import ModelPackage

__all__ = ["Network", "OnnxNetwork", "check_input"]

_ORT_DTYPES = {"tensor(float)": "float32", "tensor(uint8)": "uint8"}


class Network(Protocol):
    """One loaded network that runs one inference at a time."""

    runtime: str
    """What runs it and how, as ``edgesight models`` and the ``sense`` summary print it."""
    output_shapes: list[tuple[int | str | None, ...]]
    """Output shapes in the network's order (symbolic dimensions as names or None)."""

    def run(self, tensor: npt.NDArray[np.float32] | npt.NDArray[np.uint8]) -> list[npt.NDArray[np.float32]]:
        """Run one inference; outputs in the network's order."""
        ...


def check_input(package: ModelPackage, shape: tuple[int | str | None, ...], dtype: str | None) -> None:
    """Raise ModelLoadError unless the network's input fits the package's intrinsics.

    ``shape`` may hold symbolic dimensions (names, None or -1), which accept any value; ``dtype``
    is a numpy name (``float32``, ``uint8``) or the runtime's own name of a type no intrinsics
    can declare.
    """
    spec = package.intrinsics.input
    if spec.layout is Layout.NCHW:
        expected: tuple[int, ...] = (1, 3, spec.height, spec.width)
    else:
        expected = (1, spec.height, spec.width, 3)
    fixed = [got == want for got, want in zip(shape, expected, strict=False) if isinstance(got, int) and got > 0]
    if len(shape) != 4 or not all(fixed):
        raise ModelLoadError(
            f"{package.source}: intrinsics input {spec.layout.value} {spec.width}x{spec.height} expects "
            f"tensor shape {list(expected)}, the network's input is {list(shape)}"
        )
    if dtype != spec.dtype:
        raise ModelLoadError(f"{package.source}: intrinsics input dtype is {spec.dtype}, the network takes {dtype}")


class OnnxNetwork:
    """One inference session. ``threads`` bounds ONNX Runtime's intra-op pool; the sensor runs one
    single-threaded session per core on alternating frames, which keeps every core on useful work
    (a multi-threaded session waits at every layer for its slowest thread).

    Pool threads do not spin while they wait for work: on a machine shared with decoding, the ISP
    and other processes, a spinning thread burns a core that another stage needs.

    Raises:
        ModelLoadError: the network does not load, or its input does not match the intrinsics.
    """

    runtime = "onnxruntime"

    def __init__(self, package: ModelPackage, threads: int = 1) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(
                package.network, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad graphs
            raise ModelLoadError(
                f"{package.source}: model.onnx does not load in ONNX Runtime ({exc})"
            ) from exc
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ModelLoadError(f"{package.source}: network must have 1 input, it has {len(inputs)}")
        self.input_name: str = inputs[0].name
        self.output_names: list[str] = [o.name for o in self._session.get_outputs()]
        self.output_shapes: list[tuple[int | str | None, ...]] = [
            tuple(o.shape) for o in self._session.get_outputs()
        ]
        check_input(package, tuple(inputs[0].shape), _ORT_DTYPES.get(inputs[0].type, inputs[0].type))

    def run(self, tensor: npt.NDArray[np.float32] | npt.NDArray[np.uint8]) -> list[npt.NDArray[np.float32]]:
        """Run one inference; outputs in the network's order."""
        outputs = self._session.run(self.output_names, {self.input_name: tensor})
        return [np.asarray(o, dtype=np.float32) for o in outputs]  # float32 already: no copy
