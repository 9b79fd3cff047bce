"""A real hub process (``edgesight hub serve``) and a device feeding it over HTTP, for the browser tests."""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from edgesight.core.events import EventType
from edgesight.core.frame import ModelRef
from edgesight.core.wire import Heartbeat, ModelReport, ModelState, ModelTarget, ReportedTwin, join_envelopes
from edgesight.testing import FakeDevice
from modelkit import new_key, package

ADMIN_TOKEN = "console-admin-token-0123456789abcdef"
WAIT_MS = 30_000  # generous: the machine is shared; nothing here measures speed
CLI = [sys.executable, "-c", "from edgesight.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def add_user(data_dir: Path, name: str, role: str) -> str:
    """``edgesight hub user add``; returns the password it prints."""
    out = subprocess.run([*CLI, "hub", "user", "add", name, "--role", role, "--data-dir", str(data_dir)],
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    found = re.search(r"password: (\S+)", out)
    assert found, out
    return found.group(1)


@dataclass
class HubProcess:
    """``edgesight hub serve`` on SQLite in ``data_dir``, MQTT off, on a free port."""

    data_dir: Path
    mqtt: str = "off"
    env: dict[str, str] = field(default_factory=dict)
    """More environment for the hub (its settings: ``EDGESIGHT_HUB_*``)."""
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "EDGESIGHT_HUB_ADMIN_TOKEN": ADMIN_TOKEN, **self.env}
        self.proc = subprocess.Popen(
            [*CLI, "hub", "serve", "--mqtt", self.mqtt, "--data-dir", str(self.data_dir), "--port", str(self.port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not port_open(self.port):
            assert self.proc.poll() is None, "the hub exited at start"
            assert time.monotonic() < deadline, "the hub did not open its port in 60 s"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def admin(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=10, **kw)


class StreamingDevice(threading.Thread):
    """An enrolled device sending heartbeats, ``door`` crossings and ``till`` zone counts every ``period_s``."""

    def __init__(self, hub: HubProcess, device_id: str, site: str, period_s: float = 0.4) -> None:
        super().__init__(daemon=True, name=f"device-{device_id}")
        r = hub.admin("POST", "/api/v1/devices", json={"device_id": device_id, "site": site})
        assert r.status_code == 201, r.text
        creds = r.json()
        self.device = FakeDevice(device_id, base64.b64decode(creds["secret"]))
        self.auth = {"Authorization": f"Bearer {device_id}:{creds['token']}",
                     "Content-Type": "application/octet-stream"}  # fmt: skip
        self.url = hub.url + "/api/v1/ingest"
        self.period_s = period_s
        self.sent = 0
        self.stopped = threading.Event()
        self.lock = threading.Lock()  # the device's sequence numbers are taken one message at a time

    def run(self) -> None:
        d = self.device
        with httpx.Client(timeout=10) as client:
            while not self.stopped.is_set():
                self.sent += 1
                inward = self.sent % 3 != 0
                events = [d.event(EventType.LINE_CROSSING, "door", class_name="person", track_ids=(self.sent,),
                                  direction="in" if inward else "out", status="CrossRight" if inward else "CrossLeft",
                                  crossed_frame_index=d.frame_index, point=[0.5, 0.5]),
                          d.event(EventType.ZONE_COUNT, "till", trigger="interval", count=self.sent % 5,
                                  counts_by_class={"person": self.sent % 5})]  # fmt: skip
                heartbeat = d.send(Heartbeat(fps=9.6, dnn_ms=38.5, model=ModelRef("nanodet-coco-int8", "1.2.0"),
                                             uptime_s=float(self.sent), outbox_pending=0))  # fmt: skip
                with self.lock:
                    body = join_envelopes([d.events(events), heartbeat])
                    r = client.post(self.url, content=body, headers=self.auth)
                assert r.status_code == 200, r.text
                self.stopped.wait(self.period_s)

    def report_twin(self, version: int, analytics: dict[str, Any]) -> None:
        """Report the desired twin ``version`` applied, as the agent does after applying it."""
        self.post(lambda d: [d.send(ReportedTwin(version, {"analytics": analytics}))])

    def post(self, messages: Callable[[FakeDevice], list[bytes]]) -> None:
        """Send the envelopes ``messages(device)`` makes, between two of the stream's own messages."""
        with self.lock:
            body = join_envelopes(messages(self.device))
            r = httpx.post(self.url, content=body, headers=self.auth, timeout=10)
        assert r.status_code == 200 and all(o["status"] == "stored" for o in r.json()["outcomes"]), r.text

    def stop(self) -> None:
        self.stopped.set()
        self.join(10)


def screenshot_dir(tmp: Path) -> Path:
    """Where the browser tests save their screenshots: ``docs/`` when ``EDGESIGHT_SCREENSHOTS=docs``
    (to refresh the README's pictures), else a temporary folder, so a test run leaves the tree clean."""
    return REPO_DOCS if os.environ.get("EDGESIGHT_SCREENSHOTS") == "docs" else tmp


REPO_DOCS = Path(__file__).resolve().parents[2] / "docs"


def sign_in(page: Page, hub: HubProcess, name: str, password: str) -> Page:
    """Sign ``page`` in through the login form; returns it once the header names the user."""
    page.goto(hub.url + "/")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    expect(page.locator("#who")).to_contain_text(name, timeout=WAIT_MS)
    return page


def tagged_fleet_hub(data_dir: Path, packages_dir: Path) -> HubProcess:
    """A started hub trusting a model-signing key made here, with model 2.0.0 signed by it in its
    registry, a viewer ``vera`` (``hub.passwords``) and three enrolled devices (``hub.devices``,
    not streaming): cam-a and cam-b at store-1 tagged lobby, cam-c at store-2 tagged dock."""
    key, key_text = new_key()
    hub = HubProcess(data_dir, env={"EDGESIGHT_HUB_TRUSTED_MODEL_KEYS": key_text})
    hub.passwords = {"vera": add_user(data_dir, "vera", "viewer")}  # type: ignore[attr-defined]
    hub.start()
    hub.devices = {}  # type: ignore[attr-defined]
    for device_id, site, tags in [("cam-a", "store-1", ["lobby"]), ("cam-b", "store-1", ["lobby"]),
                                  ("cam-c", "store-2", ["dock"])]:  # fmt: skip
        hub.devices[device_id] = StreamingDevice(hub, device_id, site)  # type: ignore[attr-defined]
        assert hub.admin("PUT", f"/api/v1/devices/{device_id}/tags", json={"tags": tags}).status_code == 200
    signed = package(packages_dir, "2.0.0", key)
    assert hub.admin("POST", "/api/v1/models", content=signed.read_bytes()).status_code == 201
    return hub


def report_model_state(hub: HubProcess, device_id: str, state: ModelState, **extra: Any) -> None:
    """The device reports ``state`` for its target model, as the agent does (a signed reported twin)."""
    twin = hub.admin("GET", f"/api/v1/devices/{device_id}/twin").json()
    report = ModelReport(state, ("nanodet", "1.0.0"), ModelTarget.from_dict(twin["desired"]["model"]), **extra)
    device: StreamingDevice = hub.devices[device_id]  # type: ignore[attr-defined]
    device.post(lambda d: [d.send(ReportedTwin(twin["desired_version"], {"model": report.to_dict()}))])
