"""``edgesight events``: replay stored metadata through the edge apps, without the video."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from edgesight.apps.blas_threads import use_one_blas_thread
from edgesight.apps.engine import Analytics
from edgesight.cli.sense import add_analytics_rows
from edgesight.core.config import load_config
from edgesight.core.wire import EventWriter, MetadataWriter, read_metadata

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("events", help="Replay stored frame metadata (.jsonl or .esb) through the apps of a config.")(
        events
    )


def events(
    metadata: Annotated[Path, typer.Argument(help="frame metadata written by `edgesight sense --out`")],
    config: Annotated[Path, typer.Option("--config", "-c", help="device config YAML with the analytics")],
    out: Annotated[Path | None, typer.Option(help="events file (.jsonl)")] = None,
    frames_out: Annotated[
        Path | None, typer.Option(help="also write the tracked frame records (.jsonl or .esb)")
    ] = None,
) -> None:
    device = load_config(config)
    use_one_blas_thread()  # small matrix products; see apps/blas_threads.py
    frames = 0
    analytics: Analytics | None = None
    with EventWriter(out) as writer, MetadataWriter(frames_out) as tracked:
        for meta in read_metadata(metadata):
            if analytics is None:  # ids come from the recording unless the config names them
                analytics = Analytics(device.analytics, meta.device_id, meta.stream_id)
            result = analytics.update(meta)
            for event in result.events:
                writer.write(event)
            tracked.write(result.frame)
            frames += 1
    table = Table(show_header=False, title="edgesight events", title_justify="left")
    table.add_row("frames replayed", f"{frames} from {metadata}")
    if analytics is not None:
        add_analytics_rows(table, analytics, writer)
    Console().print(table)
