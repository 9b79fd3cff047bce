"""Fleet rollout end to end: a real hub (``edgesight hub serve``: API + MQTT worker, PostgreSQL),
a real Mosquitto and three real agents sensing a vtest.avi clip with a zoo network.

* canary then all: the canary swaps models without restarting, runs healthy for the window, then
  the other two get the model; every device ends on it and the deployment is ``completed``;
* a signed model whose network does not load rolls back on its canary, the deployment halts,
  the other two are untouched (never sent it, still on their model); then a model past the fps
  limit is swapped in and swapped back out on its own;
* security: a tampered (manifest recomputed), unsigned, untrusted-key or downgraded package is
  refused by the device naming the check, the running model keeps running, and the refusal
  appears in the deployment status and the reported twin through the API; a refused package is
  still refused after the agent restarts, said again without being downloaded;
* clearing ``config.model`` in the desired twin swaps the device back to its config file's model;
* a canary that never reports (enrolled, no agent) times out on the hub's tick and halts the
  deployment, named in ``rollout status``.

Health windows are a second or two, so the whole module takes tens of seconds, not minutes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from fakehub import PrivateBroker, free_port, port_open, wait_until
from hubs import pg_database, pg_up
from typer.testing import CliRunner

from edgesight.agent.credentials import Credentials, parse_credentials
from edgesight.agent.feeds import SensorFeed
from edgesight.agent.runner import Agent, AgentSettings
from edgesight.agent.uplink import UplinkSettings
from edgesight.core.config import DeviceConfig
from edgesight.core.wire import ModelReport, ModelState, ModelTarget
from edgesight.hub.storage import Database, devices, models
from edgesight.sensor.zoo import load_model
from modelkit import BASE, BASE_VERSION, MODEL_ID, new_key, package, tampered
from support import VTEST, need

pytestmark = pytest.mark.slow

ADMIN = "rollout-admin-token-0123456789abcdef"
CLI = [sys.executable, "-c", "from edgesight.cli import main; main()"]
FAST = UplinkSettings(window=16, ack_timeout_s=1.0, max_ack_timeout_s=4.0, reconnect_min_s=1, reconnect_max_s=2)
WAIT_S = 120.0  # generous: the shared 2-core machine runs other helpers' tests too


@dataclass
class Hub:
    url: str
    db: Database
    broker_port: int
    vendor: Any
    vendor_text: str
    other: Any
    packages: Path

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        r = httpx.request(method, self.url + path, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60, **kwargs)
        assert r.status_code < 300, (method, path, r.status_code, r.text)
        return r.json()

    def cli(self, *args: str, exit_code: int = 0) -> str:
        """``edgesight model ...`` in this process (a new interpreter takes seconds to start here)."""
        result = CliRunner().invoke(cli_app(), ["model", *args, "--hub", self.url, "--token", ADMIN],
                                    env={"COLUMNS": "200"})
        assert result.exit_code == exit_code, (result.output, result.exception)
        return result.output

    def enrol(self, device_id: str, tags: tuple[str, ...] = ()) -> Credentials:
        e = devices.enrol(self.db, device_id, "rollout-site", tags)
        return parse_credentials({"device_id": e.device_id, "secret": base64.b64encode(e.secret).decode(),
                                  "token": e.token, "broker": f"127.0.0.1:{self.broker_port}",
                                  "hub_url": self.url})  # fmt: skip

    def deployment(self, deployment_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.api("GET", f"/api/v1/deployments/{deployment_id}")
        return found

    def wait_status(self, deployment_id: str, wanted: str) -> dict[str, Any]:
        assert wait_until(lambda: self.deployment(deployment_id)["status"] in (wanted, "halted", "completed"),
                          WAIT_S, 0.2), self.deployment(deployment_id)  # fmt: skip
        info = self.deployment(deployment_id)
        assert info["status"] == wanted, info
        return info


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """vtest.avi played three times (~2400 frames, copied, not re-encoded): the agents outlive every scenario."""
    need(VTEST.is_file(), f"{VTEST} is missing: run `make data`")
    out = tmp_path_factory.mktemp("clip") / "vtest-x3.avi"
    subprocess.run(["ffmpeg", "-v", "error", "-stream_loop", "2", "-i", str(VTEST), "-c", "copy", str(out)],
                   check=True)  # fmt: skip
    return out


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    need(pg_up(), "PostgreSQL is not running on 127.0.0.1:5432")
    need(PrivateBroker.binary() is not None, "the mosquitto binary is not installed")
    folder = tmp_path_factory.mktemp("rollout-hub")
    vendor, vendor_text = new_key()
    other, other_text = new_key()
    with PrivateBroker(folder / "broker") as broker, pg_database() as url:
        port = free_port()
        env = {**os.environ, "EDGESIGHT_HUB_ADMIN_TOKEN": ADMIN,
               # the hub trusts both keys; the devices only the vendor's (the untrusted-key case)
               "EDGESIGHT_HUB_TRUSTED_MODEL_KEYS": f"{vendor_text},{other_text}",
               "EDGESIGHT_HUB_MQTT_CLIENT_ID": f"hub-rollout-{uuid.uuid4().hex[:6]}",
               "EDGESIGHT_HUB_ROLLOUT_CHECK_S": "0.5"}  # fmt: skip
        proc = subprocess.Popen(
            [*CLI, "hub", "serve", "--db", url, "--data-dir", str(folder), "--mqtt", f"127.0.0.1:{broker.port}",
             "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=(folder / "hub.log").open("wb"),
        )  # fmt: skip
        db = Database(url)
        try:
            assert wait_until(lambda: port_open("127.0.0.1", port) or proc.poll() is not None, 60), "hub did not start"
            assert proc.poll() is None, (folder / "hub.log").read_text()
            yield Hub(f"http://127.0.0.1:{port}", db, broker.port, vendor, vendor_text, other, folder / "packages")
        finally:
            proc.terminate()
            proc.wait(30)
            db.close()


class Fleet:
    """Agents in threads, each sensing the clip with the base network through a real SensorFeed."""

    def __init__(self, hub: Hub, clip: Path, tmp_path: Path, names: list[str], tags: tuple[str, ...]) -> None:
        self.agents: dict[str, Agent] = {}
        self.downloads: dict[str, list[str]] = {}
        """Per agent, the targets (id@version) its rollout downloaded (since its last restart)."""
        self.threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []
        self._stack: list[SensorFeed] = []
        base = load_model(BASE)
        tag = uuid.uuid4().hex[:6]
        for name in names:
            device_id = f"{name}-{tag}"
            folder = tmp_path / device_id
            folder.mkdir()
            (folder / "accepted.json").write_text(json.dumps({MODEL_ID: "1.5.0"}))  # accepted earlier
            config = DeviceConfig.model_validate({
                "device_id": device_id,
                "sensor": {"source": str(clip), "model": BASE},
                "analytics": {"tracking": {"enabled": False}},
                "model_trust": {"trusted_keys": [hub.vendor_text], "accepted_versions": str(folder / "accepted.json")},
            })  # fmt: skip
            creds = hub.enrol(device_id, tags)
            feed = SensorFeed(config, base).__enter__()
            self._stack.append(feed)
            settings = AgentSettings(folder, batch_frames=10, heartbeat_s=0.5, drain_timeout_s=2.0, uplink=FAST)
            self.agents[name] = self._counted(name, Agent(config, creds, feed, settings))

    def _counted(self, name: str, agent: Agent) -> Agent:
        rollout = agent.rollout
        assert rollout is not None
        fetch, self.downloads[name] = rollout.fetch, []

        def counting(target: ModelTarget, folder: Path) -> Path:
            self.downloads[name].append(target.name)
            return fetch(target, folder)

        rollout.fetch = counting
        return agent

    def restart(self, name: str) -> Agent:
        """Stop one agent and start it again on the same data dir (twin, outbox, refused models) with
        a new sensor feed on the config file's model, as a device restart does."""
        old = self.agents[name]
        index = list(self.agents).index(name)
        old.stop()
        self.threads[index].join(30)
        assert not self.threads[index].is_alive()
        feed = SensorFeed(old.config, load_model(BASE)).__enter__()
        self._stack.append(feed)
        agent = self.agents[name] = self._counted(name, Agent(old.config, old.credentials, feed, old.settings))
        self.threads[index] = threading.Thread(target=self._run, args=(agent,), daemon=True)
        self.threads[index].start()
        return agent

    def __enter__(self) -> Fleet:
        for agent in self.agents.values():
            thread = threading.Thread(target=self._run, args=(agent,), daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def _run(self, agent: Agent) -> None:
        try:
            agent.run()
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.errors.append(exc)

    def __exit__(self, *exc: object) -> None:
        for agent in self.agents.values():
            agent.stop()
        for thread in self.threads:
            thread.join(30)
        for feed in self._stack:
            feed.__exit__(None, None, None)

    def id(self, name: str) -> str:
        return self.agents[name].config.device_id

    def running(self, name: str) -> str:
        ref = self.agents[name].feed.model
        return f"{ref.id}@{ref.version}"

    def alive(self) -> bool:
        assert not self.errors, self.errors
        return all(t.is_alive() for t in self.threads)


def cli_app() -> typer.Typer:
    from edgesight import cli

    if not cli.app.registered_groups:
        cli._register()
    return cli.app


def _online(hub: Hub, fleet: Fleet) -> None:
    """Every agent has sent heartbeats and frames (its twin was applied, its model runs)."""
    def ready() -> bool:
        found = {d["id"]: d for d in hub.api("GET", "/api/v1/devices")}
        return all((found[fleet.id(n)]["health"] or {}).get("model") == f"{BASE}@{BASE_VERSION}" for n in fleet.agents)
    assert wait_until(ready, WAIT_S, 0.2), hub.api("GET", "/api/v1/devices")
    assert wait_until(lambda: all(a.stats.frames > 5 for a in fleet.agents.values()), WAIT_S, 0.2)


def _upload(hub: Hub, path: Path) -> str:
    return hub.cli("upload", str(path))


def _register_directly(hub: Hub, path: Path, signer: str) -> None:
    """Into the registry without the hub's checks: a compromised registry, or a man in the middle."""
    data = path.read_bytes()
    version = path.stem.rsplit("-", 1)[1]
    models.add_model(hub.db, models.ModelInfo(MODEL_ID, version, hashlib.sha256(data).hexdigest(), signer, len(data),
                                              0.0), data)  # fmt: skip


def _reported_model(hub: Hub, device_id: str) -> ModelReport:
    twin = hub.api("GET", f"/api/v1/devices/{device_id}/twin")
    return ModelReport.from_dict(twin["reported"]["model"])


def test_canary_first_then_the_rest_without_restarting(hub: Hub, clip: Path, tmp_path: Path) -> None:
    v2 = package(tmp_path, "2.0.0", hub.vendor)
    out = _upload(hub, v2)
    assert f"uploaded {MODEL_ID}@2.0.0" in out and "signed by" in out
    with Fleet(hub, clip, tmp_path, ["cam0", "cam1", "cam2"], ("lobby",)) as fleet:
        _online(hub, fleet)
        runs = {n: a.run_id for n, a in fleet.agents.items()}
        out = hub.cli("deploy", f"{MODEL_ID}@2.0.0", "--tag", "lobby", "--canary", fleet.id("cam0"),
                      "--health-window", "2", "--min-fps-ratio", "0.1")  # fmt: skip
        assert "canary" in out and "sent" in out and "pending" in out
        dep = hub.api("GET", "/api/v1/deployments")[0]["id"]
        seen_canary_alone = False
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            info = hub.deployment(dep)
            states = {d["device_id"]: d["state"] for d in info["devices"]}
            if info["status"] == "canary" and states[fleet.id("cam0")] == "running":
                # the canary runs the new model while the others have not been sent it
                assert states[fleet.id("cam1")] == states[fleet.id("cam2")] == "pending"
                assert fleet.running("cam1") == fleet.running("cam2") == f"{BASE}@{BASE_VERSION}"
                seen_canary_alone = True
            if info["status"] in ("completed", "halted"):
                break
            time.sleep(0.1)
        assert info["status"] == "completed", info
        assert seen_canary_alone
        assert {d["state"] for d in info["devices"]} == {"healthy"}
        assert all(fleet.running(n) == f"{MODEL_ID}@2.0.0" for n in fleet.agents)
        assert fleet.alive() and {n: a.run_id for n, a in fleet.agents.items()} == runs  # swapped, never restarted
        frames = {n: a.stats.frames for n, a in fleet.agents.items()}
        assert wait_until(lambda: all(a.stats.frames > frames[n] + 3 for n, a in fleet.agents.items()), WAIT_S, 0.2)
        for name in fleet.agents:
            report = _reported_model(hub, fleet.id(name))
            assert report.state is ModelState.HEALTHY and report.running == (MODEL_ID, "2.0.0")
        assert wait_until(lambda: all(
            (d["health"] or {}).get("model") == f"{MODEL_ID}@2.0.0"
            for d in hub.api("GET", "/api/v1/devices") if d["id"] in {fleet.id(n) for n in fleet.agents}
        ), WAIT_S, 0.2)  # fmt: skip
        status = hub.cli("rollout", "status", dep)
        assert "completed" in status and all(fleet.id(n) in status for n in fleet.agents)


def test_a_broken_model_rolls_back_on_its_canary_and_halts(hub: Hub, clip: Path, tmp_path: Path) -> None:
    broken = package(tmp_path, "2.1.0", hub.vendor, network=b"\x08\x07 signed, but not an ONNX graph")
    _upload(hub, broken)
    with Fleet(hub, clip, tmp_path, ["cam0", "cam1", "cam2"], ("dock",)) as fleet:
        _online(hub, fleet)
        devices_args = [a for n in ("cam0", "cam1", "cam2") for a in ("--device", fleet.id(n))]
        hub.cli("deploy", f"{MODEL_ID}@2.1.0", *devices_args, "--canary", fleet.id("cam1"), "--health-window", "1")
        dep = hub.api("GET", "/api/v1/deployments")[0]["id"]
        info = hub.wait_status(dep, "halted")
        states = {d["device_id"]: (d["state"], d["detail"]) for d in info["devices"]}
        state, detail = states[fleet.id("cam1")]
        assert state == "rolled_back" and detail.startswith("rolled_back (load)"), detail
        assert states[fleet.id("cam0")][0] == states[fleet.id("cam2")][0] == "pending"
        assert f"{fleet.id('cam1')}: rolled_back (load)" in info["detail"]
        for name in ("cam0", "cam1", "cam2"):  # the canary kept its model; the others were never sent one
            assert fleet.running(name) == f"{BASE}@{BASE_VERSION}"
            twin = hub.api("GET", f"/api/v1/devices/{fleet.id(name)}/twin")
            assert "model" not in twin["desired"]
        status = hub.cli("rollout", "status", dep, exit_code=1)
        assert "halted" in status and "rolled_back" in status

        # A model that loads and self-tests but runs below the fps floor: swapped in, then back out.
        slow = package(tmp_path, "2.2.0", hub.vendor)
        _upload(hub, slow)
        hub.cli("deploy", f"{MODEL_ID}@2.2.0", *devices_args, "--canary", fleet.id("cam1"), "--health-window", "1",
                "--min-fps", "999")  # fmt: skip
        dep = hub.api("GET", "/api/v1/deployments")[0]["id"]
        info = hub.wait_status(dep, "halted")
        state, detail = {d["device_id"]: (d["state"], d["detail"]) for d in info["devices"]}[fleet.id("cam1")]
        assert state == "rolled_back" and detail.startswith("rolled_back (fps)") and "below the limit of 999" in detail
        report = _reported_model(hub, fleet.id("cam1"))
        assert report.reason == "fps" and report.running == (BASE, BASE_VERSION)
        assert all(fleet.running(n) == f"{BASE}@{BASE_VERSION}" for n in fleet.agents)
        frames = fleet.agents["cam1"].stats.frames
        assert wait_until(lambda: fleet.agents["cam1"].stats.frames > frames + 3, WAIT_S, 0.2)
        assert fleet.alive()


def test_refused_packages_leave_the_running_model_and_are_reported(hub: Hub, clip: Path, tmp_path: Path) -> None:
    signed = package(tmp_path / "s", "3.0.1", hub.vendor)
    cases = {
        "signature": tampered(signed, tmp_path / f"{MODEL_ID}-3.0.1.espkg"),  # model changed, manifest recomputed
        "unsigned": package(tmp_path / "u", "3.0.2", None),
        "untrusted-key": package(tmp_path / "o", "3.0.3", hub.other),  # the hub trusts this key, the device does not
        "downgrade": package(tmp_path / "d", "1.0.0", hub.vendor),  # the device accepted 1.5.0 before
    }
    # The hub refuses what it can itself: these two only reach a device through a compromised registry.
    _register_directly(hub, cases["signature"], "0" * 16)
    _register_directly(hub, cases["unsigned"], "none")
    _upload(hub, cases["untrusted-key"])
    _register_directly(hub, cases["downgrade"], "vendor")  # the hub has newer versions, so upload would refuse it
    with Fleet(hub, clip, tmp_path, ["cam0"], ()) as fleet:
        _online(hub, fleet)
        device_id = fleet.id("cam0")
        for check, path in cases.items():
            version = path.stem.rsplit("-", 1)[1]
            frames = fleet.agents["cam0"].stats.frames
            hub.cli("deploy", f"{MODEL_ID}@{version}", "--device", device_id, "--health-window", "1")
            dep = hub.api("GET", "/api/v1/deployments")[0]["id"]
            info = hub.wait_status(dep, "halted")
            (row,) = info["devices"]
            assert row["state"] == "refused" and row["detail"].startswith(f"refused ({check})"), (check, row)
            report = _reported_model(hub, device_id)
            assert report.state is ModelState.REFUSED and report.check == check
            assert report.target is not None and report.target.version == version
            assert report.running == (BASE, BASE_VERSION) and fleet.running("cam0") == f"{BASE}@{BASE_VERSION}"
            assert wait_until(lambda f=frames: fleet.agents["cam0"].stats.frames > f + 3, WAIT_S, 0.2)  # still sensing
        assert fleet.alive()
        assert json.loads((tmp_path / device_id / "accepted.json").read_text()) == {MODEL_ID: "1.5.0"}


def test_a_silent_canary_times_out_on_the_hubs_tick(hub: Hub, tmp_path: Path) -> None:
    path = package(tmp_path, "0.0.1", hub.vendor)
    _register_directly(hub, path, "vendor")  # no device downloads it; an old version keeps other uploads valid
    silent = f"silent-{uuid.uuid4().hex[:6]}"
    hub.enrol(silent)  # enrolled, but no agent ever runs
    hub.cli("deploy", f"{MODEL_ID}@0.0.1", "--device", silent, "--report-timeout", "1")
    dep = hub.api("GET", "/api/v1/deployments")[0]["id"]
    info = hub.wait_status(dep, "halted")
    assert info["detail"] == f"timed out: {silent} reported no progress within 1 s" and info["report_timeout_s"] == 1
    (row,) = info["devices"]
    assert row["state"] == "timed_out" and "after sent" in row["detail"]
    assert "model" not in hub.api("GET", f"/api/v1/devices/{silent}/twin")["desired"]
    status = hub.cli("rollout", "status", dep, exit_code=1)
    assert "halted" in status and "timed_out" in status and silent in status


def test_an_operator_halts_and_rolls_back_from_the_cli(hub: Hub, tmp_path: Path) -> None:
    path = package(tmp_path, "0.0.2", hub.vendor)
    _register_directly(hub, path, "vendor")
    device = f"halted-{uuid.uuid4().hex[:6]}"
    hub.enrol(device)  # no agent: the deployment waits on it
    hub.cli("deploy", f"{MODEL_ID}@0.0.2", "--device", device)
    dep = hub.api("GET", "/api/v1/deployments")[0]["id"]
    assert "model" in hub.api("GET", f"/api/v1/devices/{device}/twin")["desired"]
    out = hub.cli("rollout", "halt", dep, "--reason", "wrong model", "--roll-back")
    assert "halted by an operator: wrong model; rolled back" in " ".join(out.split())  # the title wraps
    assert "model" not in hub.api("GET", f"/api/v1/devices/{device}/twin")["desired"]


def test_a_refusal_is_kept_across_an_agent_restart(hub: Hub, clip: Path, tmp_path: Path) -> None:
    unsigned = package(tmp_path, "2.4.0", None)
    _register_directly(hub, unsigned, "none")  # a compromised registry: the hub itself refuses unsigned uploads
    with Fleet(hub, clip, tmp_path, ["cam0"], ()) as fleet:
        _online(hub, fleet)
        device_id = fleet.id("cam0")
        hub.cli("deploy", f"{MODEL_ID}@2.4.0", "--device", device_id, "--health-window", "1")
        first = hub.wait_status(hub.api("GET", "/api/v1/deployments")[0]["id"], "halted")
        assert first["devices"][0]["detail"].startswith("refused (unsigned)")
        assert fleet.downloads["cam0"] == [f"{MODEL_ID}@2.4.0"]
        saved = json.loads((tmp_path / device_id / "refused_models.json").read_text())
        assert [r["target"]["version"] for r in saved["reports"]] == ["2.4.0"]

        before = fleet.agents["cam0"].run_id
        agent = fleet.restart("cam0")
        assert wait_until(lambda: agent.run_id not in ("", before) and agent.stats.frames > 5, WAIT_S, 0.2)
        hub.cli("deploy", f"{MODEL_ID}@2.4.0", "--device", device_id, "--health-window", "1")  # tried again
        dep = hub.api("GET", "/api/v1/deployments")[0]["id"]
        (row,) = hub.wait_status(dep, "halted")["devices"]
        assert row["state"] == "refused" and row["detail"].startswith("refused (unsigned)"), row
        assert "not tried again" in row["detail"]
        report = _reported_model(hub, device_id)
        assert report.state is ModelState.REFUSED and report.target is not None and report.target.deployment == dep
        assert fleet.downloads["cam0"] == []  # refused from memory: not downloaded nor checked again
        assert fleet.running("cam0") == f"{BASE}@{BASE_VERSION}" and fleet.alive()


def test_clearing_the_twin_model_swaps_back_to_the_config_file_model(hub: Hub, clip: Path, tmp_path: Path) -> None:
    _register_directly(hub, package(tmp_path, "2.3.0", hub.vendor), "vendor")
    with Fleet(hub, clip, tmp_path, ["cam0"], ()) as fleet:
        _online(hub, fleet)
        device_id, run = fleet.id("cam0"), fleet.agents["cam0"].run_id
        hub.cli("deploy", f"{MODEL_ID}@2.3.0", "--device", device_id, "--health-window", "1", "--min-fps-ratio", "0.1")
        hub.wait_status(hub.api("GET", "/api/v1/deployments")[0]["id"], "completed")
        assert fleet.running("cam0") == f"{MODEL_ID}@2.3.0"

        hub.api("PATCH", f"/api/v1/devices/{device_id}/twin/desired", json={"patch": {"model": None}})

        def back() -> bool:
            report = _reported_model(hub, device_id)
            return report.target is None and report.state is ModelState.RUNNING and report.running == (BASE, BASE_VERSION)

        assert wait_until(back, WAIT_S, 0.2), _reported_model(hub, device_id)
        assert fleet.running("cam0") == f"{BASE}@{BASE_VERSION}"
        assert f"previous {MODEL_ID}@2.3.0" in (_reported_model(hub, device_id).detail or "")
        frames = fleet.agents["cam0"].stats.frames
        assert wait_until(lambda: fleet.agents["cam0"].stats.frames > frames + 3, WAIT_S, 0.2)  # still sensing
        assert fleet.alive() and fleet.agents["cam0"].run_id == run  # swapped back, never restarted
