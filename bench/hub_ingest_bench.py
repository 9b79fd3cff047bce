"""Hub ingest benchmark: sustained detection-frame messages via MQTT and HTTP into SQLite and PostgreSQL.

Each message is one FRAMES envelope holding ``--fpe`` frames (1, 10, 30: the device-side batching
of the IMX500's ``NumberOfInferencesPerMessage``) of 6 tracked people walking a few pixels per
frame, as a sensor sends them. Throughput is reported both in envelopes/s and in frame records/s.

* MQTT: ``--workers`` worker processes (``edgesight hub worker``) on one shared subscription; the
  publisher sends every message QoS 1 as fast as the broker takes them, and latency is measured
  from ``publish()`` to the ``down/ack`` whose ``stored_through`` covers the message (so it
  includes the commit and the ack's trip back: what a device sees).
* HTTP: one ``edgesight hub serve`` process; ``--http-clients`` threads POST batches of
  ``--batch`` envelopes; latency is the request's round trip (the response comes after the commit).

Loss check: every message's ``(device_id, seq)`` is in ``ingest_log`` and every frame is stored
once (``lost`` counts missing envelopes, ``dups`` extra frame rows).

    .venv/bin/python bench/hub_ingest_bench.py                       # 12 runs, about 4 min
    .venv/bin/python bench/hub_ingest_bench.py --fpe 30 --transports mqtt --backends postgresql --rate 20000
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

from edgesight.core.wire import join_envelopes, open_envelope
from edgesight.hub.storage import Database, devices
from edgesight.hub.storage.tables import FrameRow, IngestLog
from edgesight.testing import FakeDevice

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"


@dataclass
class Result:
    transport: str
    backend: str
    fpe: int
    messages: int
    seconds: float
    latencies_ms: list[float]
    stored: int
    frames: int
    hub_cpu_s: float
    """CPU time of the hub processes (workers or API server) during the run."""

    HEADER = (
        "| via  | database   | frames/env | envelopes | frames |     s |  env/s | frames/s | p50 ms | p99 ms "
        "| lost | dups | hub CPU s | frames/s per hub core |\n"
        "|------|------------|-----------:|----------:|-------:|------:|-------:|---------:|"
        "-------:|-------:|-----:|-----:|----------:|----------------------:|"
    )

    def row(self) -> str:
        lat = sorted(self.latencies_ms) or [float("nan")]
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        rate = self.messages / self.seconds if self.seconds else 0.0
        lost = self.messages - self.stored
        dups = self.frames - self.stored * self.fpe
        return (
            f"| {self.transport:<4} | {self.backend:<10} | {self.fpe:>10} | {self.messages:>9,} | "
            f"{self.messages * self.fpe:>6,} | {self.seconds:>5.1f} | {rate:>6,.0f} | {rate * self.fpe:>8,.0f} | "
            f"{p50:>6,.0f} | {p99:>6,.0f} | {lost:>4} | {dups:>4} | {self.hub_cpu_s:>9.1f} | "
            f"{self.messages * self.fpe / max(self.hub_cpu_s, 1e-9):>21,.0f} |"
        )


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
        proc = subprocess.Popen(
            ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
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


def build(
    n_devices: int, n_messages: int, fpe: int
) -> tuple[list[tuple[str, bytes, bytes]], dict[str, bytes]]:
    """Messages of ``fpe`` frames interleaved over the fleet: ``(device_id, secret, envelope)``."""
    fleet = [FakeDevice(f"bench-{i:03d}", secrets.token_bytes(32)) for i in range(n_devices)]
    out = [
        (d.device_id, d.secret, d.frames(fpe, 6))
        for _ in range(max(1, n_messages // n_devices))
        for d in fleet
    ]
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


def cpu_s(procs: list[subprocess.Popen[bytes]]) -> float:
    """User + system CPU seconds of running processes (from /proc)."""
    total = 0.0
    for p in procs:
        fields = Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


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


def run_mqtt(backend: str, fpe: int, msgs: list[tuple[str, bytes, bytes]], fleet: dict[str, bytes],
             opts: argparse.Namespace) -> Result:  # fmt: skip
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
        cpu0 = cpu_s(procs)
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
            if opts.rate and i % 10 == 0:  # paced (frames/s): sustained load below saturation
                ahead = t0 + i * fpe / opts.rate - time.perf_counter()
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
        hub_cpu = cpu_s(procs) - cpu0
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
        return Result("mqtt", backend, fpe, len(msgs), seconds, latencies, stored, frames, hub_cpu)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_http(backend: str, fpe: int, msgs: list[tuple[str, bytes, bytes]], fleet: dict[str, bytes],
             opts: argparse.Namespace) -> Result:  # fmt: skip
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
        jobs = [
            (d, raws[i : i + opts.batch])
            for d, raws in per_device.items()
            for i in range(0, len(raws), opts.batch)
        ]
        jobs.sort(key=lambda j: struct.unpack_from(">Q", j[1][0], 8 + len(j[0]))[0])  # oldest seqs first
        latencies: list[float] = []
        lock = threading.Lock()
        device_locks = {d: threading.Lock() for d in fleet}

        def post(job: tuple[str, list[bytes]]) -> None:
            device_id, raws = job
            body = join_envelopes(raws)
            with device_locks[device_id], httpx.Client(timeout=60) as http:
                t = time.perf_counter()
                r = http.post(f"{base}/api/v1/ingest", content=body,
                              headers={"Authorization": f"Bearer {device_id}:{tokens[device_id]}"})  # fmt: skip
                dt = (time.perf_counter() - t) * 1000
            r.raise_for_status()
            with lock:
                latencies.extend([dt] * len(raws))

        cpu0 = cpu_s([proc])
        t0 = time.perf_counter()
        with ThreadPoolExecutor(opts.http_clients) as pool:
            list(pool.map(post, jobs))
        seconds = time.perf_counter() - t0
        hub_cpu = cpu_s([proc]) - cpu0
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        stored, frames = counts(url)
        return Result("http", backend, fpe, len(msgs), seconds, latencies, stored, frames, hub_cpu)


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
    ap.add_argument("--frames", type=int, default=60_000, help="frame records per run")
    ap.add_argument("--max-envelopes", type=int, default=12_000, help="at most this many envelopes per run")
    ap.add_argument("--fpe", default="1,10,30", help="frames per envelope, one run each")
    ap.add_argument("--devices", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--http-clients", type=int, default=4)
    ap.add_argument("--mqtt", default="private", help="broker HOST:PORT, or 'private' (start our own)")
    ap.add_argument("--stall-s", type=float, default=15.0, help="give up after this long without progress")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--transports", default="mqtt,http")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--rate", type=float, default=0.0,
                    help="MQTT publish rate in frame records/s (0: as fast as possible)")  # fmt: skip
    opts = ap.parse_args()
    t_start = time.perf_counter()
    sets = {}
    for fpe in (int(v) for v in opts.fpe.split(",")):
        t = time.perf_counter()
        sets[fpe] = build(opts.devices, min(opts.max_envelopes, opts.frames // fpe), fpe)
        msgs = sets[fpe][0]
        print(f"built {len(msgs)} envelopes of {fpe} frames ({len(msgs[0][2])} bytes each) in "
              f"{time.perf_counter() - t:.1f} s")  # fmt: skip
    print(f"{os.cpu_count()} CPUs, {opts.workers} MQTT workers, batches of {opts.batch}, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    results = []
    with private_broker() if opts.mqtt == "private" else _given(opts.mqtt) as broker:
        opts.mqtt = broker
        for transport in opts.transports.split(","):
            for backend in opts.backends.split(","):
                for fpe, (msgs, fleet) in sets.items():
                    run = run_mqtt if transport == "mqtt" else run_http
                    results.append(run(backend, fpe, msgs, fleet, opts))
                    print(results[-1].row(), flush=True)  # progress
    print(
        f"\nMQTT publish rate: {f'{opts.rate:,.0f} frames/s' if opts.rate else 'unpaced (burst)'}; "
        f"total {time.perf_counter() - t_start:.0f} s, load average {os.getloadavg()[0]:.1f}"
    )
    print(Result.HEADER)
    for r in results:
        print(r.row())


if __name__ == "__main__":
    main()
