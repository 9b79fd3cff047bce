"""``edgesight models`` (the shipped zoo) and ``edgesight model keygen|sign|verify|report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from edgesight.core.config import DEFAULT_MODEL, load_config
from edgesight.core.errors import ConfigError
from edgesight.core.package import read_package
from edgesight.core.signing import (
    key_id,
    load_private_key,
    load_public_key,
    public_key_text,
    sign_package,
    write_keypair,
)
from edgesight.core.trust import TrustSettings
from edgesight.sensor.zoo import verify_model, zoo_dir, zoo_names

console = Console()
model_app = typer.Typer(no_args_is_help=True, help="Sign, verify and measure model packages.")


def register(app: typer.Typer) -> None:
    app.command("models", help="List the models that ship with EdgeSight.")(list_models)
    app.add_typer(model_app, name="model")


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
        Path | None, typer.Option("--config", "-c", help="device config whose sensor.trust applies")
    ] = None,
    allow_unsigned: Annotated[bool, typer.Option(help="development only: accept unsigned packages")] = False,
    accepted_versions: Annotated[
        Path | None, typer.Option(help="accepted-versions file: refuse downgrades and record this version")
    ] = None,
) -> None:
    """Check a package as a device would: intact, pinned or signed by a trusted key, not a downgrade."""
    base = load_config(config).sensor.trust if config else TrustSettings()
    keys = base.trusted_keys + tuple(public_key_text(load_public_key(p)) for p in trusted_key or [])
    try:
        trust = TrustSettings(
            trusted_keys=keys,
            allow_unsigned=allow_unsigned or base.allow_unsigned,
            accepted_versions=accepted_versions or base.accepted_versions,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    verdict = verify_model(package, trust)
    console.print(
        f"ok {verdict.package.name} ({verdict.package.source}): {verdict.basis}", highlight=False, soft_wrap=True
    )
