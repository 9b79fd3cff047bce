"""Hubs under test for the end-to-end tests, each in its own process so it can be stopped and killed.

* :class:`RealHub`: the colleague's hub (``edgesight.hub.service.HubService``: MQTT worker with a
  shared subscription and manual acks) on a throwaway PostgreSQL database.
* :class:`FakeHubProcess`: ``fakehub_proc.py``, a stand-in storing in SQLite with the protocol's
  rules, to test the agent alone (``EDGESIGHT_E2E_HUB=fake``).

Both answer the same queries: stored seqs per device, stored events, line-crossing counts.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from fakehub import port_open, wait_until

import support
from edgesight.agent.credentials import Credentials, parse_credentials

LineCounts = Counter[tuple[str, str, str]]


class HubUnderTest(Protocol):
    def enrol(self, device_id: str) -> Credentials: ...
    def start(self) -> None: ...
    def stop(self, sig: int = signal.SIGTERM) -> None: ...
    def stored_seqs(self, device_id: str) -> list[int]: ...
    def events(self, device_id: str) -> list[dict[str, Any]]: ...
    def received(self) -> int: ...
    def line_counts(self, device_id: str) -> LineCounts: ...


def pg_up() -> bool:
    return port_open("127.0.0.1", 5432)


def pg_database() -> AbstractContextManager[str]:
    """A fresh PostgreSQL database ``edgesight_agent_<random>``, dropped afterwards; yields its URL."""
    return support.pg_database("edgesight_agent")


class _Process:
    proc: subprocess.Popen[bytes] | None = None

    def _spawn(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(args, env={**os.environ, **env})

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None


_REAL_HUB = """
import signal, sys, threading
from pathlib import Path
from edgesight.hub.service import HubService
from edgesight.hub.settings import HubSettings
url, port, folder = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
settings = HubSettings(data_dir=folder, db_url=url, mqtt_host="127.0.0.1", mqtt_port=port,
                       mqtt_client_id="edgesight-hub-e2e", admin_token="a" * 32)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
service = HubService(settings)
service.start()
(folder / "ready").touch()
stop.wait()
service.stop()
"""


class RealHub(_Process):
    """The real hub (HubService + MQTT worker) on PostgreSQL ``url``, talking to the broker on ``port``."""

    def __init__(self, folder: Path, url: str, port: int) -> None:
        from edgesight.hub.storage import Database

        self.folder, self.url, self.port = folder, url, port
        folder.mkdir(parents=True, exist_ok=True)
        self.db = Database(url)
        self.db.migrate()

    def enrol(self, device_id: str) -> Credentials:
        from edgesight.hub.storage import devices

        e = devices.enrol(self.db, device_id)
        return parse_credentials(
            {
                "device_id": e.device_id,
                "secret": base64.b64encode(e.secret).decode(),
                "token": e.token,
                "broker": f"127.0.0.1:{self.port}",
            }
        )

    def start(self) -> None:
        ready = self.folder / "ready"
        ready.unlink(missing_ok=True)
        self._spawn([sys.executable, "-c", _REAL_HUB, self.url, str(self.port), str(self.folder)], {})
        assert wait_until(ready.exists, 30), "the hub did not start"

    def _rows(self, sql: str, **args: Any) -> list[Any]:
        from sqlalchemy import text

        with self.db.engine.connect() as conn:
            return list(conn.execute(text(sql), args))

    def stored_seqs(self, device_id: str) -> list[int]:
        rows = self._rows("SELECT seq FROM ingest_log WHERE device_id = :d ORDER BY seq", d=device_id)
        return [int(r[0]) for r in rows]

    def events(self, device_id: str) -> list[dict[str, Any]]:
        rows = self._rows(
            "SELECT id, type, rule, class_name, properties FROM events WHERE device_id = :d", d=device_id
        )
        return [
            {"id": r[0], "type": r[1], "rule": r[2], "class_name": r[3], "properties": _json(r[4])}
            for r in rows
        ]

    def received(self) -> int:
        return int(self._rows("SELECT COUNT(*) FROM ingest_log")[0][0])

    def line_counts(self, device_id: str) -> LineCounts:
        """The hub's own counts query (``hub.storage.queries.counts``)."""
        from edgesight.hub.storage.queries import Filter, counts

        out: LineCounts = Counter()
        for c in counts(self.db, Filter(device=device_id))["line_crossings"]:
            out[(c["rule"], c["direction"], c["class_name"])] += c["count"]
        return out

    def close(self) -> None:
        self.stop()
        self.db.close()


def _json(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value)


class FakeHubProcess(_Process):
    """``fakehub_proc.py`` on a SQLite file; ``write_delay_s`` sleeps inside each transaction."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.port = folder, port
        folder.mkdir(parents=True, exist_ok=True)
        self.db = folder / "hub.sqlite"
        self.devices_file = folder / "devices.json"
        self.secrets: dict[str, str] = {}
        self.write_delay_s = 0.0

    def enrol(self, device_id: str) -> Credentials:
        secret = base64.b64encode(os.urandom(32)).decode()
        self.secrets[device_id] = secret
        self.devices_file.write_text(json.dumps(self.secrets))
        return parse_credentials(
            {"device_id": device_id, "secret": secret, "token": "t" * 16, "broker": f"127.0.0.1:{self.port}"}
        )

    def start(self) -> None:
        script = Path(__file__).with_name("fakehub_proc.py")
        args = [sys.executable, str(script), str(self.db), str(self.port), str(self.devices_file)]
        self._spawn(args, {"FAKEHUB_WRITE_DELAY_S": str(self.write_delay_s)})
        assert wait_until(self.db.exists, 10), "fake hub did not start"

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if not self.db.exists():
            return []
        with sqlite3.connect(self.db, timeout=10) as db:
            try:
                return list(db.execute(sql, args))
            except sqlite3.OperationalError:  # tables not created yet
                return []

    def stored_seqs(self, device_id: str) -> list[int]:
        return [
            r[0]
            for r in self._rows("SELECT seq FROM received WHERE device_id = ? ORDER BY seq", (device_id,))
        ]

    def events(self, device_id: str) -> list[dict[str, Any]]:
        rows = self._rows("SELECT body FROM events WHERE device_id = ? ORDER BY seq", (device_id,))
        return [json.loads(r[0]) for r in rows]

    def received(self) -> int:
        rows = self._rows("SELECT COUNT(*) FROM received")
        return int(rows[0][0]) if rows else 0

    def line_counts(self, device_id: str) -> LineCounts:
        return Counter(
            (e["rule"], e["properties"]["direction"], e["class_name"])
            for e in self.events(device_id)
            if e["type"] == "line_crossing"
        )

    def close(self) -> None:
        self.stop()


class PahoPublisher:
    """A hub ``Publisher`` (``publish(topic, payload, retain)``) on its own MQTT connection, for tests."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
