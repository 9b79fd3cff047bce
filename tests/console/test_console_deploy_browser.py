"""Creating a deployment on the console's Deployments page, in Debian's chromium, against ``edgesight hub serve``.

An admin deploys a registered model to a tag and sees its devices' states; a viewer has no form and the
hub refuses its session; inputs the hub refuses show its own message naming the field.
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
from modelkit import MODEL_ID

DOCS = screenshot_dir(Path(tempfile.mkdtemp(prefix="edgesight-console-")))


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """A hub trusting a key made here, with one model signed by it; cam-a and cam-b tagged lobby, cam-c dock."""
    process = tagged_fleet_hub(tmp_path_factory.mktemp("console-deploy-hub"), tmp_path_factory.mktemp("packages"))
    yield process
    process.stop()


def open_deployments(browser: Browser, hub: HubProcess, name: str, password: str) -> Page:
    page = sign_in(browser.new_context(viewport={"width": 1280, "height": 900}).new_page(), hub, name, password)
    page.click("nav a[href='#/deployments']")
    expect(page.locator("#view h1")).to_have_text("Deployments", timeout=WAIT_MS)
    return page


def test_bad_inputs_show_the_hubs_refusal_naming_the_field(browser: Browser, hub: HubProcess) -> None:
    page = open_deployments(browser, hub, "admin", ADMIN_TOKEN)
    form, msg = page.locator("#deploy-form"), page.locator("#deploy-msg")
    form.locator("input[name=tags]").fill("lobby")
    form.locator("input[name=health_window_s]").fill("-1")
    form.locator("button[type=submit]").click()
    expect(msg).to_have_text("health_window_s: Input should be greater than or equal to 0", timeout=WAIT_MS)
    expect(msg).to_have_class("error")
    expect(form.locator("input[name=health_window_s]")).to_have_attribute("aria-invalid", "true")
    form.locator("input[name=health_window_s]").fill("30")
    form.locator("input[name=tags]").fill("nowhere")
    form.locator("button[type=submit]").click()
    expect(msg).to_have_text("no enrolled, unrevoked device matches the deployment's target", timeout=WAIT_MS)
    expect(form.locator("[aria-invalid]")).to_have_count(0)
    form.locator("input[name=tags]").fill("")
    form.locator("button[type=submit]").click()
    expect(msg).to_have_text("a deployment needs a target: device ids, tags or a site", timeout=WAIT_MS)
    assert hub.admin("GET", "/api/v1/deployments").json() == []
    page.context.close()


def test_a_viewer_has_no_form_and_the_hub_refuses_its_session(browser: Browser, hub: HubProcess) -> None:
    page = open_deployments(browser, hub, "vera", hub.passwords["vera"])  # type: ignore[attr-defined]
    expect(page.locator("#view")).to_contain_text("View only: an admin creates deployments.")
    expect(page.locator("#deploy-form")).to_have_count(0)
    answer = page.evaluate("""async () => {
        const me = await (await fetch('/console/api/me')).json();
        const r = await fetch('/console/api/deployments', {method: 'POST', headers: {'Content-Type': 'application/json',
            'X-CSRF-Token': me.csrf}, body: JSON.stringify({model_id: 'acme-people', version: '2.0.0', tags: ['lobby']})});
        return [r.status, (await r.json()).detail];
    }""")
    assert answer == [403, "user 'vera' is a viewer: changes are not allowed"]
    assert hub.admin("GET", "/api/v1/deployments").json() == []
    # The form's model list is readable by any session: only what deployments show, no digests.
    offered = page.evaluate("async () => (await (await fetch('/console/api/deployments/form')).json()).models")
    assert offered == [{"id": "acme-people", "version": "2.0.0"}]
    page.context.close()


def test_an_admin_deploys_to_a_tag_and_sees_its_devices(browser: Browser, hub: HubProcess) -> None:
    page = open_deployments(browser, hub, "admin", ADMIN_TOKEN)
    form = page.locator("#deploy-form")
    expect(form.locator("select[name=model] option")).to_have_text([f"{MODEL_ID}@2.0.0"])
    # the API's defaults, as its schema gives them
    expect(form.locator("input[name=canary_count]")).to_have_value("1")
    expect(form.locator("input[name=health_window_s]")).to_have_value("30")
    expect(form.locator("input[name=report_timeout_s]")).to_have_value("600")
    form.locator("input[name=tags]").fill("lobby")
    form.locator("input[name=report_timeout_s]").fill("900")
    form.locator("button[type=submit]").click()
    expect(page.locator("#deploy-msg")).to_contain_text("created: acme-people@2.0.0 to 2 devices", timeout=WAIT_MS)
    [created] = hub.admin("GET", "/api/v1/deployments").json()
    assert created["target"] == {"devices": [], "tags": ["lobby"], "site": None}
    assert created["report_timeout_s"] == 900 and created["health"]["window_s"] == 30
    card = page.locator(f".deployment[data-deployment='{created['id']}']")
    expect(card.locator("h2")).to_have_text("acme-people@2.0.0 canary", timeout=WAIT_MS)
    expect(card).to_contain_text("tags lobby")
    expect(card).to_contain_text("report timeout 900 s")
    expect(card.locator("tr[data-device=cam-a]")).to_contain_text("canary")
    expect(card.locator("tr[data-device=cam-a] .state")).to_have_text("sent")
    expect(card.locator("tr[data-device=cam-b] .state")).to_have_text("pending")
    expect(card.locator("tr[data-device=cam-c]")).to_have_count(0)
    page.screenshot(path=str(DOCS / "console-deploy-create.png"), full_page=True)
    # the page follows the deployment while it is in progress (no reload)
    report_model_state(hub, "cam-a", ModelState.DOWNLOADING)
    expect(card.locator("tr[data-device=cam-a] .state")).to_have_text("downloading", timeout=WAIT_MS)
    # the same devices again: the hub says they are busy
    form.locator("button[type=submit]").click()
    expect(page.locator("#deploy-msg")).to_have_text("devices already in a deployment in progress: cam-a, cam-b",
                                                     timeout=WAIT_MS)  # fmt: skip
    # halt it and roll the canary back, after confirming
    page.once("dialog", lambda dialog: dialog.accept())
    card.locator("button[data-roll-back]").click()
    expect(card.locator("h2")).to_have_text("acme-people@2.0.0 halted", timeout=WAIT_MS)
    expect(card).to_contain_text("halted by an operator: halted from the console by admin; rolled back")
    expect(card.locator("button[data-halt]")).to_have_count(0)
    twin = hub.admin("GET", "/api/v1/devices/cam-a/twin").json()
    assert "model" not in twin["desired"] or twin["desired"]["model"] is None
    page.context.close()
