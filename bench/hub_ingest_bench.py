"""Hub ingest benchmark: sustained detection-frame messages via MQTT and HTTP into SQLite and PostgreSQL.

Each message is one envelope holding one frame of ~6 tracked detections, as a sensor sends it.

* MQTT: ``--workers`` worker processes (``edgesight hub worker``) on one shared subscription; the
  publisher sends every message QoS 1 as fast as the broker takes them, and latency is measured
  from ``publish()`` to the ``down/ack`` whose ``stored_through`` covers the message (so it
  includes the commit and the ack's trip back: what a device sees).
* HTTP: one ``edgesight hub serve`` process; ``--http-clients`` threads POST batches of
  ``--batch`` envelopes; latency is the request's round trip (the response comes after the commit).

Loss check: every message's ``(device_id, seq)`` is in ``ingest_log`` and every frame is stored once.

    .venv/bin/python bench/hub_ingest_bench.py --messages 20000 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import create_engine, func, select, text

from edgesight.core.envelope import open_envelope
from edgesight.hub.fake_device import FakeDevice
from edgesight.hub.storage import Database, devices
from edgesight.hub.storage.tables import FrameRow, IngestLog

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"


@dataclass
class Result:
    transport: str
    backend: str
    messages: int
    seconds: float
    latencies_ms: list[float]
    stored: int
    frames: int

    def row(self) -> str:
        lat = sorted(self.latencies_ms) or [float("nan")]
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        rate = self.messages / self.seconds if self.seconds else 0.0
        lost = self.messages - self.stored
        return (f"| {self.transport:<5} | {self.backend:<10} | {self.messages:>8} | {self.seconds:>6.1f} | "
                f"{rate:>8.0f} | {p50:>7.1f} | {p99:>7.1f} | {lost:>4} | {self.frames - self.stored:>4} |")


BROKER_CONF = """listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
max_inflight_messages 0
"""


@contextmanager
def private_broker() -> Iterator[str]:
    """A Mosquitto of our own with unbounded per-client queues (the default, 1000, drops QoS 1
    messages of a burst that outruns the workers; devices would resend them, this bench does not)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "mosquitto.conf"
        conf.write_text(BROKER_CONF.format(port=port))
        proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if not wait_for(lambda: _port_open(port), 10):
                raise RuntimeError("private mosquitto did not start")
            yield f"127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(10)


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.sqlite3"
        return
    name = f"edgesight_bench_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def build(n_devices: int, n_messages: int) -> tuple[list[tuple[str, bytes, bytes]], dict[str, bytes]]:
    """Messages interleaved over the fleet: ``(device_id, secret, envelope)``; secrets are fixed."""
    fleet = [FakeDevice(f"bench-{i:03d}", secrets.token_bytes(32)) for i in range(n_devices)]
    out = [(d.device_id, d.secret, d.frames(1, 6)) for _ in range(n_messages // n_devices) for d in fleet]
    return out, {d.device_id: d.secret for d in fleet}


def enrol_fixed(url: str, fleet: dict[str, bytes]) -> dict[str, str]:
    """Enrol the fleet, then give each device its pre-built secret; returns the API tokens."""
    from sqlalchemy import update

    from edgesight.hub.storage.tables import Device

    db = Database(url)
    db.migrate()
    tokens = {}
    for device_id, secret in fleet.items():
        tokens[device_id] = devices.enrol(db, device_id, "bench").token
        with db.begin() as conn:
            conn.execute(update(Device).where(Device.id == device_id).values(secret=secret))
    db.close()
    return tokens


def counts(url: str) -> tuple[int, int]:
    db = Database(url)
    with db.begin() as conn:
        stored = int(conn.execute(select(func.count()).select_from(IngestLog)).scalar_one())
        frames = int(conn.execute(select(func.count()).select_from(FrameRow)).scalar_one())
    db.close()
    return stored, frames


def hub_process(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-c", "from edgesight.cli.hub import hub_app; hub_app()", *args]
    return subprocess.Popen(cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT, env={**os.environ, **env})


def wait_for(cond: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def run_mqtt(backend: str, msgs: list[tuple[str, bytes, bytes]], fleet: dict[str, bytes], opts: argparse.Namespace) -> Result:
    with database(backend) as url, tempfile.TemporaryDirectory() as tmp:
        enrol_fixed(url, fleet)
        group = f"bench{secrets.token_hex(3)}"
        log = Path(tmp) / "workers.log"
        procs = [hub_process(["worker", "--db", url, "--mqtt", opts.mqtt, "--client-id", f"{group}-{i}",
                              "--share-group", group, "--batch", str(opts.batch)], log,
                             {"EDGESIGHT_HUB_DATA_DIR": tmp, "EDGESIGHT_HUB_MQTT_SESSION_EXPIRY_S": "60"})
                 for i in range(opts.workers)]  # fmt: skip
        if not wait_for(lambda: log.exists() and log.read_text().count("subscribed") >= opts.workers, 60):
            raise RuntimeError(f"workers did not start:\n{log.read_text()}")
        host, port = opts.mqtt.rsplit(":", 1)
        sent_at: dict[tuple[str, int], float] = {}
        latencies: list[float] = []
        marks = dict.fromkeys(fleet, 0)
        lock = threading.Lock()

        def on_ack(_c: object, _u: object, m: mqtt.MQTTMessage) -> None:
            now = time.perf_counter()
            device_id = m.topic.split("/")[3]
            if device_id not in fleet:  # another hub's device on the same broker
                return
            env = open_envelope(bytes(m.payload), lambda d: fleet[d])
            through = json.loads(env.payload)["stored_through"]
            with lock:
                for seq in range(marks[env.device_id] + 1, through + 1):
                    latencies.append((now - sent_at[(env.device_id, seq)]) * 1000)
                marks[env.device_id] = max(marks[env.device_id], through)

        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{group}-pub", protocol=mqtt.MQTTv5)
        client.max_inflight_messages_set(2000)
        client.max_queued_messages_set(0)
        client.on_message = on_ack
        client.connect(host, int(port))
        client.subscribe("edgesight/v1/d/+/down/ack", qos=1)
        client.loop_start()
        time.sleep(0.5)
        expected = {d: 0 for d in fleet}
        for device_id, _secret, _raw in msgs:
            expected[device_id] += 1
        t0 = time.perf_counter()
        for i, (device_id, _secret, raw) in enumerate(msgs):
            if opts.rate and i % 50 == 0:  # paced: sustained load below saturation
                ahead = t0 + i / opts.rate - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
            seq = struct.unpack_from(">Q", raw, 8 + len(device_id))[0]
            sent_at[(device_id, seq)] = time.perf_counter()
            client.publish(f"edgesight/v1/d/{device_id}/up", raw, qos=1)
        progress = [sum(marks.values()), time.monotonic()]

        def done_or_stalled() -> bool:
            total = sum(marks.values())
            if total != progress[0]:
                progress[:] = [total, time.monotonic()]
            return total >= len(msgs) or time.monotonic() - progress[1] > opts.stall_s

        wait_for(done_or_stalled, opts.timeout)
        seconds = time.perf_counter() - t0
        client.disconnect()
        client.loop_stop()
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        stored, frames = counts(url)
        return Result("mqtt", backend, len(msgs), seconds, latencies, stored, frames)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_http(backend: str, msgs: list[tuple[str, bytes, bytes]], fleet: dict[str, bytes], opts: argparse.Namespace) -> Result:
    with database(backend) as url, tempfile.TemporaryDirectory() as tmp:
        tokens = enrol_fixed(url, fleet)
        port = free_port()
        log = Path(tmp) / "serve.log"
        proc = hub_process(["serve", "--db", url, "--mqtt", "off", "--port", str(port)], log,
                           {"EDGESIGHT_HUB_DATA_DIR": tmp, "EDGESIGHT_HUB_ADMIN_TOKEN": ADMIN_TOKEN})  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        if not wait_for(lambda: _healthy(base), 60):
            raise RuntimeError(f"hub did not start:\n{log.read_text()}")
        per_device: dict[str, list[bytes]] = {d: [] for d in fleet}
        for device_id, _secret, raw in msgs:
            per_device[device_id].append(raw)
        jobs = [(d, raws[i : i + opts.batch]) for d, raws in per_device.items() for i in range(0, len(raws), opts.batch)]
        jobs.sort(key=lambda j: struct.unpack_from(">Q", j[1][0], 8 + len(j[0]))[0])  # oldest seqs first
        latencies: list[float] = []
        lock = threading.Lock()
        device_locks = {d: threading.Lock() for d in fleet}

        def post(job: tuple[str, list[bytes]]) -> None:
            device_id, raws = job
            body = b"".join(struct.pack(">I", len(r)) + r for r in raws)
            with device_locks[device_id], httpx.Client(timeout=60) as http:
                t = time.perf_counter()
                r = http.post(f"{base}/api/v1/ingest", content=body,
                              headers={"Authorization": f"Bearer {device_id}:{tokens[device_id]}"})  # fmt: skip
                dt = (time.perf_counter() - t) * 1000
            r.raise_for_status()
            with lock:
                latencies.extend([dt] * len(raws))

        t0 = time.perf_counter()
        with ThreadPoolExecutor(opts.http_clients) as pool:
            list(pool.map(post, jobs))
        seconds = time.perf_counter() - t0
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        stored, frames = counts(url)
        return Result("http", backend, len(msgs), seconds, latencies, stored, frames)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def _given(broker: str) -> Iterator[str]:
    yield broker


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--devices", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--http-clients", type=int, default=4)
    ap.add_argument("--mqtt", default="private", help="broker HOST:PORT, or 'private' (start our own)")
    ap.add_argument("--stall-s", type=float, default=15.0, help="give up after this long without progress")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--transports", default="mqtt,http")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--rate", type=float, default=0.0, help="MQTT publish rate, msg/s (0: as fast as possible)")
    opts = ap.parse_args()
    t = time.perf_counter()
    msgs, fleet = build(opts.devices, opts.messages)
    print(f"built {len(msgs)} messages ({len(msgs[0][2])} bytes each) in {time.perf_counter() - t:.1f} s; "
          f"{os.cpu_count()} CPUs, {opts.workers} MQTT workers, batches of {opts.batch}")
    results = []
    with private_broker() if opts.mqtt == "private" else _given(opts.mqtt) as broker:
        opts.mqtt = broker
        for transport in opts.transports.split(","):
            for backend in opts.backends.split(","):
                run = run_mqtt if transport == "mqtt" else run_http
                results.append(run(backend, msgs, fleet, opts))
                print(results[-1].row(), flush=True)  # progress
    print(f"\nMQTT publish rate: {opts.rate or 'unpaced (burst)'}")
    print("| via   | database   | messages |      s |    msg/s | p50 ms  | p99 ms  | lost | dups |")
    print("|-------|------------|----------|--------|----------|---------|---------|------|------|")
    for r in results:
        print(r.row())


if __name__ == "__main__":
    main()
