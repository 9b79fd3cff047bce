"""Post-training int8 quantization of an ONNX network with ONNX Runtime's static quantizer.

Static (calibrated) QDQ quantization: weights int8 per channel, activations uint8 with ranges
measured on real frames. Only the operator types named are quantized; a detector's output heads
usually must stay in float, because their scores and box distances need more than 8 bits (NanoDet
finds nothing when its heads are quantized), so callers list those nodes in ``exclude_nodes``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from edgesight.core.errors import EdgeSightError


class _Frames(CalibrationDataReader):  # type: ignore[misc]
    def __init__(self, input_name: str, tensors: Iterable[npt.NDArray[np.float32]]) -> None:
        self._feeds: Iterator[dict[str, npt.NDArray[np.float32]]] = ({input_name: t} for t in tensors)

    def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
        return next(self._feeds, None)


def quantize_int8(
    network: bytes,
    calibration: Iterable[npt.NDArray[np.float32]],
    *,
    op_types: Sequence[str] = ("Conv",),
    exclude_nodes: Sequence[str] = (),
    method: CalibrationMethod = CalibrationMethod.MinMax,
) -> bytes:
    """Return the int8 version of an fp32 ONNX network.

    Args:
        network: the fp32 ONNX model bytes.
        calibration: input tensors exactly as the ISP produces them (a few dozen real frames).
        op_types: operator types to quantize.
        exclude_nodes: node names kept in float (e.g. output heads).
        method: how activation ranges are measured from the calibration tensors.
    """
    model = onnx.load_from_string(network)
    input_name = model.graph.input[0].name
    with tempfile.TemporaryDirectory() as tmp:
        src, pre, dst = Path(tmp, "fp32.onnx"), Path(tmp, "pre.onnx"), Path(tmp, "int8.onnx")
        src.write_bytes(network)
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        missing = set(exclude_nodes) - {n.name for n in model.graph.node}
        if missing:
            raise EdgeSightError(f"quantize: nodes to exclude not in the network: {sorted(missing)}")
        quantize_static(
            str(pre),
            str(dst),
            _Frames(input_name, calibration),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(op_types),
            nodes_to_exclude=list(exclude_nodes),
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=method,
        )
        return dst.read_bytes()
