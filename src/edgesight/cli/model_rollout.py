"""``edgesight model upload | deploy | rollout status | rollout halt``: the hub's model registry and rollouts, over its API.

Each command talks to the hub's HTTP API with the admin token: ``--hub`` (default
``$EDGESIGHT_HUB_URL`` or ``http://127.0.0.1:8099``) and ``--token`` (default
``$EDGESIGHT_HUB_ADMIN_TOKEN``, else the ``admin_token`` file in ``--data-dir``, ``./hub-data``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from edgesight.core.errors import ConfigError, EdgeSightError
from edgesight.core.exit_codes import ExitCode

__all__ = ["register"]

console = Console()
rollout_app = typer.Typer(no_args_is_help=True, help="Watch model deployments.")

HubOpt = Annotated[str | None, typer.Option("--hub", help="hub API URL (default $EDGESIGHT_HUB_URL or http://127.0.0.1:8099)")]
TokenOpt = Annotated[str | None, typer.Option("--token", help="admin token (default $EDGESIGHT_HUB_ADMIN_TOKEN or DATA_DIR/admin_token)")]
DataOpt = Annotated[Path, typer.Option("--data-dir", help="the hub's data dir, where admin_token is")]
_FINAL = ("completed", "halted")


def register(model_app: typer.Typer) -> None:
    model_app.command("upload", help="Upload a signed package to the hub's model registry.")(upload)
    model_app.command("deploy", help="Deploy a registered model to devices by id, tag or site, canaries first.")(deploy)
    model_app.add_typer(rollout_app, name="rollout")


class _Hub:
    """The hub API with the admin token; errors become EdgeSightError naming the URL and the answer."""

    def __init__(self, hub: str | None, token: str | None, data_dir: Path) -> None:
        self.url = (hub or os.environ.get("EDGESIGHT_HUB_URL") or "http://127.0.0.1:8099").rstrip("/")
        token = token or os.environ.get("EDGESIGHT_HUB_ADMIN_TOKEN")
        if token is None:
            path = data_dir / "admin_token"
            try:
                token = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    f"no admin token: pass --token, set EDGESIGHT_HUB_ADMIN_TOKEN or point --data-dir at the hub's "
                    f"data dir ({path}: {exc.strerror})"
                ) from exc
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = httpx.request(method, self.url + path, headers=self.headers, timeout=120.0, **kwargs)
        except httpx.HTTPError as exc:
            raise EdgeSightError(f"hub {self.url} unreachable: {exc}") from exc
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            error = ConfigError if response.status_code in (404, 409, 422) else EdgeSightError
            raise error(f"hub refused {method} {path} ({response.status_code}): {detail}")
        return response.json()


def upload(
    package: Annotated[Path, typer.Argument(help="signed .espkg (edgesight model sign)")],
    hub: HubOpt = None,
    token: TokenOpt = None,
    data_dir: DataOpt = Path("hub-data"),
) -> None:
    try:
        data = package.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read model package {package}: {exc.strerror}") from exc
    info = _Hub(hub, token, data_dir).call("POST", "/api/v1/models", content=data)
    console.print(f"uploaded {info['id']}@{info['version']}  sha256 {info['sha256'][:16]}  signed by {info['signer']}  "
                  f"{info['size'] / 1e6:.2f} MB", highlight=False)  # fmt: skip


def _split_model(text: str) -> tuple[str, str]:
    model_id, sep, version = text.partition("@")
    if not sep or not model_id or not version:
        raise ConfigError(f"MODEL: expected ID@VERSION (e.g. acme-people@2.0.0), got {text!r}")
    return model_id, version


def deploy(
    model: Annotated[str, typer.Argument(help="ID@VERSION of a registered model")],
    device: Annotated[list[str] | None, typer.Option("--device", help="target device id (repeatable)")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="target devices with this tag (repeatable)")] = None,
    site: Annotated[str | None, typer.Option("--site", help="target the devices of this site")] = None,
    canary: Annotated[list[str] | None, typer.Option("--canary", help="canary device id (repeatable)")] = None,
    canaries: Annotated[int, typer.Option("--canaries", min=1, help="without --canary: this many go first")] = 1,
    health_window: Annotated[float, typer.Option("--health-window", min=0.0, help="seconds each device watches the new model")] = 30.0,
    min_fps_ratio: Annotated[float, typer.Option(min=0.0, max=1.0, help="roll back below this fraction of the old fps")] = 0.5,
    min_fps: Annotated[float, typer.Option(min=0.0, help="roll back below this fps (0: no floor)")] = 0.0,
    max_error_rate: Annotated[float, typer.Option(min=0.0, max=1.0, help="roll back above this share of failed frames")] = 0.05,
    report_timeout: Annotated[float, typer.Option("--report-timeout", min=1.0, help="halt when a device sent the model reports no progress for this many seconds")] = 600.0,
    watch: Annotated[bool, typer.Option("--watch", help="print the status until the deployment completes or halts")] = False,
    hub: HubOpt = None,
    token: TokenOpt = None,
    data_dir: DataOpt = Path("hub-data"),
) -> None:
    model_id, version = _split_model(model)
    api = _Hub(hub, token, data_dir)
    body = {"model_id": model_id, "version": version, "devices": device or [], "tags": tag or [], "site": site,
            "canaries": canary or [], "canary_count": canaries, "health_window_s": health_window,
            "min_fps_ratio": min_fps_ratio, "min_fps": min_fps, "max_error_rate": max_error_rate,
            "report_timeout_s": report_timeout}  # fmt: skip
    info = api.call("POST", "/api/v1/deployments", json=body)
    console.print(_table(info))
    if watch:
        _watch(api, info["id"])


@rollout_app.command("status")
def status(
    deployment: Annotated[str | None, typer.Argument(help="deployment id (default: the newest)")] = None,
    watch: Annotated[bool, typer.Option("--watch", help="refresh until the deployment completes or halts")] = False,
    hub: HubOpt = None,
    token: TokenOpt = None,
    data_dir: DataOpt = Path("hub-data"),
) -> None:
    """Each device's state in a deployment (exit 1 when the deployment halted)."""
    api = _Hub(hub, token, data_dir)
    if deployment is None:
        found = api.call("GET", "/api/v1/deployments")
        if not found:
            raise ConfigError("the hub has no deployments yet (edgesight model deploy)")
        deployment = str(found[0]["id"])
    info = _watch(api, deployment) if watch else api.call("GET", f"/api/v1/deployments/{deployment}")
    if not watch:
        console.print(_table(info))
    if info["status"] == "halted":
        raise typer.Exit(ExitCode.FAILURE)


@rollout_app.command("halt")
def halt(
    deployment: Annotated[str, typer.Argument(help="deployment id")],
    reason: Annotated[str, typer.Option("--reason", help="why, kept in the deployment's detail")] = "no reason given",
    roll_back: Annotated[
        bool, typer.Option("--roll-back", help="also return every device it reached to its previous model")
    ] = False,
    hub: HubOpt = None,
    token: TokenOpt = None,
    data_dir: DataOpt = Path("hub-data"),
) -> None:
    """Stop a deployment in progress: nothing more is sent (and with --roll-back, devices go back)."""
    body = {"reason": reason, "roll_back": roll_back}
    info = _Hub(hub, token, data_dir).call("POST", f"/api/v1/deployments/{deployment}/halt", json=body)
    console.print(_table(info))


def _watch(api: _Hub, deployment: str) -> dict[str, Any]:
    last = ""
    while True:
        info: dict[str, Any] = api.call("GET", f"/api/v1/deployments/{deployment}")
        key = repr([(d["state"], d["detail"]) for d in info["devices"]]) + info["status"]
        if key != last:
            console.print(_table(info))
            last = key
        if info["status"] in _FINAL:
            return info
        time.sleep(1.0)


def _table(info: dict[str, Any]) -> Table:
    title = f"deployment {info['id']}: {info['model_id']}@{info['model_version']}  {info['status']}"
    if info.get("detail"):
        title += f" ({info['detail']})"
    table = Table("device", "stage", "state", "running", "fps", "detail", title=title, title_justify="left")
    for d in info["devices"]:
        fps = "" if d["fps"] is None else f"{d['fps']:.1f}"
        table.add_row(d["device_id"], "canary" if d["canary"] else "rest", d["state"], d["running"] or "", fps,
                      d["detail"] or "")  # fmt: skip
    return table
