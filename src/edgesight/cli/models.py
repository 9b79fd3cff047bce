"""``edgesight models`` (the shipped zoo, with each network's latency measured here and now) and
``edgesight model keygen|sign|verify|report``."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from edgesight.core.config import load_config
from edgesight.core.errors import ConfigError
from edgesight.core.intrinsics import Layout
from edgesight.core.package import ModelPackage, read_package
from edgesight.core.signing import (
    key_id,
    load_private_key,
    load_public_key,
    public_key_text,
    sign_package,
    write_keypair,
)
from edgesight.core.trust import TrustSettings
from edgesight.factory.latency import median_latency_ms
from edgesight.factory.memory_report import analyse, load_graph, parse_size
from edgesight.sensor.runtime import Network
from edgesight.sensor.runtime_policy import default_model, open_network, runtime_name
from edgesight.sensor.zoo import resolve_model, verify_model, zoo_dir, zoo_names

__all__ = ["register"]

console = Console()
model_app = typer.Typer(no_args_is_help=True, help="Build, sign, verify and measure model packages.")

_WARMUP = 2


def register(app: typer.Typer) -> None:
    app.command(
        "models", help="List the models that ship with EdgeSight, with latency measured on this machine."
    )(list_models)
    app.add_typer(model_app, name="model")


def measure_latency_ms(network: Network, package: ModelPackage, runs: int) -> float:
    """Median milliseconds of one inference of ``network`` (``package``'s, loaded with one
    thread: what each of the sensor's per-core sessions spends per pass), after a warm-up, on an
    all-zero input.

    Timed in process CPU time, so this is the inference's own compute, the latency on an idle
    core, even while other processes load the machine (wall-clock time would add their share).
    Not thread time: OpenVINO computes in a worker thread of its own."""
    spec = package.intrinsics.input
    shape = (1, 3, spec.height, spec.width) if spec.layout is Layout.NCHW else (1, spec.height, spec.width, 3)
    tensor = np.zeros(shape, np.uint8 if spec.dtype == "uint8" else np.float32)
    times = []
    for k in range(_WARMUP + runs):
        started = time.process_time()
        network.run(tensor)
        if k >= _WARMUP:
            times.append((time.process_time() - started) * 1e3)
    return statistics.median(times)


def list_models(
    runs: Annotated[
        int, typer.Option("--runs", min=0, help="inferences timed per model (0: skip timing)")
    ] = 10,
) -> None:
    columns = ("name", "task", "input", "precision", "decoder", "labels", "MB", "runtime (auto)", "ms (1 thread)")
    table = Table(*columns, title="model zoo")
    default = default_model()
    for name in zoo_names():
        path = zoo_dir() / f"{name}.espkg"
        pkg = read_package(path)
        i = pkg.intrinsics
        marker = " (default)" if name == default else ""
        table.add_row(
            name + marker,
            i.task.value,
            f"{i.input.width}x{i.input.height} {i.input.color.value}",
            i.precision,
            i.decoder.name,
            str(len(pkg.labels)),
            f"{path.stat().st_size / 1e6:.1f}",
            runtime_name(pkg),
            # Loaded only to be timed: compiling every zoo network for OpenVINO takes seconds.
            f"{measure_latency_ms(open_network(pkg, threads=1), pkg, runs):.1f}" if runs else "-",
        )
    console.print(table)


@model_app.command("keygen")
def keygen(
    key: Annotated[Path, typer.Argument(help="private key file to create (0600); KEY.pub is written beside it")],
) -> None:
    """Create an Ed25519 signing key pair."""
    public, public_path = write_keypair(key)
    console.print(f"private key  {key} (mode 0600: keep it off the devices)", highlight=False)
    console.print(f"public key   {public_path}  id {key_id(public)}", highlight=False)
    console.print(public_key_text(public), highlight=False, soft_wrap=True)


@model_app.command("sign")
def sign(
    package: Annotated[Path, typer.Argument(help=".espkg file to sign")],
    key: Annotated[Path, typer.Option("--key", "-k", help="private key from `model keygen`")],
    out: Annotated[Path | None, typer.Option(help="write the signed package here (default: in place)")] = None,
) -> None:
    """Sign a package's manifest (which holds the SHA-256 of every member)."""
    private = load_private_key(key)
    written = sign_package(package, private, out)
    signed = read_package(written)
    console.print(
        f"signed {written} ({signed.name}) with key {key_id(private.public_key())}", highlight=False
    )


@model_app.command("verify")
def verify(
    package: Annotated[str, typer.Argument(help="zoo model name or .espkg file")],
    trusted_key: Annotated[
        list[Path] | None, typer.Option("--trusted-key", "-t", help="public key file (.pub); repeatable")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="device config whose model_trust applies")
    ] = None,
    allow_unsigned: Annotated[bool, typer.Option(help="development only: accept unsigned packages")] = False,
    accepted_versions: Annotated[
        Path | None, typer.Option(help="accepted-versions file: refuse a version older than one accepted")
    ] = None,
    record: Annotated[
        bool, typer.Option(help="record the version as accepted, as a device does when it loads it")
    ] = False,
) -> None:
    """Check a package as a device would: intact, pinned or signed by a trusted key, not a downgrade."""
    base = load_config(config).model_trust if config else TrustSettings()
    keys = base.trusted_keys + tuple(public_key_text(load_public_key(p)) for p in trusted_key or [])
    try:
        trust = TrustSettings(
            trusted_keys=keys,
            allow_unsigned=allow_unsigned or base.allow_unsigned,
            accepted_versions=accepted_versions or base.accepted_versions,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    verdict = verify_model(package, trust, record=record)
    console.print(
        f"ok {verdict.package.name} ({verdict.package.source}): {verdict.basis}", highlight=False, soft_wrap=True
    )


@model_app.command("report")
def report(
    model: Annotated[str, typer.Argument(help="zoo model name, .espkg package or .onnx file")],
    budget: Annotated[str, typer.Option(help="memory budget (KB/MB decimal, KiB/MiB binary)")] = "8MB",
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    runs: Annotated[int, typer.Option(min=0, help="timed inference runs for the latency (0: skip)")] = 10,
    threads: Annotated[int, typer.Option(min=1, max=8, help="ONNX Runtime threads for the latency")] = 1,
) -> None:
    """Weights, peak activations, total against a budget, MACs and latency of a network."""
    budget_bytes = parse_size(budget)
    name, network, input_shapes = _network(model)
    graph = load_graph(network, model)
    data: dict[str, object] = {"model": name, **analyse(graph, input_shapes).against(budget_bytes)}
    if runs:
        data["latency_ms"] = round(median_latency_ms(network, runs=runs, threads=threads, input_shapes=input_shapes), 2)
        data["latency_runs"], data["latency_threads"] = runs, threads
    if as_json:
        console.print_json(json.dumps(data))
    else:
        _print_report(data)


def _network(model: str) -> tuple[str, bytes, dict[str, tuple[int, ...]]]:
    """Name, ONNX bytes and input shape (from the intrinsics) of a zoo name, package or .onnx file."""
    path = Path(model)
    if path.suffix == ".onnx":
        try:
            return path.name, path.read_bytes(), {}
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    package = read_package(resolve_model(model))
    spec = package.intrinsics.input
    shape = (1, 3, spec.height, spec.width) if spec.layout is Layout.NCHW else (1, spec.height, spec.width, 3)
    graph_input = load_graph(package.network, model).graph.input[0].name
    return package.name, package.network, {graph_input: shape}


def _mb(n: object) -> str:
    """Bytes as MB, or as kB/B when that would round to 0.00 MB."""
    value = int(str(n))
    if value >= 10_000:
        return f"{value / 1e6:.2f} MB"
    return f"{value / 1e3:.1f} kB" if value >= 1000 else f"{value} B"


def _print_report(data: dict[str, object]) -> None:
    weights = data["weights"]
    assert isinstance(weights, dict)
    table = Table(title=f"memory report: {data['model']}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("weights", _mb(data["weight_bytes"]))
    for dtype, group in weights.items():
        table.add_row(f"  {dtype}", f"{_mb(group['bytes'])} in {group['tensors']} tensors")
    table.add_row("peak activations", f"{_mb(data['peak_activation_bytes'])}  at {data['peak_node']}")
    verdict = "[green]fits[/]" if data["fits"] else "[red]does NOT fit[/]"
    share = int(str(data["total_bytes"])) / int(str(data["budget_bytes"]))
    table.add_row("total", f"{_mb(data['total_bytes'])} of {_mb(data['budget_bytes'])} budget ({share:.0%}): {verdict}")
    table.add_row("MACs", f"{int(str(data['macs'])) / 1e9:.2f} G")
    if "latency_ms" in data:
        table.add_row(
            "latency",
            f"{data['latency_ms']} ms (median of {data['latency_runs']}, {data['latency_threads']} thread(s), "
            "ONNX Runtime CPU, this machine)",
        )
    assumptions = data["assumptions"]
    assert isinstance(assumptions, list)
    for note in assumptions:
        table.add_row("assumption", str(note))
    console.print(table)
