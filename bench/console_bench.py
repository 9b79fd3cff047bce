"""Web console bench: a hub seeded with 200 devices and a day of events, its pages' API latency and load time.

1. Seed (``bench/console_seed.py``): 200 devices with health and twins, one day of events each
   and their per-minute aggregates, written by the hub's own ingest store; SQLite by default,
   PostgreSQL with ``--db postgresql+psycopg://...`` (a fresh database is created and dropped).
2. ``edgesight hub serve`` on it (one process, MQTT off), signed in as the admin through the form.
3. API: every console call the fleet and device pages make (and the insights page), interleaved,
   ``--requests`` each, on random devices; wall-clock p50/p95 and the hub process's CPU time per
   request (which holds when other jobs share the machine).
4. Page load in Debian's chromium (Playwright): from navigation to a usable page: the fleet table
   with all 200 rows, the device page with its counts (from its live stream) and its chart.

    .venv/bin/python bench/console_bench.py                         # SQLite, about 3 min
    .venv/bin/python bench/console_bench.py --db postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from _common import machine_description, table
from console_seed import SeedPlan, seed
from edgesight.hub.storage import Database

ADMIN_TOKEN = "console-bench-admin-token-0123456789"
CLI = [sys.executable, "-c", "from edgesight.cli import main; main()"]
CHROMIUM = "/usr/bin/chromium"
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@contextmanager
def database(url: str | None, tmp: Path) -> Iterator[str]:
    """The URL to seed: SQLite in ``tmp``, or a fresh database on the PostgreSQL server of ``url``."""
    if url is None:
        yield f"sqlite:///{tmp / 'hub.sqlite3'}"
        return
    name = f"console_bench_{os.getpid()}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@contextmanager
def hub_process(url: str, data_dir: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {**os.environ, "EDGESIGHT_HUB_ADMIN_TOKEN": ADMIN_TOKEN}
    proc = subprocess.Popen([*CLI, "hub", "serve", "--db", url, "--data-dir", str(data_dir), "--mqtt", "off",
                             "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(base + "/health", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the hub did not start") from None
                time.sleep(0.2)
        yield base, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def sign_in(client: httpx.Client) -> None:
    r = client.post("/console/login", data={"name": "admin", "password": ADMIN_TOKEN})
    assert (r.status_code, r.headers["location"]) == (303, "/"), r.headers
    assert client.get("/console/api/me").json()["role"] == "admin"


def first_sse(path: str, event: str) -> Callable[[httpx.Client, str], object]:
    """Open a live stream and read until its first ``event`` (what the page waits for)."""

    def run(client: httpx.Client, device: str) -> object:
        with client.stream("GET", path.format(device=device)) as r:
            r.raise_for_status()
            for line in r.iter_lines():
                if line == f"event: {event}":
                    return None
        raise RuntimeError(f"{path} ended before its first {event}")

    return run


@dataclass
class Call:
    page: str
    name: str
    run: Callable[[httpx.Client, str], object]
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: float = 0.0
    """The hub process's CPU time per request, mean of a run of them."""


def get(path: str) -> Callable[[httpx.Client, str], object]:
    def run(client: httpx.Client, device: str) -> object:
        r = client.get(path.format(device=device))
        r.raise_for_status()
        return r.content

    return run


CALLS = [
    Call("fleet", "GET /console/api/fleet", get("/console/api/fleet")),
    Call("fleet", "live stream: first fleet", first_sse("/console/api/fleet/live", "fleet")),
    Call("device", "GET /console/api/devices/ID", get("/console/api/devices/{device}")),
    Call("device", "GET .../series?bucket=hour&span_h=24", get("/console/api/devices/{device}/series?bucket=hour&span_h=24")),
    Call("device", "GET .../panels", get("/console/api/devices/{device}/panels")),
    Call("device", "live stream: first counts", first_sse("/console/api/devices/{device}/live", "counts")),
    Call("alerts", "GET /console/api/rules", get("/console/api/rules")),
    Call("alerts", "GET /console/api/alerts?limit=100", get("/console/api/alerts?limit=100")),
    Call("insights", "GET /console/api/insights/staffing", get("/console/api/insights/staffing")),
    Call("insights", "GET /console/api/insights/restock", get("/console/api/insights/restock")),
]  # fmt: skip


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))] if s else float("nan")


def measure_api(base: str, pid: int, devices: list[str], requests: int, rng: random.Random) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        sign_in(client)
        for call in CALLS:  # warm-up: imports, caches, the database's pages
            for _ in range(3):
                call.run(client, rng.choice(devices))
        for _ in range(requests):
            for call in CALLS:  # interleaved: drift from other jobs hits every call alike
                device = rng.choice(devices)
                t0 = time.perf_counter()
                call.run(client, device)
                call.wall_ms.append((time.perf_counter() - t0) * 1e3)
        for call in CALLS:  # CPU time: the kernel counts in 10 ms ticks, so over a run of requests
            c0 = cpu_s(pid)
            for _ in range(requests):
                call.run(client, rng.choice(devices))
            call.cpu_ms = (cpu_s(pid) - c0) * 1e3 / requests


def measure_pages(base: str, devices: list[str], loads: int, rng: random.Random) -> dict[str, list[float]]:
    """Milliseconds from navigation to a usable page, in a fresh tab each time (the session reused)."""
    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {"fleet: table with all rows": [], "device: counts, chart and panels shown": [],
                                   "alerts: rules and fired alerts": [], "insights: stores and restock list": []}  # fmt: skip

    def timed(key: str, url: str, *selectors: str) -> None:
        page = context.new_page()
        t0 = time.perf_counter()
        page.goto(url)
        for selector in selectors:
            page.wait_for_selector(selector, timeout=60_000)
        if i:
            out[key].append((time.perf_counter() - t0) * 1e3)
        page.close()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(base + "/")
        page.fill("input[name=name]", "admin")
        page.fill("input[name=password]", ADMIN_TOKEN)
        page.click("button[type=submit]")
        page.wait_for_selector("#fleet tbody tr", timeout=60_000)
        page.close()
        for i in range(loads + 1):  # the first of each is a warm-up
            page = context.new_page()
            t0 = time.perf_counter()
            page.goto(base + "/#/")
            n = len(devices)  # the page's CSP forbids eval: wait on the text the page writes after rendering
            page.wait_for_selector(f"#fleet-count:has-text('{n} of {n} devices')", timeout=60_000)
            if i:
                out["fleet: table with all rows"].append((time.perf_counter() - t0) * 1e3)
            page.close()
            timed("device: counts, chart and panels shown", f"{base}/#/device/{rng.choice(devices)}", ".count b",
                  "#chart svg", "#hazards p")  # fmt: skip
            timed("alerts: rules and fired alerts", f"{base}/#/alerts", "#rules tbody tr", "#alerts tbody tr")
            timed("insights: stores and restock list", f"{base}/#/insights", ".store svg", "#restock tbody tr")
        browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", help="a PostgreSQL server URL (a fresh database is made on it); default SQLite")
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--requests", type=int, default=40, help="requests per API call")
    ap.add_argument("--page-loads", type=int, default=10)
    ap.add_argument("--reuse", type=Path, help="SQLite file: seeded if missing, else measured as it is (faster reruns)")
    args = ap.parse_args()
    rng = random.Random(7)
    print(table(["machine", ""], machine_description()), flush=True)
    with tempfile.TemporaryDirectory(prefix="console-bench-") as tmp_name, database(args.db, Path(tmp_name)) as url:
        tmp = Path(tmp_name)
        reused = args.reuse is not None and args.reuse.exists()
        if args.reuse is not None:
            url = f"sqlite:///{args.reuse.resolve()}"
        db = Database(url)
        db.migrate()
        c0 = time.process_time()
        if not reused:
            seeded = seed(db, SeedPlan(devices=args.devices, hours=args.hours))
            print(f"\nseeded {seeded['devices']} devices, {seeded['events']:,} events ({args.hours} h), "
                  f"{seeded['alerts']:,} alerts in {seeded['seconds']:.0f} s ({time.process_time() - c0:.0f} s CPU) "
                  f"into {make_url(url).get_backend_name()}", flush=True)  # fmt: skip
        db.close()
        ids = [f"cam-{i:03d}" for i in range(args.devices)]
        with hub_process(url, tmp) as (base, pid):
            measure_api(base, pid, ids, args.requests, rng)
            rows = [(c.page, c.name, len(c.wall_ms), statistics.median(c.wall_ms), pct(c.wall_ms, 0.95), c.cpu_ms)
                    for c in CALLS]  # fmt: skip
            print("\n" + table(["page", "API call", "n", "p50 ms", "p95 ms", "hub CPU ms / request"], rows))
            loads = measure_pages(base, ids, args.page_loads, rng)
            print("\n" + table(["page", "n", "p50 ms", "p95 ms", "max ms"],
                               [(k, len(v), statistics.median(v), pct(v, 0.95), max(v)) for k, v in loads.items()]))  # fmt: skip
        print(f"\nload average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
