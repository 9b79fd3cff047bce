"""Alerts, insights, the device page's panels and the live fleet in Debian's chromium, against ``edgesight hub serve``.

The streaming device of ``conftest.py`` sends crossings, zone counts and heartbeats; the tests add its
queue, shelf and safety apps' events and a few frames of detections as the agent would send them.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from consolekit import ADMIN_TOKEN, WAIT_MS, HubProcess, StreamingDevice, screenshot_dir, sign_in
from playwright.sync_api import Browser, Page, Response, expect

from edgesight.core.events import Event, EventType, FrameContext
from edgesight.core.frame import ModelRef
from edgesight.core.wire import Heartbeat
from edgesight.testing import FakeDevice

DOCS = screenshot_dir(Path(tempfile.mkdtemp(prefix="edgesight-console-")))




def _event(d: FakeDevice, event_type: EventType, rule: str, ts: float, **props: Any) -> Event:
    """An app event at ``ts`` (through Event.create: the safety app's ``kind`` is a property name)."""
    d.frame_index += 1
    return Event.create(event_type, FrameContext(d.device_id, d.stream_id, d.frame_index, ts, (768, 576)), rule,
                        track_ids=tuple(props.pop("track_ids", ())), class_name=props.pop("class_name", None),
                        **props)  # fmt: skip


@pytest.fixture(scope="module")
def retail(device: StreamingDevice) -> StreamingDevice:
    """The device's apps report: a queue advising 3 counters (2 open), a shelf running low, an open hazard; frames."""
    now = time.time()

    def messages(d: FakeDevice) -> list[bytes]:
        events = [
            _event(d, EventType.QUEUE_ADVICE, "checkout", now - 1800, counters=2, queue_length=2, wait_s=40.0,
                   arrivals_per_min=2.0, mean_wait_s=20.0, target_met=True, open_counters=1,
                   open_counter_names=["till-1"]),
            _event(d, EventType.QUEUE_ADVICE, "checkout", now - 5, counters=3, queue_length=6, wait_s=120.0,
                   arrivals_per_min=3.0, mean_wait_s=45.0, target_met=True, open_counters=2,
                   open_counter_names=["till-1", "till-2"]),
            _event(d, EventType.RESTOCK, "bread", now - 60, state="alert", level=0.18, occupancy=0.2,
                   item_count=4, capacity=20, time_to_empty_s=300.0),
            _event(d, EventType.RESTOCK, "drinks", now - 60, state="ok", level=0.8, occupancy=0.8,
                   item_count=16, capacity=20, time_to_empty_s=None),
            _event(d, EventType.HAZARD, "forklift_lane", now - 20, track_ids=[5], class_name="person",
                   state="alert", kind="intrusion", severity="critical", point=[0.7, 0.6]),
        ]  # fmt: skip
        return [d.events(events), d.frames(n_frames=20, n_detections=6)]

    device.post(messages)
    return device


def _images(responses: list[Response], hub: HubProcess) -> list[tuple[str, str]]:
    kinds = [(r.url, r.headers.get("content-type", "")) for r in responses]
    return [(u, k) for u, k in kinds if not u.startswith(hub.url) or k.startswith(("image/", "video/", "multipart/"))]


def test_device_page_panels_show_queue_shelves_hazards_and_heatmap(admin_page: Page, hub: HubProcess,
                                                                   retail: StreamingDevice) -> None:  # fmt: skip
    page = admin_page
    responses: list[Response] = []
    page.on("response", lambda r: responses.append(r))
    page.goto(hub.url + "/#/device/cam-entrance")
    queue = page.locator("#queue [data-queue=checkout]")
    expect(queue.locator("[data-k=counters]")).to_have_text("3", timeout=WAIT_MS)
    expect(queue.locator("[data-k=queue_length]")).to_have_text("6")
    expect(queue.locator("[data-k=wait_s]")).to_have_text("2 min")
    expect(queue.locator("[data-k=open_counters]")).to_have_text("2")
    expect(queue.locator("svg rect.bar")).to_have_count(24)
    expect(page.locator("#shelves tr[data-shelf=bread] .state")).to_have_text("alert")
    expect(page.locator("#shelves tr[data-shelf=drinks] .state")).to_have_text("ok")
    expect(page.locator("#hazards-open")).to_have_text("1")
    expect(page.locator("#hazards li").first).to_contain_text("forklift_lane · intrusion · critical · alert")
    cells = page.locator("#heatmap svg rect.cell")
    expect(cells.first).to_be_attached()
    assert 1 <= cells.count() <= 120  # 6 people walking: a few cells, not the whole grid
    expect(page.locator("#heatmap")).to_contain_text("20 stored frames")
    expect(page.locator("#canvas rect.cell").first).to_be_attached()  # the editor draws over it (no floor plan)
    page.locator("#queue").locator("xpath=../..").screenshot(path=str(DOCS / "console-device-panels.png"))
    assert not _images(responses, hub)  # the heatmap is SVG cells from boxes: no picture reaches the page
    # The hazard ends: the page hears of it on its live stream and reloads its panels by itself.
    retail.post(lambda d: [d.events([_event(d, EventType.HAZARD, "forklift_lane", time.time(), track_ids=[5],
                                            class_name="person", state="cleared", kind="intrusion",
                                            severity="critical", duration_s=19.0, lost=False)])])  # fmt: skip
    expect(page.locator("#hazards-open")).to_have_text("0", timeout=WAIT_MS)
    expect(page.locator("#hazards li").first).to_contain_text("cleared")


def test_insights_show_staffing_per_store_and_the_restock_list(admin_page: Page, hub: HubProcess,
                                                               retail: StreamingDevice) -> None:  # fmt: skip
    page = admin_page
    page.goto(hub.url + "/#/insights")
    store = page.locator(".store[data-site=store-12]")
    expect(store.locator("[data-k=now]")).to_have_text("3", timeout=WAIT_MS)
    expect(store.locator("[data-k=peak]")).to_have_text("3")
    expect(store.locator("[data-k=open]")).to_have_text("2")  # the most open this hour, beside the advice
    expect(store.locator("[data-k=gap]")).to_have_text("1 short")
    expect(store.locator("svg rect.bar.second").last).to_be_attached()
    expect(store).to_contain_text("cam-entrance/checkout")
    expect(page.locator("#restock tbody tr")).to_have_count(1)  # drinks is fine
    expect(page.locator("#restock tr[data-shelf=bread]")).to_contain_text("store-12")
    page.screenshot(path=str(DOCS / "console-insights.png"), full_page=True)


def _fired(page: Page, rule: str) -> int:
    return page.locator("#alerts tbody tr[data-alert]", has_text=rule).count()


def test_an_admin_creates_and_edits_a_rule_and_sees_its_alerts(admin_page: Page, hub: HubProcess,
                                                               device: StreamingDevice) -> None:  # fmt: skip
    page = admin_page
    page.goto(hub.url + "/#/alerts")
    form = page.locator("#rule-form")
    form.locator("[name=name]").fill("crowded till")
    form.locator("[name=event_type]").select_option("zone_count")
    form.locator("[name=rule]").fill("till")
    form.locator("[name=property]").fill("count")
    form.locator("[name=op]").select_option(">=")
    form.locator("[name=value]").fill("4")
    form.locator("[name=mqtt_topic]").fill("store-12/alerts")
    page.click("#rule-save")
    expect(page.locator("#rule-msg")).to_have_text("Saved rule crowded till.", timeout=WAIT_MS)
    row = page.locator("#rules tr[data-rule='crowded till']")
    expect(row).to_contain_text("rule till and count >= 4")
    # The device sends till counts 0..4 in turn: a count of 4 fires within a few of its messages.
    deadline = time.monotonic() + WAIT_MS / 1000
    while _fired(page, "crowded till") == 0:
        assert time.monotonic() < deadline, "no alert fired"
        page.wait_for_timeout(500)
        page.reload()
    expect(page.locator("#alerts tbody tr[data-alert]").first).to_contain_text("zone_count · till")
    # Edit: renamed, two people are enough
    row.locator("[data-edit]").click()
    form.locator("[name=name]").fill("busy till")
    form.locator("[name=value]").fill("2")
    page.click("#rule-save")
    expect(page.locator("#rules tr[data-rule='busy till']")).to_contain_text("count >= 2", timeout=WAIT_MS)
    expect(page.locator("#rules tr[data-rule='crowded till']")).to_have_count(0)
    rules = hub.admin("GET", "/api/v1/rules").json()
    assert [(r["name"], r["condition"]["value"]) for r in rules] == [("busy till", 2)]
    # Muted for 8 hours, then until unmuted, then unmuted; the state column says which.
    busy = page.locator("#rules tr[data-rule='busy till']")
    busy.locator("[data-mute-for]").select_option("8h")
    busy.locator("[data-mute]").click()
    expect(busy.locator(".mute-state")).to_contain_text("muted until ", timeout=WAIT_MS)
    fired = _fired(page, "busy till")
    page.wait_for_timeout(3000)  # the device keeps sending counts of 2..4: a muted rule fires on none of them
    page.reload()
    expect(busy.locator(".mute-state")).to_contain_text("muted until ", timeout=WAIT_MS)
    assert _fired(page, "busy till") == fired
    busy.locator("[data-unmute]").click()
    expect(busy.locator(".mute-state")).to_have_text("active", timeout=WAIT_MS)
    busy.locator("[data-mute-for]").select_option("unmuted")
    busy.locator("[data-mute]").click()
    expect(busy.locator(".mute-state")).to_have_text("muted until unmuted", timeout=WAIT_MS)
    page.screenshot(path=str(DOCS / "console-alerts.png"), full_page=True)


def test_a_viewer_sees_the_rules_but_cannot_create_or_edit_them(browser: Browser, hub: HubProcess) -> None:
    r = hub.admin("POST", "/api/v1/rules", json={"name": "viewer sees me", "event_type": "hazard", "mqtt_topic": "a/b"})
    assert r.status_code == 201, r.text
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, hub, "vera", hub.passwords["vera"])  # type: ignore[attr-defined]
    page.goto(hub.url + "/#/alerts")
    expect(page.locator("#rules tr[data-rule='viewer sees me']")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#rule-form")).to_have_count(0)
    expect(page.locator("[data-edit]")).to_have_count(0)
    expect(page.locator("[data-mute], [data-unmute]")).to_have_count(0)
    status: Any = page.evaluate("""async (id) => {
        const me = await (await fetch('/console/api/me')).json();
        const body = JSON.stringify({name: 'mine', event_type: 'hazard', mqtt_topic: 'x/y'});
        const headers = {'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf};
        const made = await fetch('/console/api/rules', {method: 'POST', headers, body});
        const edited = await fetch('/console/api/rules/' + id, {method: 'PUT', headers, body});
        const muted = await fetch('/console/api/rules/' + id + '/mute', {method: 'PUT', headers,
                                  body: JSON.stringify({until: '1h'})});
        const unmuted = await fetch('/console/api/rules/' + id + '/mute', {method: 'DELETE', headers});
        return [made.status, edited.status, muted.status, unmuted.status];
    }""", r.json()["id"])
    assert status == [403, 403, 403, 403]
    assert "mine" not in [x["name"] for x in hub.admin("GET", "/api/v1/rules").json()]
    context.close()


def test_the_fleet_updates_a_device_status_without_reloading(admin_page: Page, hub: HubProcess) -> None:
    late = StreamingDevice(hub, "cam-late", "store-99")  # enrolled; not started: it sends only what we post
    fleet_gets: list[str] = []
    page = admin_page
    page.on("request", lambda q: fleet_gets.append(q.url) if q.url.endswith("/console/api/fleet") else None)
    page.goto(hub.url + "/#/")
    row = page.locator("#fleet tbody tr", has_text="cam-late")
    expect(row.locator(".status")).to_have_text("never", timeout=WAIT_MS)
    expect(page.locator("#fleet-live")).to_have_text("· live", timeout=WAIT_MS)
    late.post(lambda d: [d.send(Heartbeat(fps=7.5, dnn_ms=41.0, model=ModelRef("nanodet-plus-m-416-int8", "1.0.0"),
                                          uptime_s=3.0, outbox_pending=0))])  # fmt: skip
    expect(row.locator(".status")).to_have_text("online", timeout=WAIT_MS)
    expect(row).to_contain_text("7.5")
    assert len(fleet_gets) == 1  # the change came over the stream, not by fetching the fleet again


def test_alerts_and_insights_fit_a_phone(browser: Browser, hub: HubProcess, retail: StreamingDevice) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    sign_in(page, hub, "admin", ADMIN_TOKEN)
    for route, ready in [("/#/alerts", "#rule-form"), ("/#/insights", ".store svg")]:
        page.goto(hub.url + route)
        page.wait_for_selector(ready, timeout=WAIT_MS)
        widths = page.evaluate("[document.documentElement.scrollWidth, document.querySelector('main').scrollWidth]")
        assert max(widths) <= 390, (route, widths)
    context.close()
