"""``edgesight agent``: run the device agent (sensor + apps -> outbox -> hub) until stopped."""

from __future__ import annotations

import dataclasses
import logging
import signal
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console

from edgesight.agent.credentials import load_credentials, parse_hub_url
from edgesight.agent.feeds import SensorFeed
from edgesight.agent.runner import Agent, AgentSettings, AgentStats
from edgesight.apps.blas_threads import use_one_blas_thread
from edgesight.core.config import load_config
from edgesight.core.exit_codes import ExitCode
from edgesight.core.mqtt_security import parse_broker_url
from edgesight.sensor.zoo import configured_model, load_model

__all__ = ["main", "register"]

console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command("agent", help="Run the device agent: sense, analyse, and ship metadata to the hub.")(agent)


def agent(
    config: Annotated[Path, typer.Option("--config", "-c", help="device config YAML")],
    credentials: Annotated[Path, typer.Option(help="credentials JSON printed by `edgesight hub enrol`")],
    broker: Annotated[str | None, typer.Option(help="[mqtt://|mqtts://]HOST:PORT, overrides the credentials' broker")] = None,
    hub_url: Annotated[str | None, typer.Option(help="the hub's API (http(s)://HOST:PORT) to download deployed models from; overrides the credentials' hub_url")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="outbox and twin folder; default ./edgesight-data/DEVICE_ID")
    ] = None,
    max_frames: Annotated[int | None, typer.Option(min=1, help="stop sensing after N frames")] = None,
    drain_timeout: Annotated[
        float, typer.Option(min=0.0, help="seconds to wait for the hub's acks after sensing ends")
    ] = 30.0,
    batch_frames: Annotated[int, typer.Option(min=1, max=1000, help="most frames per metadata envelope")] = 60,
    heartbeat: Annotated[float, typer.Option(min=0.1, help="seconds between heartbeats")] = 10.0,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="log connections and twin changes")
    ] = False,
) -> None:
    if verbose:
        logging.getLogger("edgesight").setLevel(logging.INFO)
    device = load_config(config)
    creds = load_credentials(credentials)
    if broker is not None:
        address = parse_broker_url(broker, "--broker")
        creds = dataclasses.replace(creds, broker_host=address.host, broker_port=address.port,
                                    broker_tls=address.tls)  # fmt: skip
    if hub_url is not None:
        creds = dataclasses.replace(creds, hub_url=parse_hub_url(hub_url, "--hub-url"))
    settings = AgentSettings(
        data_dir=data_dir or Path("edgesight-data") / device.device_id,
        batch_frames=batch_frames,
        heartbeat_s=heartbeat,
        max_frames=max_frames,
        drain_timeout_s=drain_timeout,
    )
    package = load_model(configured_model(device.sensor), device.model_trust)
    use_one_blas_thread()  # the sessions own the cores; see apps/blas_threads.py
    with SensorFeed(device, package) as feed:
        runner = Agent(device, creds, feed, settings)

        def stop(signum: int, frame: FrameType | None) -> None:
            runner.stop()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            stats = runner.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    console.print(_summary(device.device_id, stats), highlight=False)
    if not stats.drained:
        raise typer.Exit(ExitCode.NOT_DRAINED)


def _summary(device_id: str, stats: AgentStats) -> str:
    """One line: what was sensed, sent and dropped.

    Example:
        >>> _summary("cam-1", AgentStats(frames=10, events=2, drained=True))
        'agent cam-1: 10 frames, 2 events, all acknowledged by the hub'
    """
    parts = [f"agent {device_id}: {stats.frames} frames, {stats.events} events"]
    if stats.dropped:
        parts.append("dropped " + ", ".join(f"{n} {kind}" for kind, n in sorted(stats.dropped.items())))
    parts.append("all acknowledged by the hub" if stats.drained else "some messages still in the outbox")
    return ", ".join(parts)


def main() -> None:
    """``python -m edgesight.cli.agent ...``: the agent alone, for devices without the full CLI."""
    import sys

    from edgesight.core.errors import EdgeSightError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app = typer.Typer(add_completion=False)
    app.command()(agent)
    try:
        app()
    except EdgeSightError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
