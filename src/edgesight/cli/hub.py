"""``edgesight hub``: run the hub (API + MQTT worker), a worker alone, enrol and revoke devices."""

from __future__ import annotations

import base64
import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from edgesight.core.errors import ConfigError
from edgesight.core.mqtt_security import parse_broker_url
from edgesight.core.private_files import write_private_text
from edgesight.hub.settings import HubSettings

if TYPE_CHECKING:
    from edgesight.hub.storage import Database

__all__ = ["hub_app", "register"]

hub_app = typer.Typer(no_args_is_help=True, help="The hub: device registry, ingestion, API.")

DbOpt = Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL (default: SQLite in the data dir).")]
DataOpt = Annotated[Path | None, typer.Option("--data-dir", help="Where the SQLite file and admin token live.")]
MqttOpt = Annotated[
    str | None, typer.Option("--mqtt", help="Broker [mqtt://|mqtts://]HOST:PORT; 'off' disables MQTT.")
]


def register(app: typer.Typer) -> None:
    app.add_typer(hub_app, name="hub")


def parse_mqtt(text: str | None) -> dict[str, object]:
    """``[mqtt://|mqtts://]HOST:PORT`` -> settings overrides.

    Example:
        >>> parse_mqtt("broker:1884"), parse_mqtt(None)
        ({'mqtt_host': 'broker', 'mqtt_port': 1884, 'mqtt_tls': False}, {})
        >>> parse_mqtt("mqtts://broker")
        {'mqtt_host': 'broker', 'mqtt_port': 8883, 'mqtt_tls': True}
    """
    if text is None:
        return {}
    if text == "off":
        return {"mqtt_host": ""}
    address = parse_broker_url(text, "--mqtt")
    return {"mqtt_host": address.host, "mqtt_port": address.port, "mqtt_tls": address.tls}


def _settings(db: str | None, data_dir: Path | None, mqtt: str | None = None, **extra: object) -> HubSettings:
    overrides = {"db_url": db, "data_dir": data_dir, **parse_mqtt(mqtt), **extra}
    settings = HubSettings.from_env(**overrides)
    if overrides.get("mqtt_host") == "":
        settings = settings.model_copy(update={"mqtt_host": None})
    return settings


@contextmanager
def _database(db: str | None, data_dir: Path | None) -> Iterator[Database]:
    """The hub's database, migrated to the current schema, closed after the command."""
    from edgesight.hub.storage import Database  # imported late: `edgesight --help` stays quick

    settings = _settings(db, data_dir)
    database = Database(settings.database_url(), settings.master_key())
    database.migrate()
    try:
        yield database
    finally:
        database.close()


@hub_app.command("serve")
def serve(
    db: DbOpt = None,
    data_dir: DataOpt = None,
    mqtt: MqttOpt = None,
    host: Annotated[str, typer.Option(help="Address the API listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the API.")] = 8080,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="PEM certificate: serve HTTPS.")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key of --tls-cert.")] = None,
) -> None:
    """Run the API, the web console (at /) and the MQTT ingestion worker (HTTPS with --tls-cert and --tls-key)."""
    import uvicorn

    from edgesight.hub.api import create_app

    settings = _settings(db, data_dir, mqtt)
    if (tls_cert is None) != (tls_key is None):
        raise ConfigError("--tls-cert and --tls-key go together (the certificate and its private key)")
    for option, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if path is not None and not path.is_file():
            raise ConfigError(f"{option}: {path} is not a readable file")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info",
                ssl_certfile=None if tls_cert is None else str(tls_cert),
                ssl_keyfile=None if tls_key is None else str(tls_key))  # fmt: skip


@hub_app.command("worker")
def worker(
    db: DbOpt = None,
    data_dir: DataOpt = None,
    mqtt: MqttOpt = None,
    client_id: Annotated[str | None, typer.Option(help="MQTT client id (stable: it names the session).")] = None,
    share_group: Annotated[str | None, typer.Option(help="Shared-subscription group.")] = None,
    batch: Annotated[int | None, typer.Option(help="Messages per transaction.")] = None,
) -> None:
    """Run only an MQTT ingestion worker (scale out: one per core or host, same group)."""
    from edgesight.hub.service import HubService

    settings = _settings(db, data_dir, mqtt, mqtt_client_id=client_id, mqtt_share_group=share_group,
                         batch_max_messages=batch)  # fmt: skip
    if settings.mqtt_host is None:
        raise ConfigError("edgesight hub worker needs a broker (--mqtt HOST:PORT)")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    service = HubService(settings)
    service.start()
    try:
        while not service.wait_connected(1.0) and not done.is_set():
            pass  # the worker retries with backoff and logs why
        typer.echo(f"worker {settings.mqtt_client_id} subscribed", err=True)
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()


@hub_app.command("enrol")
def enrol(
    device_id: Annotated[str, typer.Argument(help="The new device's id.")],
    site: Annotated[str | None, typer.Option(help="Site (store, building) of the device.")] = None,
    db: DbOpt = None,
    data_dir: DataOpt = None,
    broker: Annotated[str, typer.Option(help="Broker HOST:PORT the device connects to.")] = "127.0.0.1:1883",
    out: Annotated[Path | None, typer.Option("--out", help="Write the credentials to this file (mode 0600).")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag deployments can target (repeatable).")] = None,
    hub_url: Annotated[str | None, typer.Option(help="The hub's API URL the agent downloads models from.")] = None,
) -> None:
    """Enrol a device and print its credentials file for the agent (secret and token: shown only once).

    The JSON is ``{"device_id", "secret" (base64), "token", "broker"}``, what ``edgesight.agent``
    loads; save it on the device, readable only by the agent.
    """
    from edgesight.hub.storage import devices

    parse_mqtt(broker)
    with _database(db, data_dir) as database:
        enrolment = devices.enrol(database, device_id, site, tuple(tag or ()))
    creds = {"device_id": enrolment.device_id, "secret": base64.b64encode(enrolment.secret).decode(),
             "token": enrolment.token, "broker": broker}  # fmt: skip
    if hub_url is not None:
        creds["hub_url"] = hub_url
    text = json.dumps(creds, indent=2)
    if out is None:
        typer.echo(text)
        return
    write_private_text(out, text + "\n")
    typer.echo(f"credentials of {device_id} written to {out} (mode 0600)", err=True)


@hub_app.command("tag")
def tag_device(
    device_id: Annotated[str, typer.Argument(help="The device.")],
    tags: Annotated[list[str], typer.Argument(help="Its tags (replacing the old ones; none clears them).")],
    db: DbOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Set a device's tags; ``edgesight model deploy --tag`` targets them."""
    from edgesight.hub.storage import devices

    with _database(db, data_dir) as database:
        stored = devices.set_tags(database, device_id, tags)
    typer.echo(f"{device_id} tags: {', '.join(stored) or '(none)'}")


user_app = typer.Typer(no_args_is_help=True, help="Users of the web console (roles admin and viewer).")
hub_app.add_typer(user_app, name="user")


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="The new user's name.")],
    role: Annotated[str, typer.Option(help="admin (may change devices) or viewer (may only look).")] = "viewer",
    db: DbOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Create a console user and print its generated password (shown only once)."""
    from edgesight.hub.console import accounts

    if role not in {r.value for r in accounts.Role}:
        raise ConfigError(f"--role: expected admin or viewer, got {role!r}")
    with _database(db, data_dir) as database:
        password = accounts.add_user(database, name, accounts.Role(role))
    typer.echo(f"user {name} ({role}) password: {password}")


@hub_app.command("revoke")
def revoke(
    device_id: Annotated[str, typer.Argument(help="The device to cut off.")],
    db: DbOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Revoke a device: its messages are rejected from now on."""
    from edgesight.hub.storage import devices

    with _database(db, data_dir) as database:
        devices.revoke(database, device_id)
    typer.echo(f"revoked {device_id}")
