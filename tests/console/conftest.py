"""Fixtures of the console's browser tests: a hub process with users and a streaming device, Debian's chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from consolekit import ADMIN_TOKEN, HubProcess, StreamingDevice, add_user, sign_in
from playwright.sync_api import Browser, Page, sync_playwright

from support import need

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]  # fmt: skip


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    data_dir = tmp_path_factory.mktemp("console-hub")
    process = HubProcess(data_dir)
    process.passwords = {"vera": add_user(data_dir, "vera", "viewer")}  # type: ignore[attr-defined]
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def device(hub: HubProcess) -> Iterator[StreamingDevice]:
    streaming = StreamingDevice(hub, "cam-entrance", "store-12")
    streaming.start()
    yield streaming
    streaming.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, given by path: nothing downloads a browser."""
    need(CHROMIUM.is_file(), f"{CHROMIUM} is missing: `bash tools/apt_install.sh chromium` (make test does)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def admin_page(browser: Browser, hub: HubProcess) -> Iterator[Page]:
    """A desktop-sized page signed in as the admin."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield sign_in(context.new_page(), hub, "admin", ADMIN_TOKEN)
    context.close()
