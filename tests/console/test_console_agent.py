"""The console with the real agent: vtest.avi sensed by the agent, shipped over MQTT to ``hub serve``.

The page's counts rise while the test watches; a zone drawn in the editor reaches the agent (as
the desired twin over MQTT), the agent reports it applied, and the new zone's count appears.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from consolekit import ADMIN_TOKEN, CLI, WAIT_MS, HubProcess, port_open, screenshot_dir, sign_in
from playwright.sync_api import Browser, Page, expect
from test_console_browser import click_at

from edgesight.core.config import load_config
from edgesight.sensor.zoo import configured_model
from support import VTEST, need

REPO = Path(__file__).resolve().parents[2]
AGENT_WAIT_MS = 240_000  # the agent runs a real network on a shared 2-core machine


@pytest.fixture
def agent_hub(tmp_path: Path) -> Iterator[HubProcess]:
    need(port_open(1883), "Mosquitto is not running on 127.0.0.1:1883")
    hub = HubProcess(tmp_path / "hub", mqtt="127.0.0.1:1883")
    hub.start()
    yield hub
    hub.stop()


@pytest.fixture
def agent(agent_hub: HubProcess, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    need(VTEST.is_file(), f"{VTEST} is missing: run `make data`")
    video = tmp_path / "vtest-x5.avi"  # five plays of vtest.avi (~4000 frames): time to edit while it runs
    subprocess.run(["ffmpeg", "-v", "error", "-stream_loop", "4", "-i", str(VTEST), "-c", "copy", str(video)],
                   check=True)  # fmt: skip
    config = yaml.safe_load((REPO / "examples" / "vtest-device.yaml").read_text())
    config["device_id"] = "console-cam"
    config["sensor"]["source"] = str(video)
    (tmp_path / "device.yaml").write_text(yaml.safe_dump(config))
    creds = tmp_path / "creds.json"
    subprocess.run([*CLI, "hub", "enrol", "console-cam", "--site", "walkway", "--data-dir", str(agent_hub.data_dir),
                    "--broker", "127.0.0.1:1883", "--out", str(creds)], check=True, capture_output=True)  # fmt: skip
    proc = subprocess.Popen(
        [*CLI, "agent", "--config", str(tmp_path / "device.yaml"), "--credentials", str(creds),
         "--data-dir", str(tmp_path / "agent"), "--heartbeat", "1", "--batch-frames", "10", "--drain-timeout", "5"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    yield proc
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _total(page: Page) -> int:
    texts = page.locator(".count[data-line] b").all_inner_texts()
    return sum(int(t) for t in texts)


@pytest.mark.slow
def test_the_agent_streams_vtest_and_applies_a_zone_drawn_in_the_console(
    browser: Browser, agent_hub: HubProcess, agent: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, agent_hub, "admin", ADMIN_TOKEN)
    page.goto(agent_hub.url + "/#/device/console-cam")
    expect(page.locator(".count[data-line] b").first).to_be_visible(timeout=AGENT_WAIT_MS)
    expect(page.locator("#head .status")).to_have_text("online", timeout=AGENT_WAIT_MS)  # heartbeats, live
    example_model = configured_model(load_config(REPO / "examples" / "vtest-device.yaml").sensor)
    expect(page.locator("#head")).to_contain_text(example_model)
    first = _total(page)
    rose = False
    for _ in range(AGENT_WAIT_MS // 500):  # the page only listens: its live stream brings every change
        page.wait_for_timeout(500)
        if _total(page) > first:
            rose = True
            break
    assert rose, f"the line counts stayed at {first}"

    page.click("[data-act=zone]")
    for fx, fy in [(0.02, 0.25), (0.98, 0.25), (0.98, 0.98), (0.02, 0.98)]:  # the floor below the far wall
        click_at(page, fx, fy)
    page.click("[data-act=finish]")
    page.fill("#shape-name", "floor")
    page.click("[data-act=save]")
    expect(page.locator("#editor-msg")).to_contain_text("Saved", timeout=WAIT_MS)
    version = agent_hub.admin("GET", "/api/v1/devices/console-cam/twin").json()["desired_version"]
    expect(page.locator("#twin")).to_contain_text(f"twin v{version}: applied by the device", timeout=AGENT_WAIT_MS)
    expect(page.locator(".count[data-zone=floor]")).to_be_visible(timeout=AGENT_WAIT_MS)
    reported = agent_hub.admin("GET", "/api/v1/devices/console-cam/twin").json()["reported"]
    assert "floor" in [z["name"] for z in reported["analytics"]["zones"]]
    # Only the zones were edited: the device keeps the lines of its config file.
    assert [line["name"] for line in reported["analytics"]["lines"]] == ["west-gate", "east-gate"]
    page.screenshot(path=str(screenshot_dir(tmp_path) / "console-agent-vtest.png"), full_page=True)
    # The heatmap panel: counted by the hub from the boxes of the frames the agent shipped, under the shapes.
    page.reload()
    expect(page.locator("#heatmap svg rect.cell").first).to_be_attached(timeout=AGENT_WAIT_MS)
    expect(page.locator("#heatmap svg polygon.zone")).to_have_count(len(reported["analytics"]["zones"]))
    expect(page.locator("#heatmap svg line.line")).to_have_count(2)
    heatmap_png = screenshot_dir(tmp_path) / "console-heatmap-vtest.png"
    page.locator("#heatmap").locator("xpath=..").screenshot(path=str(heatmap_png))
    context.close()
