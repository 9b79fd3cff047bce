"""MQTT over TLS with per-device logins and ACLs, against a real Mosquitto started here.

The broker listens only on a TLS port with a certificate made by the test, refuses anonymous
clients, checks passwords (``mosquitto_passwd``) and applies docs/mosquitto/acl (a device may
publish only under its own topic). The agent's uplink and the hub's MQTT worker connect to it
with ``mqtts://`` and a heartbeat travels from one to the other.
"""

from __future__ import annotations

import base64
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edgesight.agent.credentials import parse_credentials
from edgesight.agent.outbox import Outbox
from edgesight.agent.uplink import Uplink
from edgesight.core.errors import ConfigError
from edgesight.core.mqtt_security import BrokerAddress, TlsFiles, parse_broker_url, secure_client
from edgesight.core.wire import Kind
from edgesight.hub.service import HubService
from edgesight.hub.settings import HubSettings
from edgesight.hub.storage import devices
from pki import Pair, TestPki
from support import REPO, need

ACL = REPO / "docs" / "mosquitto" / "acl"
HUB_USER, HUB_PASSWORD = "edgesight-hub", "hub-password-0123456789"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SecureBroker:
    port: int
    pki: TestPki
    passwords: Path
    proc: subprocess.Popen[bytes] | None = None

    def add_user(self, name: str, password: str) -> None:
        """Add a login; a running broker rereads its password file on SIGHUP."""
        subprocess.run(["mosquitto_passwd", "-b", str(self.passwords), name, password], check=True)
        if self.proc is not None:
            self.proc.send_signal(signal.SIGHUP)
            time.sleep(0.5)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[SecureBroker]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    need(Path(binary).exists() and shutil.which("mosquitto_passwd") is not None,
         "mosquitto and mosquitto_passwd are not installed (apt package mosquitto)")  # fmt: skip
    folder = tmp_path / "broker"
    pki = TestPki(folder)
    server = pki.issue("server", server=True)
    passwords = folder / "passwd"
    passwords.touch()
    port = _free_port()
    conf = folder / "mosquitto.conf"
    conf.write_text(
        f"user root\nper_listener_settings false\nallow_anonymous false\npersistence false\n"
        f"password_file {passwords}\nacl_file {ACL}\nlog_dest file {folder}/mosquitto.log\n"
        f"listener {port} 127.0.0.1\ncafile {pki.ca}\ncertfile {server.cert}\nkeyfile {server.key}\n"
        f"tls_version tlsv1.2\n"
    )
    secure = SecureBroker(port, pki, passwords)
    secure.add_user(HUB_USER, HUB_PASSWORD)
    secure.add_user("cam-1", "cam-1-password")
    secure.add_user("cam-2", "cam-2-password")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    secure.proc = proc
    try:
        deadline = time.monotonic() + 10
        while "running" not in _log(folder) and time.monotonic() < deadline:
            assert proc.poll() is None, f"mosquitto exited: {_log(folder)}"
            time.sleep(0.05)
        yield secure
    finally:
        proc.terminate()
        proc.wait(10)


def _log(folder: Path) -> str:
    path = folder / "mosquitto.log"
    return path.read_text() if path.exists() else ""


class Probe:
    """A raw paho client: connect result, PUBACK reason codes and received messages."""

    def __init__(self, broker: SecureBroker, user: str | None, password: str | None,
                 client_cert: Pair | None = None, ca: Path | None = None) -> None:  # fmt: skip
        self.connack: str | None = None
        self.connected = threading.Event()
        self.acks: dict[int, str] = {}
        self.received: list[str] = []
        self.subscribed = threading.Event()
        self.port = broker.port
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        tls = TlsFiles(ca or broker.pki.ca, None if client_cert is None else client_cert.cert,
                       None if client_cert is None else client_cert.key)  # fmt: skip
        secure_client(client, BrokerAddress("127.0.0.1", broker.port, tls=True), tls, user, password)
        client.on_connect = self._on_connect
        client.on_publish = lambda _c, _u, mid, reason, _p: self.acks.__setitem__(mid, str(reason))
        client.on_message = lambda _c, _u, m: self.received.append(m.topic)
        client.on_subscribe = lambda *_: self.subscribed.set()
        self.client = client

    def _on_connect(self, _c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        self.connack = str(reason)
        self.connected.set()

    def __enter__(self) -> Probe:
        self.client.connect("127.0.0.1", self.port, keepalive=10)
        self.client.loop_start()
        assert self.connected.wait(10), "no CONNACK"
        return self

    def __exit__(self, *_: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str) -> str:
        info = self.client.publish(topic, b"x", qos=1)
        deadline = time.monotonic() + 10
        while info.mid not in self.acks and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.acks.get(info.mid, "no PUBACK")


def test_device_publishes_only_its_own_topic(broker: SecureBroker) -> None:
    with Probe(broker, HUB_USER, HUB_PASSWORD) as hub:
        assert hub.connack == "Success"
        hub.client.subscribe("edgesight/v1/d/+/up", qos=1)
        assert hub.subscribed.wait(10)
        with Probe(broker, "cam-1", "cam-1-password", client_cert=broker.pki.issue("cam-1")) as cam:
            assert cam.connack == "Success"
            assert cam.publish("edgesight/v1/d/cam-1/up") == "Success"
            assert cam.publish("edgesight/v1/d/cam-2/up") == "Not authorized"
            assert cam.publish("edgesight/v1/d/cam-1/down/command") == "Not authorized"  # forging the hub
        deadline = time.monotonic() + 5
        while not hub.received and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # a forbidden message would arrive just as fast: give it the chance
        assert hub.received == ["edgesight/v1/d/cam-1/up"]


def test_anonymous_and_wrong_password_are_refused(broker: SecureBroker) -> None:
    with Probe(broker, None, None) as anonymous:
        assert anonymous.connack == "Not authorized"
    with Probe(broker, "cam-1", "cam-2-password") as wrong:
        assert wrong.connack in {"Bad user name or password", "Not authorized"}


def test_a_broker_certificate_from_another_ca_is_refused(broker: SecureBroker, tmp_path: Path) -> None:
    other = TestPki(tmp_path / "other")
    probe = Probe(broker, "cam-1", "cam-1-password", ca=other.ca)
    with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED"):
        probe.client.connect("127.0.0.1", broker.port)


def test_agent_and_hub_over_mqtts(broker: SecureBroker, tmp_path: Path) -> None:
    settings = HubSettings(
        data_dir=tmp_path / "hub", mqtt_host="127.0.0.1", mqtt_port=broker.port, mqtt_tls=True,
        mqtt_ca_file=broker.pki.ca, mqtt_username=HUB_USER, mqtt_password=HUB_PASSWORD,
        mqtt_client_id="hub-tls-test", secret_cache_s=0,
    )  # fmt: skip
    hub = HubService(settings)
    hub.start()
    try:
        assert hub.wait_connected(10), "hub worker did not connect over mqtts"
        enrolment = devices.enrol(hub.db, "cam-7")
        broker.add_user("cam-7", enrolment.token)  # the device's broker password is its API token
        creds = parse_credentials(
            {"device_id": "cam-7", "secret": base64.b64encode(enrolment.secret).decode(),
             "token": enrolment.token, "broker": f"mqtts://127.0.0.1:{broker.port}", "ca_file": "ca.pem"},
            "cam-7.json", broker.pki.folder,
        )  # fmt: skip
        assert creds.broker.tls and creds.tls.ca_file == broker.pki.ca
        with Outbox(tmp_path / "agent" / "outbox.sqlite") as box, Uplink(creds, box) as uplink:
            box.put(Kind.HEARTBEAT, b'{"fps": 7.5}')
            uplink.wake()
            assert uplink.wait_drained(20), "the hub never acknowledged over mqtts"
        info = devices.get_device(hub.db, "cam-7")
        assert info is not None and info.health is not None and info.health["fps"] == 7.5
    finally:
        hub.stop()


def test_tls_settings_are_checked() -> None:
    assert parse_broker_url("mqtts://h") == BrokerAddress("h", 8883, True)
    with pytest.raises(ConfigError, match="need an mqtts:// broker"):
        parse_credentials({"device_id": "c", "secret": base64.b64encode(b"k" * 16).decode(), "token": "t",
                           "broker": "mqtt://h:1", "ca_file": "/ca.pem"})  # fmt: skip
    with pytest.raises(ConfigError, match=r"cannot load /nonexistent/ca\.pem"):
        TlsFiles(ca_file=Path("/nonexistent/ca.pem")).context()
