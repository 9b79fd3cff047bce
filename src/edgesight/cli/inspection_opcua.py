"""The OPC UA side of ``edgesight inspect``: which endpoints ``run --opcua`` may serve, and ``opcua-cert``.

Like the HTTP trigger, the OPC UA endpoint may be open only on this machine: beyond it, clients
must be able to tell this station from another and nobody between may change a verdict, which
OPC UA does with a Basic256Sha256 secure channel and the server's application certificate.
"""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from rich.console import Console

from edgesight.core.errors import ConfigError
from edgesight.core.loopback import is_loopback
from edgesight.core.private_files import write_private_text
from edgesight.sensor.inspection.opcua_cert import make_application_certificate

__all__ = ["check_opcua", "opcua_cert"]

console = Console()


def check_opcua(
    opcua: str | None, cert: Path | None, key: Path | None, trust: list[Path] | None, allow_insecure: bool
) -> None:
    """Refuse what ``run`` should not serve, before the product loads.

    Beyond loopback, a NoSecurity endpoint lets anyone on the network read the verdicts, and a
    machine in between, or one answering in the station's place, give the PLC verdicts of its own.
    """
    if opcua is None:
        if cert is not None or key is not None or trust or allow_insecure:
            raise ConfigError("--opcua-cert, --opcua-key, --opcua-trust and --opcua-allow-insecure are for --opcua")
        return
    host = urlsplit(opcua).hostname if opcua.startswith("opc.tcp://") else None
    if not host:
        raise ConfigError(f"--opcua: expected an endpoint opc.tcp://HOST:PORT/PATH, got {opcua!r}")
    if (cert is None) != (key is None):
        raise ConfigError("--opcua-cert and --opcua-key go together: give both")
    if trust and cert is None:
        raise ConfigError(
            "--opcua-trust needs --opcua-cert and --opcua-key: clients show certificates on secured channels only"
        )
    if cert is not None and allow_insecure:
        raise ConfigError("--opcua-allow-insecure: not with --opcua-cert, which serves secured endpoints only")
    if cert is None and not allow_insecure and not is_loopback(host):
        raise ConfigError(
            f"--opcua {opcua}: {host} is reachable from other machines, so anyone there could read the "
            "verdicts and one in between could forge them; give --opcua-cert and --opcua-key (make them "
            "with `edgesight inspect opcua-cert`), or --opcua-allow-insecure on an isolated line network"
        )


def opcua_cert(
    cert: Annotated[Path, typer.Option("--cert", help="certificate file to write (PEM); clients trust it")],
    key: Annotated[Path, typer.Option("--key", help="private key file to write (PEM, mode 0600)")],
    host: Annotated[
        list[str] | None,
        typer.Option(help="name or IP address clients reach the station by; repeatable (default: this machine's name)"),
    ] = None,
    uri: Annotated[
        str | None, typer.Option(help="application URI (default: urn:<first --host>:edgesight:inspection)")
    ] = None,
    days: Annotated[int, typer.Option(min=1, help="days the certificate is valid")] = 3650,
) -> None:
    """Make a self-signed OPC UA application certificate for `run --opcua-cert/--opcua-key`, offline."""
    for path in (cert, key):
        if path.exists():
            raise ConfigError(f"{path} already exists; refusing to overwrite it")
    hosts = host or [socket.gethostname()]
    application_uri = uri or f"urn:{hosts[0]}:edgesight:inspection"
    cert_pem, key_pem = make_application_certificate(application_uri, hosts, days)
    write_private_text(key, key_pem.decode("ascii"))
    cert.write_bytes(cert_pem)
    certificate = x509.load_pem_x509_certificate(cert_pem)
    until = certificate.not_valid_after_utc.astimezone(dt.UTC).date()
    console.print(
        f"certificate {cert}: application URI {application_uri}, hosts {', '.join(hosts)}, valid until {until}, "
        f"SHA-1 thumbprint {certificate.fingerprint(hashes.SHA1()).hex()}\n"  # the thumbprint OPC UA clients show
        f"private key {key}: keep it on this machine only. Trust the certificate on the clients, then run "
        f"`inspect run --opcua opc.tcp://{hosts[0]}:4840/edgesight/ --opcua-cert {cert} --opcua-key {key}`",
        highlight=False, soft_wrap=True,
    )  # fmt: skip
