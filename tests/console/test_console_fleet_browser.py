"""Tags, model rollout state and deployments in Debian's chromium, against ``edgesight hub serve``.

The hub trusts a freshly made model-signing key; devices report their model rollout as the agent
does (a signed reported twin), and the device page follows it on its live stream.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from consolekit import (
    ADMIN_TOKEN,
    WAIT_MS,
    HubProcess,
    report_model_state,
    screenshot_dir,
    sign_in,
    tagged_fleet_hub,
)
from playwright.sync_api import Browser, Page, expect

from edgesight.core.wire import ModelState

DOCS = screenshot_dir(Path(tempfile.mkdtemp(prefix="edgesight-console-")))


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """The console's hub, trusting a model-signing key made here; three devices at two sites, tagged."""
    process = tagged_fleet_hub(tmp_path_factory.mktemp("console-fleet-hub"), tmp_path_factory.mktemp("packages"))
    yield process
    process.stop()


def open_signed_in(browser: Browser, hub: HubProcess, name: str, password: str) -> Page:
    return sign_in(browser.new_context(viewport={"width": 1280, "height": 900}).new_page(), hub, name, password)


def test_an_admin_filters_the_fleet_by_tag_and_site_and_edits_tags(browser: Browser, hub: HubProcess) -> None:
    page = open_signed_in(browser, hub, "admin", ADMIN_TOKEN)
    rows = page.locator("#fleet tbody tr")
    expect(rows).to_have_count(3, timeout=WAIT_MS)
    expect(rows.filter(has_text="cam-c").locator(".tags")).to_have_text("dock")
    page.select_option("#tag-filter", "lobby")
    expect(rows).to_have_count(2)
    expect(page.locator("#fleet-count")).to_have_text("2 of 3 devices")
    page.select_option("#tag-filter", "")
    page.select_option("#site-filter", "store-2")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("cam-c")
    rows.first.locator("a").click()
    form = page.locator("#tags-form")
    form.locator("input").fill("bad/tag")
    form.locator("button").click()
    expect(page.locator("#tags-msg")).to_contain_text("no spaces", timeout=WAIT_MS)
    form.locator("input").fill("dock beta")
    form.locator("button").click()
    expect(page.locator("#tags-msg")).to_have_text("Saved 2 tags.", timeout=WAIT_MS)
    expect(page.locator("#tag-list")).to_have_text("beta dock")
    assert hub.admin("GET", "/api/v1/devices").json()[2]["tags"] == ["beta", "dock"]
    page.goto(hub.url + "/#/")
    page.select_option("#tag-filter", "beta", timeout=WAIT_MS)
    expect(rows).to_have_count(1)
    page.select_option("#tag-filter", "")
    page.locator("#fleet").screenshot(path=str(DOCS / "console-fleet-tags.png"))
    page.context.close()


def test_the_device_page_follows_a_rollout_and_the_deployments_page_lists_it(browser: Browser,
                                                                              hub: HubProcess) -> None:  # fmt: skip
    r = hub.admin("POST", "/api/v1/deployments", json={"model_id": "acme-people", "version": "2.0.0",
                                                        "tags": ["lobby"], "canaries": ["cam-a"]})  # fmt: skip
    assert r.status_code == 201, r.text
    deployment = r.json()["id"]
    page = open_signed_in(browser, hub, "vera", hub.passwords["vera"])  # type: ignore[attr-defined]  # read-only pages
    page.goto(hub.url + "/#/device/cam-a")
    rollout = page.locator("#rollout")
    expect(rollout).to_have_text("no model rollout reported", timeout=WAIT_MS)
    report_model_state(hub, "cam-a", ModelState.DOWNLOADING)
    expect(rollout).to_contain_text(f"downloading acme-people@2.0.0 · deployment {deployment}", timeout=WAIT_MS)
    report_model_state(hub, "cam-a", ModelState.REFUSED, check="sha256", detail="the download does not match")
    expect(rollout).to_contain_text("refused (sha256)", timeout=WAIT_MS)
    expect(rollout).to_have_class("failed")
    page.click("nav a[href='#/deployments']")
    card = page.locator(f".deployment[data-deployment='{deployment}']")
    expect(card.locator("h2")).to_have_text("acme-people@2.0.0 halted", timeout=WAIT_MS)
    expect(card.locator("tr[data-device=cam-a] .state")).to_have_text("refused")
    expect(card.locator("tr[data-device=cam-a]")).to_contain_text("canary")
    expect(card.locator("tr[data-device=cam-b] .state")).to_have_text("pending")
    expect(card).to_contain_text("tags lobby")
    expect(card).to_contain_text("report timeout 600 s")
    page.screenshot(path=str(DOCS / "console-deployments.png"), full_page=True)
    # A viewer sees tags but has no form, and the hub refuses a tags change from its session.
    page.goto(hub.url + "/#/device/cam-b")
    expect(page.locator("#tag-list")).to_have_text("lobby", timeout=WAIT_MS)
    expect(page.locator("#tags-form")).to_have_count(0)
    status = page.evaluate("""async () => {
        const me = await (await fetch('/console/api/me')).json();
        const r = await fetch('/console/api/devices/cam-b/tags', {method: 'PUT', body: JSON.stringify({tags: []}),
            headers: {'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf}});
        return r.status;
    }""")
    assert status == 403
    assert hub.admin("GET", "/api/v1/devices").json()[1]["tags"] == ["lobby"]
    page.context.close()


def test_the_deployments_and_device_pages_fit_a_phone(browser: Browser, hub: HubProcess) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(hub.url + "/")
    page.fill("input[name=password]", ADMIN_TOKEN)
    page.click("button[type=submit]")
    expect(page.locator("#who")).to_contain_text("admin", timeout=WAIT_MS)
    for route, ready in [("/#/deployments", "#view h1"), ("/#/device/cam-a", "#tags-form")]:
        page.goto(hub.url + route)
        page.wait_for_selector(ready, timeout=WAIT_MS)
        widths = page.evaluate("[document.documentElement.scrollWidth, document.querySelector('main').scrollWidth]")
        assert max(widths) <= 390, (route, widths)
    context.close()
