"""The web console in Debian's chromium against a real ``edgesight hub serve`` and a device streaming to it."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from consolekit import ADMIN_TOKEN, WAIT_MS, HubProcess, StreamingDevice, screenshot_dir, sign_in
from playwright.sync_api import Browser, Page, Response, expect

DOCS = screenshot_dir(Path(tempfile.mkdtemp(prefix="edgesight-console-")))  # docs/ with EDGESIGHT_SCREENSHOTS=docs




def test_wrong_password_is_refused_and_the_token_never_reaches_scripts(browser: Browser, hub: HubProcess) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(hub.url + "/")
    page.fill("input[name=password]", "not-the-token-at-all")
    page.click("button[type=submit]")
    expect(page.locator("#login-error")).to_be_visible(timeout=WAIT_MS)
    page.screenshot(path=str(DOCS / "console-login.png"))
    sign_in(page, hub, "admin", ADMIN_TOKEN)
    assert page.evaluate("document.cookie") == ""  # the session cookie is HttpOnly
    assert ADMIN_TOKEN not in page.content()
    me = page.evaluate("fetch('/console/api/me').then(r => r.text())")
    assert ADMIN_TOKEN not in me and '"role":"admin"' in me
    cookie = next(c for c in context.cookies() if c["name"] == "edgesight_session")
    assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict")
    context.close()


def test_fleet_lists_the_streaming_device_online(admin_page: Page, hub: HubProcess, device: StreamingDevice) -> None:
    for i in range(199):  # a fleet of 200: one streaming, the rest enrolled and never heard from
        r = hub.admin("POST", "/api/v1/devices", json={"device_id": f"cam-{i:03d}", "site": f"store-{i % 20:02d}"})
        assert r.status_code == 201, r.text
    page = admin_page
    row = page.locator("#fleet tbody tr", has_text="cam-entrance")
    page.click("#refresh")
    expect(page.locator("#fleet-count")).to_have_text("200 of 200 devices", timeout=WAIT_MS)
    page.click("th[data-key=status]")  # sorted by status: "never" < "online"
    expect(page.locator("#fleet tbody tr").last).to_contain_text("cam-entrance")
    page.click("th[data-key=status]")
    expect(page.locator("#fleet tbody tr").first).to_contain_text("cam-entrance")
    page.screenshot(path=str(DOCS / "console-fleet.png"))
    expect(row).to_contain_text("online", timeout=WAIT_MS)
    expect(row).to_contain_text("nanodet-coco-int8")
    expect(row).to_contain_text("1.2.0")
    expect(row).to_contain_text("store-12")
    page.fill("#filter", "no-such-device")
    expect(page.locator("#fleet tbody tr")).to_have_count(0)
    page.fill("#filter", "store-12")
    expect(page.locator("#fleet tbody tr")).to_have_count(11)  # cam-entrance and 10 seeded in store-12
    page.fill("#filter", "online")
    expect(page.locator("#fleet tbody tr")).to_have_count(1)


def _count(page: Page, selector: str) -> int:
    return int(page.locator(selector).inner_text())


def test_device_page_counts_rise_live_and_no_device_image_reaches_the_browser(
    admin_page: Page, hub: HubProcess, device: StreamingDevice
) -> None:
    page = admin_page
    responses: list[Response] = []
    page.on("response", lambda r: responses.append(r))
    page.goto(hub.url + "/#/device/cam-entrance")
    door_in = ".count[data-line=door][data-direction=in] b"
    expect(page.locator(door_in)).to_be_visible(timeout=WAIT_MS)
    first = _count(page, door_in)
    # The device keeps streaming; the page learns of it only by its server-sent events.
    expect(page.locator(door_in)).not_to_have_text(str(first), timeout=WAIT_MS)
    assert _count(page, door_in) > first
    expect(page.locator(".count[data-zone=till]")).to_be_visible()
    expect(page.locator("#feed li", has_text="line_crossing · door in").first).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#chart svg rect.bar").first).to_be_attached(timeout=WAIT_MS)
    expect(page.locator("#chart svg rect.bar")).to_have_count(24)  # the last 24 hours, one bar each
    page.select_option("#chart-span", "day")
    expect(page.locator("#chart[data-bucket=day] svg rect.bar")).to_have_count(30, timeout=WAIT_MS)
    page.select_option("#chart-span", "hour")
    expect(page.locator("#chart[data-bucket=hour] svg rect.bar")).to_have_count(24, timeout=WAIT_MS)
    page.screenshot(path=str(DOCS / "console-device.png"), full_page=True)
    # Privacy (default policy): nothing the page loaded is an image, nor comes from another origin.
    assert responses
    for r in responses:
        kind = r.headers.get("content-type", "")
        assert r.url.startswith(hub.url), r.url
        assert not kind.startswith(("image/", "video/", "multipart/x-mixed-replace")), (r.url, kind)
    kinds = {r.headers.get("content-type", "").split(";")[0] for r in responses}
    assert "text/event-stream" in kinds


def click_at(page: Page, fx: float, fy: float) -> None:
    canvas = page.locator("#canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box is not None
    canvas.click(position={"x": fx * box["width"], "y": fy * box["height"]})


def test_draw_a_zone_save_and_the_desired_twin_has_it(admin_page: Page, hub: HubProcess, device: StreamingDevice) -> None:
    page = admin_page
    page.goto(hub.url + "/#/device/cam-entrance")
    page.click("[data-act=zone]")
    for fx, fy in [(0.1, 0.5), (0.45, 0.5), (0.45, 0.9), (0.1, 0.9)]:
        click_at(page, fx, fy)
    page.click("[data-act=finish]")
    page.fill("#shape-name", "queue")
    page.click("[data-act=line]")
    click_at(page, 0.6, 0.2)
    click_at(page, 0.6, 0.8)
    page.click("[data-act=save]")
    expect(page.locator("#editor-msg")).to_contain_text("Saved", timeout=WAIT_MS)
    page.locator(".editor").screenshot(path=str(DOCS / "console-editor.png"))
    twin = hub.admin("GET", "/api/v1/devices/cam-entrance/twin").json()
    analytics = twin["desired"]["analytics"]
    zone = next(z for z in analytics["zones"] if z["name"] == "queue")
    assert len(zone["polygon"]) == 4
    assert zone["polygon"][0] == pytest.approx([0.1, 0.5], abs=0.01)
    assert analytics["lines"][0]["start"] == pytest.approx([0.6, 0.2], abs=0.01)
    expect(page.locator("#twin")).to_contain_text(f"twin v{twin['desired_version']}: device at v", timeout=WAIT_MS)
    device.report_twin(twin["desired_version"], analytics)  # the page hears of it by its live stream
    expect(page.locator("#twin")).to_contain_text("applied by the device", timeout=WAIT_MS)
    # A zero-length line is refused with the config's own message, and nothing is written.
    version = twin["desired_version"]
    page.click("[data-act=line]")
    click_at(page, 0.8, 0.3)
    click_at(page, 0.8, 0.3)
    page.click("[data-act=save]")
    expect(page.locator("#editor-msg")).to_contain_text("the line has zero length", timeout=WAIT_MS)
    assert hub.admin("GET", "/api/v1/devices/cam-entrance/twin").json()["desired_version"] == version


def test_a_viewer_sees_but_cannot_save(browser: Browser, hub: HubProcess, device: StreamingDevice) -> None:
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, hub, "vera", hub.passwords["vera"])  # type: ignore[attr-defined]
    page.goto(hub.url + "/#/device/cam-entrance")
    expect(page.locator("#canvas")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("[data-act=save]")).to_have_count(0)
    before = hub.admin("GET", "/api/v1/devices/cam-entrance/twin").json()["desired_version"]
    status: Any = page.evaluate("""async () => {
        const me = await (await fetch('/console/api/me')).json();
        const r = await fetch('/console/api/devices/cam-entrance/analytics', {method: 'PUT',
            headers: {'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf}, body: '{"zones": []}'});
        return [r.status, (await r.json()).detail];
    }""")
    assert status[0] == 403 and "viewer" in status[1]
    assert hub.admin("GET", "/api/v1/devices/cam-entrance/twin").json()["desired_version"] == before
    context.close()


def test_phone_viewport_has_no_horizontal_overflow(browser: Browser, hub: HubProcess, device: StreamingDevice) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    sign_in(page, hub, "admin", ADMIN_TOKEN)
    for route, shot in [("/#/", "console-phone-fleet.png"), ("/#/device/cam-entrance", "console-phone-device.png")]:
        page.goto(hub.url + route)
        page.wait_for_selector("#fleet tbody tr, .count", timeout=WAIT_MS)
        widths = page.evaluate("[document.documentElement.scrollWidth, document.querySelector('main').scrollWidth]")
        assert max(widths) <= 390, (route, widths)
        page.screenshot(path=str(DOCS / shot))
    context.close()
