"""``edgesight sense``: run the sensor on a source and write its metadata."""

from __future__ import annotations

import statistics
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from edgesight.apps.blas_threads import use_one_blas_thread
from edgesight.apps.engine import Analytics
from edgesight.core.config import DeviceConfig, load_config
from edgesight.core.config.loading import shorten
from edgesight.core.config.sensor import check_source
from edgesight.core.errors import ConfigError
from edgesight.core.frame import FrameMeta, OutputMode
from edgesight.core.intrinsics import Thresholds, Tiling
from edgesight.core.region import Region
from edgesight.core.wire import EventWriter, MetadataWriter
from edgesight.sensor.annotate import FrameAnnotator, VideoAnnotator
from edgesight.sensor.pipeline import Sensor, SensorSettings
from edgesight.sensor.preview import PreviewAddress, PreviewServer
from edgesight.sensor.sources import SourceStats, open_source
from edgesight.sensor.zoo import configured_model, load_model

__all__ = ["add_analytics_rows", "parse_roi", "parse_tiling", "register"]

console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command("sense", help="Run the sensor: frames in, metadata out.")(sense)


def parse_roi(text: str | None) -> Region | None:
    """``"x,y,w,h"`` normalised to the full frame.

    Example:
        >>> parse_roi("0,0.25,1,0.5")
        Region(x=0.0, y=0.25, w=1.0, h=0.5)
    """
    if text is None:
        return None
    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--roi must be four numbers x,y,w,h in 0..1, got {text!r}") from None
    if not (0 <= x < 1 and 0 <= y < 1 and 0 < w <= 1 - x + 1e-9 and 0 < h <= 1 - y + 1e-9):
        raise ConfigError(f"--roi {text!r} must lie inside the frame: 0 <= x, y and x + w, y + h <= 1")
    return Region(x, y, w, h)


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
        str | None, typer.Option("--source", "-s", help="video file, image folder, /dev/videoN or stream URL")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="device config YAML (sensor + analytics)")
    ] = None,
    model: Annotated[str | None, typer.Option(help="zoo model name or .espkg file")] = None,
    roi: Annotated[str | None, typer.Option(help="region of interest x,y,w,h (0..1)")] = None,
    tiling: Annotated[str | None, typer.Option(help="'off' or ROWSxCOLS; default: the model's")] = None,
    score: Annotated[float | None, typer.Option(help="score threshold; default: the model's")] = None,
    out: Annotated[
        Path | None, typer.Option(help="metadata file: .jsonl (JSON Lines) or .esb (binary)")
    ] = None,
    events: Annotated[
        Path | None,
        typer.Option(help="events file (.jsonl); default beside --out when a config has analytics"),
    ] = None,
    max_frames: Annotated[int | None, typer.Option(min=1, help="stop after N frames")] = None,
    output_mode: Annotated[OutputMode | None, typer.Option(help="what leaves the sensor")] = None,
    device_id: Annotated[str | None, typer.Option(help="device id written into records")] = None,
    threads: Annotated[int | None, typer.Option(min=1, max=8, help="ONNX Runtime threads")] = None,
    annotate: Annotated[
        Path | None, typer.Option(help="local .mp4 with boxes, ids, trails, zones, lines and counts drawn")
    ] = None,
    preview: Annotated[
        str | None,
        typer.Option(
            metavar="[HOST:]PORT",
            help="serve the same drawing live as MJPEG on http://HOST:PORT/ (host default 127.0.0.1; "
            "loopback only: frames are images, and EdgeSight keeps them on this machine)",
        ),
    ] = None,
    preview_allow_remote: Annotated[
        bool,
        typer.Option(
            "--preview-allow-remote",
            help="let --preview listen on a non-loopback address, so that other machines can see "
            "the frames (by default they never leave this one)",
        ),
    ] = False,
) -> None:
    device = load_config(config) if config is not None else DeviceConfig()
    source = source or device.sensor.source
    if source is None:
        raise ConfigError("no source: give --source or sensor.source in the config")
    address = (
        PreviewAddress.parse(preview, allow_remote=preview_allow_remote) if preview is not None else None
    )
    _check_path_option("--source", source)
    if model is not None:
        _check_path_option("--model", model)
    package = load_model(model or configured_model(device.sensor), device.model_trust)
    settings = _settings(
        device, package.intrinsics.thresholds, roi, tiling, score, output_mode, device_id, threads
    )
    if (address is not None or annotate is not None) and settings.deblocking == "auto":
        # People look at these frames: keep the decoder's deblocking (see deblocking_policy).
        settings = replace(settings, deblocking="on")
    analytics = (
        Analytics(device.analytics, settings.device_id, settings.stream_id) if config is not None else None
    )
    if analytics is None:
        # Nothing tracks without a config, so nothing would read the tracker's colour vectors.
        settings = replace(settings, appearance=False)
    use_one_blas_thread()  # the network sessions own the cores; see apps/blas_threads.py
    if events is None and analytics is not None and out is not None:
        events = out.with_name(out.name.split(".")[0] + ".events.jsonl")
    with ExitStack() as stack:
        src = stack.enter_context(open_source(source))
        writer = stack.enter_context(MetadataWriter(out))
        event_writer = stack.enter_context(EventWriter(events))
        sensor = Sensor(src, package, settings)
        session = _Session(writer, event_writer, analytics, sensor)
        if annotate is not None:
            session.video = stack.enter_context(VideoAnnotator(annotate, device.analytics, src.fps or 10.0))
            session.annotator = session.video.annotator
        if address is not None:
            session.annotator = session.annotator or FrameAnnotator(device.analytics)
            session.preview = stack.enter_context(PreviewServer(address))
            reach = (
                "local: frames are not sent anywhere else" if address.loopback else "open to other machines"
            )
            console.print(f"preview: {session.preview.url} ({reach})")
        _run(sensor, session, src.frame_count, max_frames)
        _summary(sensor, session, package.name, src.stats)


def _check_path_option(option: str, value: str) -> None:
    """Refuse a path the OS would reject as too long, as a config key would be refused."""
    try:
        check_source(value)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc} (got {shorten(repr(value))})") from None


def _settings(
    device: DeviceConfig,
    model_thresholds: Thresholds,
    roi: str | None,
    tiling: str | None,
    score: float | None,
    output_mode: OutputMode | None,
    device_id: str | None,
    threads: int | None,
) -> SensorSettings:
    """The config's sensor settings with the command line's options on top."""
    settings = SensorSettings.from_config(device, model_thresholds)
    overrides: dict[str, object] = {}
    if roi is not None:
        overrides["roi"] = parse_roi(roi)
    if tiling is not None:
        overrides["tiling"] = parse_tiling(tiling)
    if score is not None:
        if not 0.0 <= score <= 1.0:
            raise ConfigError(f"--score must be in 0..1, got {score}")
        overrides["thresholds"] = (settings.thresholds or model_thresholds).model_copy(
            update={"score": score}
        )
    if output_mode is not None:
        overrides["output_mode"] = output_mode
    if device_id is not None:
        overrides["device_id"] = device_id
    if threads is not None:
        overrides["threads"] = threads
    return replace(settings, **overrides)  # type: ignore[arg-type]


class _Session:
    """Per-frame work of one run: analytics (if configured), writing, and the numbers for the summary."""

    def __init__(
        self, writer: MetadataWriter, events: EventWriter, analytics: Analytics | None, sensor: Sensor
    ) -> None:
        self.writer = writer
        self.events = events
        self.analytics = analytics
        self.sensor = sensor
        self.people: list[int] = []
        # --annotate and --preview: drawn locally (once per frame for both), never sent
        self.annotator: FrameAnnotator | None = None
        self.video: VideoAnnotator | None = None
        self.preview: PreviewServer | None = None

    def take(self, meta: FrameMeta) -> None:
        if self.analytics is not None:
            result = self.analytics.update(meta)
            meta = result.frame
            for event in result.events:
                self.events.write(event)
        self._draw(meta)
        self.writer.write(meta)
        self.people.append(int((meta.detections.class_name == "person").sum()))

    def _draw(self, meta: FrameMeta) -> None:
        """Draw the frame for the video, and for the preview only while someone watches it."""
        watched = self.preview is not None and self.preview.watched
        frame = self.sensor.last_frame
        if self.annotator is None or frame is None or (self.video is None and not watched):
            return
        counts = self.analytics.counts() if self.analytics is not None else {}
        drawn = self.annotator.draw(frame.to_bgr(), meta.detections, counts)
        if self.video is not None:
            self.video.add(drawn)
        if watched and self.preview is not None:
            self.preview.publish(drawn)


def _run(sensor: Sensor, session: _Session, total: int | None, max_frames: int | None) -> None:
    """Run to the end, showing a progress bar for files and a live fps line for streams."""
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
                session.take(meta)
                progress.update(task, advance=1, rate=_rate(sensor))
        return
    with Live(console=console, refresh_per_second=4, transient=True) as live:
        for meta in sensor.run(max_frames):
            session.take(meta)
            live.update(f"frame {meta.frame_index}  {_rate(sensor)}  objects {len(meta.detections)}")


def _rate(sensor: Sensor) -> str:
    s = sensor.stats
    n = max(s.frames, 1)
    dropped = f"  dropped {s.dropped}" if sensor.live else ""
    return f"{s.fps:5.1f} fps  dnn {s.dnn_ms / n:5.1f} ms{dropped}"


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


def _summary(sensor: Sensor, session: _Session, model_name: str, source: SourceStats) -> None:
    s = sensor.stats
    n = max(s.frames, 1)
    table = Table(show_header=False, title="edgesight sense", title_justify="left")
    table.add_row("model", model_name)
    table.add_row("runtime", sensor.detector.network.runtime)
    table.add_row("frames", f"{s.frames}{_source_notes(source)}")
    if session.people:
        table.add_row(
            "people per frame", f"mean {statistics.fmean(session.people):.2f}, max {max(session.people)}"
        )
    table.add_row("throughput", f"{s.fps:.1f} fps end to end")
    if sensor.live:
        rate = sensor.package.intrinsics.inference_rate
        table.add_row(
            "live frames not analysed",
            f"{s.dropped} dropped (sensor behind the camera), {s.skipped} skipped (above {rate:g}/s)",
        )
    table.add_row(
        "per frame", f"ISP {s.isp_ms / n:.1f} ms, DNN {s.dnn_ms / n:.1f} ms, post {s.post_ms / n:.2f} ms"
    )
    writer = session.writer
    if writer.path is not None:
        table.add_row(
            "metadata",
            f"{writer.bytes_written:,} bytes ({writer.bytes_written / n:.0f} B/frame) -> {writer.path}",
        )
    if session.analytics is not None:
        add_analytics_rows(table, session.analytics, session.events)
    Console().print(table)


def add_analytics_rows(table: Table, analytics: Analytics, events: EventWriter) -> None:
    """Rows for event totals and the live line and zone counts (shared with ``edgesight events``)."""
    totals = ", ".join(f"{kind} {n}" for kind, n in sorted(events.by_type.items())) or "none"
    table.add_row("events", totals + (f" -> {events.path}" if events.path else ""))
    counts = analytics.counts()
    for line, directions in counts["lines"].items():
        text = ", ".join(f"{d} {sum(c.values())}" for d, c in directions.items()) or "no crossings"
        table.add_row(f"line {line}", text)
    for zone, classes in counts["zones"].items():
        table.add_row(f"zone {zone} now", ", ".join(f"{c} {k}" for c, k in classes.items()) or "empty")
