"""How the agent and the hub reach the broker: ``mqtt://`` or ``mqtts://`` (TLS), files, login.

One place for the connection's security so the device and the hub set it up the same way. It
does not import paho (core stays free of transport libraries): :func:`secure_client` takes any
client with paho's ``tls_set_context`` and ``username_pw_set`` methods.

Example:
    >>> parse_broker_url("mqtts://broker.example.org")
    BrokerAddress(host='broker.example.org', port=8883, tls=True)
    >>> parse_broker_url("127.0.0.1:1884").url
    'mqtt://127.0.0.1:1884'
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from edgesight.core.errors import ConfigError

__all__ = ["BrokerAddress", "MqttClientSecurity", "TlsFiles", "parse_broker_url", "secure_client"]

_DEFAULT_PORT = {False: 1883, True: 8883}


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the broker listens and whether the connection is TLS."""

    host: str
    port: int
    tls: bool = False

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker_url(text: str, source: str = "broker") -> BrokerAddress:
    """``[mqtt://|mqtts://]host[:port]`` -> :class:`BrokerAddress` (port 1883, or 8883 for mqtts).

    Example:
        >>> parse_broker_url("mqtt://hub:1")
        BrokerAddress(host='hub', port=1, tls=False)
        >>> parse_broker_url("http://hub")
        Traceback (most recent call last):
        ...
        edgesight.core.errors.ConfigError: broker: expected host:port, mqtt://host:port or mqtts://host:port, got 'http://hub'
    """
    rest = text.strip()
    tls = rest.startswith("mqtts://")
    rest = rest.removeprefix("mqtts://").removeprefix("mqtt://")
    host, sep, port_text = rest.rpartition(":")
    if not sep:
        host, port_text = rest, str(_DEFAULT_PORT[tls])
    if not host or "/" in host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"{source}: expected host:port, mqtt://host:port or mqtts://host:port, got {text!r}")
    return BrokerAddress(host, int(port_text), tls)


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM files of a TLS connection to the broker; all optional.

    Attributes:
        ca_file: the CA that signed the broker's certificate (None: the system's trusted CAs).
        cert_file: this client's certificate, for brokers that authenticate clients by certificate.
        key_file: the private key of ``cert_file`` (None: the key is inside ``cert_file``).
    """

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def context(self, source: str = "mqtt tls") -> ssl.SSLContext:
        """A client context that verifies the broker's certificate and host name (TLS 1.2 or later)."""
        if self.key_file is not None and self.cert_file is None:
            raise ConfigError(f"{source}: key file {self.key_file} given without a certificate file")
        try:
            ctx = ssl.create_default_context(cafile=None if self.ca_file is None else str(self.ca_file))
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            if self.cert_file is not None:
                ctx.load_cert_chain(str(self.cert_file), None if self.key_file is None else str(self.key_file))
        except (OSError, ssl.SSLError) as exc:
            files = ", ".join(str(f) for f in (self.ca_file, self.cert_file, self.key_file) if f is not None)
            raise ConfigError(f"{source}: cannot load {files or 'the system CAs'}: {exc}") from exc
        return ctx


class MqttClientSecurity(Protocol):
    """The two methods of ``paho.mqtt.client.Client`` that set a connection's security."""

    def tls_set_context(self, context: ssl.SSLContext | None = None) -> None: ...

    def username_pw_set(self, username: str | None, password: str | None = None) -> None: ...


def secure_client(
    client: MqttClientSecurity,
    broker: BrokerAddress,
    tls: TlsFiles | None = None,
    username: str | None = None,
    password: str | None = None,
) -> None:
    """Set TLS (for ``mqtts``) and the broker login on ``client``, before it connects.

    TLS files given for a plain ``mqtt://`` broker are refused rather than silently unused.
    """
    if username is not None:
        client.username_pw_set(username, password)
    if broker.tls:
        client.tls_set_context((tls or TlsFiles()).context(f"broker {broker.url}"))
    elif tls is not None and tls != TlsFiles():
        raise ConfigError(f"broker {broker.url}: TLS files are set but the URL is not mqtts://")
