"""The one command line, ``edgesight``: thin wrappers over the library.

Every command catches :class:`~edgesight.core.errors.EdgeSightError`, prints one line naming the
problem and exits with the error's code (2 for usage and config errors, 1 for runtime errors).
"""

from __future__ import annotations

import logging
import sys

import typer
from rich.console import Console

from edgesight.core.errors import EdgeSightError

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="EdgeSight: sensors that send metadata, not frames."
)
err_console = Console(stderr=True)


def _register() -> None:
    from edgesight.cli import agent, events, hub, model_train, models, sense

    sense.register(app)
    events.register(app)
    models.register(app)
    model_app = typer.Typer(no_args_is_help=True, help="Build custom models: train, quantize.")
    model_train.register(model_app)
    app.add_typer(model_app, name="model")
    agent.register(app)
    hub.register(app)


def main() -> None:
    """Entry point of the ``edgesight`` script."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _register()
    try:
        app()
    except EdgeSightError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
