"""``edgesight model train | quantize``: custom models from labelled images, then int8.

The factory's modules need the ``train`` extra (torch, supervision) and are imported inside the
commands, so every other command starts fast and works without that extra.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from edgesight.core.errors import ConfigError
from edgesight.core.package import ModelPackage, read_package
from edgesight.factory.datasets import DatasetFormat, load_detection, load_folders, split
from edgesight.sensor.zoo import load_model

__all__ = ["register"]

if TYPE_CHECKING:
    from edgesight.factory.train_detector import EpochResult, TrainSettings

console = Console(stderr=True)
_SIZE = re.compile(r"^(\d+)x(\d+)$")


def register(model_app: typer.Typer) -> None:
    """Add ``train`` and ``quantize`` to the ``edgesight model`` command group."""
    model_app.command("train", help="Train a detector (yolo, coco, voc) or a classifier (folders) from labelled images, on the CPU.")(train)
    model_app.command("quantize", help="Static int8 from calibration images; fp32 vs int8 accuracy.")(quantize)


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``"WIDTHxHEIGHT"`` to a tuple; None keeps the base network's size.

    Example:
        >>> parse_size("640x480")
        (640, 480)
    """
    if text is None:
        return None
    match = _SIZE.match(text)
    if not match:
        raise ConfigError(f"--input-size must be WIDTHxHEIGHT (e.g. 640x480), got {text!r}")
    return int(match[1]), int(match[2])


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[message]}"),
        console=console,
    )


def _reporter(bar: Progress) -> Callable[[str, int, int, str], None]:
    """A progress callback for the factory: one bar per phase (features, epochs)."""
    tasks: dict[str, TaskID] = {}

    def report(phase: str, done: int, total: int, message: str) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(phase, total=total, message="")
        bar.update(tasks[phase], completed=done, total=total, message=message)

    return report


def train(
    data: Annotated[Path, typer.Argument(help="dataset folder (training images, or all images with --val-fraction)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="the .espkg to write")],
    fmt: Annotated[DatasetFormat, typer.Option("--format", help="dataset format")] = DatasetFormat.YOLO,
    val: Annotated[Path | None, typer.Option(help="separate validation dataset (same format)")] = None,
    val_fraction: Annotated[float, typer.Option(min=0.01, max=0.9, help="validation share when --val is not given")] = 0.2,
    base: Annotated[str, typer.Option(help="zoo model or .espkg to start from")] = "nanodet-plus-m-416-fp32",
    model_id: Annotated[str | None, typer.Option("--id", help="model id (default: the output file's name)")] = None,
    version: Annotated[str, typer.Option(help="model version")] = "1.0.0",
    input_size: Annotated[str | None, typer.Option(help="network input WIDTHxHEIGHT (default: the base's)")] = None,
    epochs: Annotated[int, typer.Option(min=1)] = 200,
    batch_size: Annotated[int, typer.Option(min=1)] = 16,
    lr: Annotated[float, typer.Option(min=0.0)] = 3e-4,
    patience: Annotated[int, typer.Option(min=1, help="stop after this many epochs without a better mAP50-95")] = 20,
    tower_convs: Annotated[
        int, typer.Option(min=0, help="convs of each head tower trained with the 1x1 head (0: the head alone)")
    ] = 4,
    flip: Annotated[bool, typer.Option(help="also train on mirrored images (twice the feature and epoch time)")] = True,
    workdir: Annotated[Path | None, typer.Option(help="checkpoints (default: OUT's folder/OUT-name.train)")] = None,
    resume: Annotated[bool, typer.Option(help="continue from WORKDIR/last.pt")] = False,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    size = parse_size(input_size)
    from edgesight.factory.train_detector import TrainSettings, train_detector
    settings = TrainSettings(
        model_id=model_id or out.name.removesuffix(".espkg"),
        version=version,
        input_size=size,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=lr,
        patience=patience,
        seed=seed,
        tower_convs=tower_convs,
        flip=flip,
    )
    if fmt is DatasetFormat.FOLDERS:
        _train_classifier(data, val, val_fraction, load_model(base), settings, out)
        return
    train_data = load_detection(data, fmt)
    if val is not None:
        val_data = load_detection(val, fmt)
        if val_data.classes != train_data.classes:
            raise ConfigError(f"--val {val}: classes {list(val_data.classes)} differ from {list(train_data.classes)}")
        train_samples, val_samples = list(train_data.samples), list(val_data.samples)
    else:
        train_samples, val_samples = split(train_data.samples, val_fraction, seed, str(data))
    base_pkg = load_model(base)
    console.print(
        f"{len(train_samples)} training / {len(val_samples)} validation images, classes {list(train_data.classes)}, "
        f"base {base_pkg.name}"
    )
    with _progress() as bar:
        report = _reporter(bar)

        def on_epoch(r: EpochResult, improved: bool) -> None:
            mark = "  [green]best[/]" if improved else ""
            if r.epoch == 0:
                bar.console.print(f"epoch    0  (base heads)   {r.accuracy}")
            else:
                bar.console.print(f"epoch {r.epoch:4d}  loss {r.loss:.4f}  {r.accuracy}  {r.seconds:.2f} s{mark}")

        result = train_detector(
            base_pkg,
            train_data.classes,
            train_samples,
            val_samples,
            settings,
            workdir or out.parent / f"{out.name.removesuffix('.espkg')}.train",
            out,
            resume=resume,
            progress=report,
            on_epoch=on_epoch,
        )
    epochs_run = len(result.history)
    seconds = sum(r.seconds for r in result.history)
    console.print(
        f"features {result.feature_seconds:.1f} s, {epochs_run} epochs in {seconds:.1f} s "
        f"({seconds / max(1, epochs_run):.2f} s/epoch); best epoch {result.best_epoch}: {result.best.accuracy}; "
        f"score threshold {result.score_threshold:.2f}"
    )
    console.print(f"wrote {out}")


def _train_classifier(
    data: Path, val: Path | None, val_fraction: float, base: ModelPackage, settings: TrainSettings, out: Path
) -> None:
    from edgesight.factory.train_classifier import train_classifier

    train_data = load_folders(data)
    if val is not None:
        val_data = load_folders(val)
        if val_data.classes != train_data.classes:
            raise ConfigError(f"--val {val}: classes {list(val_data.classes)} differ from {list(train_data.classes)}")
        train_samples, val_samples = list(train_data.samples), list(val_data.samples)
    else:
        train_samples, val_samples = split(train_data.samples, val_fraction, settings.seed, str(data))
    console.print(f"{len(train_samples)} training / {len(val_samples)} validation images, classes {list(train_data.classes)}")
    with _progress() as bar:
        report = _reporter(bar)

        result = train_classifier(base, train_data.classes, train_samples, val_samples, settings, out, progress=report)
    console.print(
        f"features {result.feature_seconds:.1f} s; best epoch {result.best_epoch}: "
        f"val top-1 {result.accuracy[result.best_epoch - 1]:.3f}"
    )
    console.print(f"wrote {out}")


def quantize(
    package: Annotated[Path, typer.Argument(help="the fp32 .espkg to quantize")],
    calibration: Annotated[Path, typer.Option(help="dataset whose images calibrate the int8 ranges")],
    val: Annotated[Path, typer.Option(help="labelled dataset to compare fp32 and int8 on")],
    out: Annotated[Path, typer.Option("--out", "-o", help="the int8 .espkg to write")],
    fmt: Annotated[DatasetFormat, typer.Option("--format", help="format of both datasets")] = DatasetFormat.YOLO,
    frames: Annotated[int, typer.Option(min=1, help="calibration images used (spread over the dataset)")] = 32,
    model_id: Annotated[str | None, typer.Option("--id", help="model id (default: the output file's name)")] = None,
) -> None:
    from edgesight.factory.evaluate import evaluate_network
    from edgesight.factory.quantize_package import quantize_package

    fp32 = read_package(package)
    calibration_data = load_detection(calibration, fmt)
    val_data = load_detection(val, fmt)
    step = max(1, len(calibration_data.samples) // frames)
    images = [s.image for s in calibration_data.samples[::step][:frames]]
    with console.status(f"calibrating on {len(images)} images and quantizing"):
        int8 = quantize_package(fp32, images, out, model_id=model_id or out.name.removesuffix(".espkg"))
    table = Table("precision", "mAP50", "mAP50-95", "MB", title=f"{len(val_data.samples)} validation images")
    with console.status("evaluating fp32 and int8"):
        for pkg, path in ((fp32, package), (int8, out)):
            accuracy, _ = evaluate_network(pkg.network, pkg.intrinsics, val_data.samples)
            table.add_row(
                pkg.intrinsics.precision,
                f"{accuracy.map50 * 100:.1f}",
                f"{accuracy.map50_95 * 100:.1f}",
                f"{path.stat().st_size / 1e6:.1f}",
            )
    Console().print(table)
    console.print(f"wrote {out}")
