"""``edgesight models``: the shipped model zoo."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from edgesight.core.config import DEFAULT_MODEL
from edgesight.core.package import read_package
from edgesight.sensor.zoo import zoo_dir, zoo_names


def register(app: typer.Typer) -> None:
    app.command("models", help="List the models that ship with EdgeSight.")(list_models)


def list_models() -> None:
    table = Table("name", "task", "input", "precision", "decoder", "labels", "MB", title="model zoo")
    for name in zoo_names():
        path = zoo_dir() / f"{name}.espkg"
        pkg = read_package(path)
        i = pkg.intrinsics
        marker = " (default)" if name == DEFAULT_MODEL else ""
        table.add_row(
            name + marker,
            i.task.value,
            f"{i.input.width}x{i.input.height} {i.input.color.value}",
            i.precision,
            i.decoder.name,
            str(len(pkg.labels)),
            f"{path.stat().st_size / 1e6:.1f}",
        )
    Console().print(table)
