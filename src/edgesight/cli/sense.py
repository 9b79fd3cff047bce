"""``edgesight sense``: run the sensor on a source and write its metadata."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from edgesight.core.errors import ConfigError
from edgesight.core.frame import FrameMeta, OutputMode
from edgesight.core.intrinsics import Thresholds, Tiling
from edgesight.core.metadata_file import MetadataWriter
from edgesight.sensor.pipeline import Sensor, SensorSettings
from edgesight.sensor.sources import SourceStats, open_source
from edgesight.sensor.zoo import DEFAULT_MODEL, load_model

console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command("sense", help="Run the sensor: frames in, metadata out.")(sense)


def parse_roi(text: str | None) -> tuple[float, float, float, float] | None:
    """``"x,y,w,h"`` normalised to the full frame.

    Example:
        >>> parse_roi("0,0.25,1,0.5")
        (0.0, 0.25, 1.0, 0.5)
    """
    if text is None:
        return None
    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--roi must be four numbers x,y,w,h in 0..1, got {text!r}") from None
    if not (0 <= x < 1 and 0 <= y < 1 and 0 < w <= 1 - x + 1e-9 and 0 < h <= 1 - y + 1e-9):
        raise ConfigError(f"--roi {text!r} must lie inside the frame: 0 <= x, y and x + w, y + h <= 1")
    return (x, y, w, h)


def parse_tiling(text: str | None) -> Tiling | None:
    """``"off"`` or ``"ROWSxCOLS"`` (e.g. ``2x2``); None keeps the model's default.

    Example:
        >>> parse_tiling("2x3").cols
        3
    """
    if text is None:
        return None
    if text == "off":
        return Tiling(rows=1, cols=1, include_full=True)
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
        return Tiling(rows=rows, cols=cols)
    except ValueError:
        raise ConfigError(f"--tiling must be 'off' or ROWSxCOLS like 2x2, got {text!r}") from None


def sense(
    source: Annotated[
        str, typer.Option("--source", "-s", help="video file, image folder, /dev/videoN or stream URL")
    ],
    model: Annotated[str, typer.Option(help="zoo model name or .espkg file")] = DEFAULT_MODEL,
    roi: Annotated[str | None, typer.Option(help="region of interest x,y,w,h (0..1)")] = None,
    tiling: Annotated[str | None, typer.Option(help="'off' or ROWSxCOLS; default: the model's")] = None,
    score: Annotated[float | None, typer.Option(help="score threshold; default: the model's")] = None,
    out: Annotated[
        Path | None, typer.Option(help="metadata file: .jsonl (JSON Lines) or .esb (binary)")
    ] = None,
    max_frames: Annotated[int | None, typer.Option(min=1, help="stop after N frames")] = None,
    output_mode: Annotated[OutputMode, typer.Option(help="what leaves the sensor")] = OutputMode.METADATA,
    device_id: Annotated[str, typer.Option(help="device id written into records")] = "edgesight-0",
    threads: Annotated[int, typer.Option(min=1, max=8, help="ONNX Runtime threads")] = 1,
) -> None:
    package = load_model(model)
    thresholds = None
    if score is not None:
        thresholds = package.intrinsics.thresholds.model_copy(update={"score": score})
        Thresholds.model_validate(thresholds.model_dump())
    settings = SensorSettings(
        device_id=device_id,
        roi=parse_roi(roi),
        thresholds=thresholds,
        tiling=parse_tiling(tiling),
        output_mode=output_mode,
        threads=threads,
    )
    with open_source(source) as src, MetadataWriter(out) as writer:
        sensor = Sensor(src, package, settings)
        counts = _run(sensor, writer, src.frame_count, max_frames)
        _summary(sensor, writer, counts, package.name, src.stats)


def _run(sensor: Sensor, writer: MetadataWriter, total: int | None, max_frames: int | None) -> list[int]:
    """Run to the end, showing a progress bar for files and a live fps line for streams."""
    people: list[int] = []
    if total is not None:
        total = min(total, max_frames) if max_frames else total
        columns = (
            TextColumn("sensing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("frames", total=total, rate="")
            for meta in sensor.run(max_frames):
                _take(meta, writer, people)
                progress.update(task, advance=1, rate=_rate(sensor))
        return people
    with Live(console=console, refresh_per_second=4, transient=True) as live:
        for meta in sensor.run(max_frames):
            _take(meta, writer, people)
            live.update(f"frame {meta.frame_index}  {_rate(sensor)}  objects {len(meta.detections)}")
    return people


def _take(meta: FrameMeta, writer: MetadataWriter, people: list[int]) -> None:
    writer.write(meta)
    people.append(int((meta.detections.class_name == "person").sum()))


def _rate(sensor: Sensor) -> str:
    s = sensor.stats
    n = max(s.frames, 1)
    return f"{s.fps:5.1f} fps  dnn {s.dnn_ms / n:5.1f} ms"


def _source_notes(source: SourceStats) -> str:
    """What went wrong with the input, e.g. `` (3 corrupt skipped, input ended early of 795 declared)``."""
    notes = []
    if source.corrupt_frames:
        notes.append(f"{source.corrupt_frames} corrupt skipped")
    if source.ended_early:
        declared = f" of {source.frames_declared} declared" if source.frames_declared else ""
        notes.append(f"input ended early{declared}")
    if source.reconnects:
        notes.append(f"{source.reconnects} reconnects")
    return f" ({', '.join(notes)})" if notes else ""


def _summary(
    sensor: Sensor, writer: MetadataWriter, people: list[int], model_name: str, source: SourceStats
) -> None:
    s = sensor.stats
    n = max(s.frames, 1)
    table = Table(show_header=False, title="edgesight sense", title_justify="left")
    table.add_row("model", model_name)
    table.add_row("frames", f"{s.frames}{_source_notes(source)}")
    if people:
        table.add_row("people per frame", f"mean {statistics.fmean(people):.2f}, max {max(people)}")
    table.add_row("throughput", f"{s.fps:.1f} fps end to end")
    table.add_row(
        "per frame", f"ISP {s.isp_ms / n:.1f} ms, DNN {s.dnn_ms / n:.1f} ms, post {s.post_ms / n:.2f} ms"
    )
    if writer.path is not None:
        table.add_row(
            "metadata",
            f"{writer.bytes_written:,} bytes ({writer.bytes_written / n:.0f} B/frame) -> {writer.path}",
        )
    Console().print(table)
