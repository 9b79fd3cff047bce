"""The OPC UA verdict nodes behind a secure channel, seen by real asyncua clients."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from asyncua import ua
from asyncua.client.client import Client as AsyncClient
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from asyncua.sync import Client
from asyncua.ua.uaerrors import BadIdentityTokenRejected, BadUserAccessDenied, UaError

from edgesight.core.errors import ConfigError
from edgesight.sensor.inspection.opcua import OPCUA_NAMESPACE, OpcUaRejectSignal
from edgesight.sensor.inspection.opcua_cert import make_application_certificate

SERVER_URI = "urn:test-line:edgesight:inspection"
CLIENT_URI = "urn:test-line:scada"
VERDICT = {"product": "brick", "part_id": "S-1", "passed": False, "score": 0.91, "threshold": 0.55}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Server and client certificates as `inspect opcua-cert` makes them; the server's key is a PEM ``.key``."""
    folder = tmp_path_factory.mktemp("pki")
    for who, uri in (("server", SERVER_URI), ("client", CLIENT_URI), ("stranger", "urn:elsewhere:scada")):
        cert, key = make_application_certificate(uri, ["localhost", "127.0.0.1", socket.gethostname()])
        (folder / f"{who}.pem").write_bytes(cert)
        (folder / ("server.key" if who == "server" else f"{who}-key.pem")).write_bytes(key)
    return folder


@pytest.fixture(scope="module")
def secured(pki: Path) -> Iterator[OpcUaRejectSignal]:
    endpoint = f"opc.tcp://127.0.0.1:{_free_port()}/edgesight/"
    signal = OpcUaRejectSignal(endpoint, certificate=pki / "server.pem", private_key=pki / "server.key")
    try:
        yield signal
    finally:
        signal.close()


def _refused(client: Client, error: type[Exception], match: str | None = None) -> None:
    """Assert ``client`` cannot connect; stop its thread either way (not a daemon: it would hang pytest)."""
    try:
        with pytest.raises(error, match=match):
            client.connect()
    finally:
        client.disconnect_socket()


def _secure_client(endpoint: str, pki: Path, who: str, mode: ua.MessageSecurityMode) -> Client:
    client = Client(endpoint)
    client.application_uri = CLIENT_URI if who == "client" else "urn:elsewhere:scada"
    client.set_security(
        SecurityPolicyBasic256Sha256, str(pki / f"{who}.pem"), str(pki / f"{who}-key.pem"),
        server_certificate=str(pki / "server.pem"), mode=mode,
    )  # fmt: skip
    return client


def _verdict_node(client: Client, name: str) -> ua.Node:
    ns = client.get_namespace_index(OPCUA_NAMESPACE)
    return client.nodes.objects.get_child([f"{ns}:Inspection", f"{ns}:{name}"])


@pytest.mark.parametrize("mode", [ua.MessageSecurityMode.SignAndEncrypt, ua.MessageSecurityMode.Sign])
def test_a_client_trusting_the_server_certificate_reads_the_verdict_over_basic256sha256(
    pki: Path, secured: OpcUaRejectSignal, mode: ua.MessageSecurityMode
) -> None:
    client = _secure_client(secured.endpoint, pki, "client", mode)
    try:
        client.connect()
        secured.send({**VERDICT, "part_id": f"S-{mode.name}"})
        assert _verdict_node(client, "Verdict").read_value() == "reject"
        assert _verdict_node(client, "PartId").read_value() == f"S-{mode.name}"
        offered = {(e.SecurityPolicyUri.rpartition("#")[2], e.SecurityMode) for e in client.get_endpoints()}
        server_uris = client.get_node(ua.ObjectIds.Server_ServerArray).read_value()
    finally:
        client.disconnect()
    assert offered == {
        ("Basic256Sha256", ua.MessageSecurityMode.Sign), ("Basic256Sha256", ua.MessageSecurityMode.SignAndEncrypt),
    }  # fmt: skip
    assert server_uris == [SERVER_URI]  # the ApplicationUri is the certificate's, as clients check


def test_a_secured_server_refuses_a_nosecurity_client_even_one_that_ignores_its_endpoints(
    secured: OpcUaRejectSignal, monkeypatch: pytest.MonkeyPatch
) -> None:
    _refused(Client(secured.endpoint), UaError, "No matching endpoints")  # what a well-behaved client does
    # asyncua serves a NoSecurity channel to anyone, for discovery; a session over it is refused.
    monkeypatch.setattr(AsyncClient, "find_endpoint", staticmethod(lambda endpoints, _mode, _uri: endpoints[0]))
    _refused(Client(secured.endpoint), BadUserAccessDenied)


def test_with_trusted_clients_a_secured_server_admits_those_only(pki: Path) -> None:
    endpoint = f"opc.tcp://127.0.0.1:{_free_port()}/edgesight/"
    signal = OpcUaRejectSignal(
        endpoint, certificate=pki / "server.pem", private_key=pki / "server.key", trusted_clients=[pki / "client.pem"]
    )
    try:
        signal.send(VERDICT)
        _refused(_secure_client(endpoint, pki, "stranger", ua.MessageSecurityMode.SignAndEncrypt), BadUserAccessDenied)
        client = _secure_client(endpoint, pki, "client", ua.MessageSecurityMode.SignAndEncrypt)
        try:
            client.connect()
            assert _verdict_node(client, "PartId").read_value() == "S-1"
        finally:
            client.disconnect()
    finally:
        signal.close()


def test_no_client_can_log_in_as_admin_or_write_a_verdict() -> None:
    # asyncua by default makes anyone an administrator who logs in as "admin", any password.
    signal = OpcUaRejectSignal(f"opc.tcp://127.0.0.1:{_free_port()}/edgesight/")
    try:
        admin = Client(signal.endpoint)
        admin.set_user("admin")
        admin.set_password("anything")
        _refused(admin, BadIdentityTokenRejected)
        client = Client(signal.endpoint)
        try:
            client.connect()
            with pytest.raises(BadUserAccessDenied):
                _verdict_node(client, "Reject").write_value(True)
            with pytest.raises(BadUserAccessDenied):
                client.delete_nodes([_verdict_node(client, "Verdict")])
            assert _verdict_node(client, "Reject").read_value() is False
        finally:
            client.disconnect()
    finally:
        signal.close()


def test_a_certificate_that_clients_would_refuse_is_refused_at_start(pki: Path, tmp_path: Path) -> None:
    endpoint = f"opc.tcp://127.0.0.1:{_free_port()}/edgesight/"
    with pytest.raises(ConfigError, match=r"client-key\.pem is not the key of certificate .*server\.pem"):
        OpcUaRejectSignal(endpoint, certificate=pki / "server.pem", private_key=pki / "client-key.pem")
    (tmp_path / "garbage.pem").write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"certificate .*garbage\.pem: not an unencrypted PEM or DER certificate"):
        OpcUaRejectSignal(endpoint, certificate=tmp_path / "garbage.pem", private_key=pki / "server.key")
