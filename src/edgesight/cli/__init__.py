"""The one command line, ``edgesight``: thin wrappers over the library.

Every command catches :class:`~edgesight.core.errors.EdgeSightError`, prints one line naming the
problem and exits with the error's code; every exit code is defined in
:class:`edgesight.core.exit_codes.ExitCode` (and listed in README's "Exit codes").
"""

from __future__ import annotations

import logging
import sys

import typer
from rich.console import Console

from edgesight.core.errors import EdgeSightError

__all__ = ["app", "main"]

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="EdgeSight: sensors that send metadata, not frames."
)
err_console = Console(stderr=True)


def _register() -> None:
    from edgesight.cli import agent, events, hub, inspection, model_rollout, model_train, models, sense

    sense.register(app)
    events.register(app)
    models.register(app)
    model_train.register(models.model_app)
    model_rollout.register(models.model_app)
    agent.register(app)
    hub.register(app)
    inspection.register(app)


def main() -> None:
    """Entry point of the ``edgesight`` script."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _register()
    try:
        app()
    except EdgeSightError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
