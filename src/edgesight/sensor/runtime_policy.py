"""Which runtime runs a network, and which zoo model a device runs when its config names none.

ONNX Runtime runs every package, and int8 packages fastest on most CPUs: on AVX-512 VNNI int8 is
1.5x float, on AVX2 alone 1.15x. Two kinds of CPU compute bfloat16 natively, which ONNX Runtime's
CPU kernels leave unused and OpenVINO does not (nanodet-plus-m-416, one thread, BENCHMARKS.md):

* Intel Xeons with AMX (Sapphire Rapids and later): the float network in bfloat16 takes 11.8-12.3
  ms a pass against 15.4-16.0 ms for int8 on ONNX Runtime;
* AMD EPYCs with AVX-512 BF16 (Zen 4 and later): 13.8 ms against 14.4 ms, and end to end the same
  frame rate at 768x576 and at 4K.

On both, the float network's boxes are better for counting: on vtest.avi precision 0.972 against
0.966 at the same recall, and about 4 fewer id switches over 16 draws (18.7 -> 14.8 on the EPYC,
18.7 -> 15.4 on the Xeon). So with ``sensor.runtime: auto`` (the default):

* a float package runs on OpenVINO in bfloat16 where :func:`bfloat16_wins` and OpenVINO is
  installed, else on ONNX Runtime;
* an int8 package always runs on ONNX Runtime (OpenVINO was no faster on it);
* a device whose config names no model runs :data:`BF16_MODEL` where the first rule picks
  OpenVINO, else :data:`~edgesight.core.config.sensor.DEFAULT_MODEL` (int8).

``onnxruntime`` and ``openvino`` force a runtime whatever the CPU.

AVX-512 BF16 on an Intel CPU without AMX is left out: measured on a Xeon with oneDNN capped at
that level, the bfloat16 pass took 27.7 ms, slower than int8 on ONNX Runtime.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from edgesight.core.config.sensor import DEFAULT_MODEL, Runtime
from edgesight.core.package import ModelPackage
from edgesight.sensor.openvino_runtime import OpenVinoNetwork, Precision, openvino_installed
from edgesight.sensor.runtime import Network, OnnxNetwork

__all__ = [
    "BF16_MODEL",
    "Engine",
    "bfloat16_wins",
    "choose_engine",
    "cpu_flags",
    "cpu_vendor",
    "default_model",
    "open_network",
    "openvino_precision",
    "runtime_name",
]

BF16_MODEL = "nanodet-plus-m-416-fp32"
"""The zoo model a device runs by default where float runs in bfloat16 on OpenVINO: the same
network as the int8 default, before quantization."""

Engine = Literal["onnxruntime", "openvino"]
"""A runtime that runs networks (``auto`` resolves to one of these)."""

_MATRIX_BF16 = "amx_bf16"
"""The /proc/cpuinfo flag of AMX's bfloat16 tiles, which make bfloat16 beat int8 here."""
_VECTOR_BF16 = "avx512_bf16"
_AMD = "AuthenticAMD"
"""The vendor whose AVX-512 BF16 (Zen 4 and later) runs bfloat16 as fast as int8 on VNNI."""


@functools.cache
def cpu_vendor() -> str:
    """This CPU's vendor from /proc/cpuinfo (``"GenuineIntel"``, ``"AuthenticAMD"``; empty if unknown).

    Example:
        >>> isinstance(cpu_vendor(), str)
        True
    """
    return _cpuinfo_field("vendor_id")


@functools.cache
def cpu_flags() -> frozenset[str]:
    """This CPU's feature flags from /proc/cpuinfo (empty where there is none).

    Example:
        >>> isinstance(cpu_flags(), frozenset)
        True
    """
    return frozenset(_cpuinfo_field("flags", "Features").split())


def _cpuinfo_field(*names: str) -> str:
    """The first CPU's ``name: value`` line of /proc/cpuinfo for the first of ``names`` present."""
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() in names:
            return value.strip()
    return ""


def bfloat16_wins(flags: frozenset[str], vendor: str) -> bool:
    """Whether this CPU runs the float network in bfloat16 at least as fast as int8 on ONNX Runtime.

    Example:
        >>> bfloat16_wins(frozenset({"amx_bf16"}), "GenuineIntel")
        True
        >>> zen4 = frozenset({"avx512_vnni", "avx512_bf16"})
        >>> bfloat16_wins(zen4, "AuthenticAMD"), bfloat16_wins(zen4, "GenuineIntel")
        (True, False)
    """
    return _MATRIX_BF16 in flags or (_VECTOR_BF16 in flags and vendor == _AMD)


def choose_engine(
    requested: Runtime,
    precision: Literal["fp32", "int8"],
    *,
    flags: frozenset[str] | None = None,
    vendor: str | None = None,
    openvino: bool | None = None,
) -> Engine:
    """The runtime that runs a ``precision`` network when the config asks for ``requested``.

    ``flags``, ``vendor`` and ``openvino`` (whether OpenVINO is installed) default to this machine's.

    Example:
        >>> choose_engine("auto", "fp32", flags=frozenset({"avx2", "amx_bf16"}), openvino=True)
        'openvino'
        >>> choose_engine("auto", "int8", flags=frozenset({"avx2", "amx_bf16"}), openvino=True)
        'onnxruntime'
        >>> choose_engine("auto", "fp32", flags=frozenset({"avx2", "avx512_vnni"}), openvino=True)
        'onnxruntime'
        >>> choose_engine("auto", "fp32", flags=frozenset({"avx512_bf16"}), vendor="AuthenticAMD", openvino=True)
        'openvino'
        >>> choose_engine("openvino", "int8", flags=frozenset(), openvino=False)
        'openvino'
    """
    if requested != "auto":
        return requested
    flags = cpu_flags() if flags is None else flags
    vendor = cpu_vendor() if vendor is None else vendor
    openvino = openvino_installed() if openvino is None else openvino
    return "openvino" if precision == "fp32" and bfloat16_wins(flags, vendor) and openvino else "onnxruntime"


def openvino_precision(flags: frozenset[str] | None = None) -> Precision:
    """bfloat16 where the CPU computes in it (AMX or AVX-512 BF16), else float32.

    Example:
        >>> openvino_precision(frozenset({"avx2"})), openvino_precision(frozenset({"amx_bf16"}))
        ('f32', 'bf16')
    """
    flags = cpu_flags() if flags is None else flags
    return "bf16" if _MATRIX_BF16 in flags or _VECTOR_BF16 in flags else "f32"


def _plan(package: ModelPackage, runtime: Runtime) -> tuple[Engine, Precision]:
    """The engine that runs ``package`` and, for OpenVINO, the precision it computes in."""
    return choose_engine(runtime, package.intrinsics.precision), openvino_precision()


def open_network(package: ModelPackage, runtime: Runtime = "auto", threads: int = 1) -> Network:
    """Load ``package``'s network on the runtime :func:`choose_engine` picks for it.

    Raises:
        ModelLoadError: the network does not load, or the runtime asked for is not installed.
    """
    engine, precision = _plan(package, runtime)
    if engine == "openvino":
        return OpenVinoNetwork(package, threads, precision)
    return OnnxNetwork(package, threads)


def runtime_name(package: ModelPackage, runtime: Runtime = "auto") -> str:
    """What :func:`open_network` would run ``package`` on, as its ``Network.runtime`` says it,
    without loading the network (e.g. to label results).

    Example:
        >>> from edgesight.sensor.zoo import load_model
        >>> runtime_name(load_model("nanodet-plus-m-416-int8"))
        'onnxruntime'
    """
    engine, precision = _plan(package, runtime)
    return f"openvino {precision}" if engine == "openvino" else OnnxNetwork.runtime


def default_model(
    runtime: Runtime = "auto",
    *,
    flags: frozenset[str] | None = None,
    vendor: str | None = None,
    openvino: bool | None = None,
) -> str:
    """The zoo model a device runs when its config names none.

    Example:
        >>> default_model("auto", flags=frozenset({"amx_bf16"}), openvino=True)
        'nanodet-plus-m-416-fp32'
        >>> default_model("auto", flags=frozenset({"avx512_vnni"}), vendor="AuthenticAMD", openvino=True)
        'nanodet-plus-m-416-int8'
        >>> default_model("onnxruntime", flags=frozenset({"amx_bf16"}), openvino=True)
        'nanodet-plus-m-416-int8'
    """
    # The float twin wins only where auto would run a float network on OpenVINO.
    engine = choose_engine("auto", "fp32", flags=flags, vendor=vendor, openvino=openvino)
    bf16 = runtime != "onnxruntime" and engine == "openvino"
    return BF16_MODEL if bf16 else DEFAULT_MODEL
