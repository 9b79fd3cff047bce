"""The console's HTTP surface: the page, sign-in and out, and the JSON and live streams its scripts read.

Everything under ``/console/api`` needs a session cookie; changes need the admin role and the
session's CSRF header (:mod:`edgesight.hub.console.auth`). The bearer-token API is untouched.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from edgesight.hub.api.deps import HubDep
from edgesight.hub.api.routes.devices import device_or_404
from edgesight.hub.console import accounts, alerts, backgrounds, editor, fleet_admin, panels, views
from edgesight.hub.console.auth import COOKIE, EditorDep, SessionDep, clear_cookie, set_cookie
from edgesight.hub.storage import devices, queries
from edgesight.hub.storage.queries import Filter

__all__ = ["install", "router"]

STATIC = Path(__file__).parent / "static"
LIVE_POLL_S = 1.0
"""How often the live stream reads the database for new events and counts."""
LIVE_STREAM_S = 30.0
"""How long one live stream lasts: the browser reconnects by itself and resumes after the last event
it got (``Last-Event-ID``); short streams keep an open page from holding up the hub's shutdown."""
FLEET_POLL_S = 2.0
"""How often the fleet stream reads the devices' health (a fleet page shows seconds-old status)."""
_MAX_FORM_BYTES = 4096

# Our own files only: no inline script, no other origin; images only from us (the uploaded plan).
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")  # fmt: skip

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/console/api", tags=["console"])


@router.get("/")
def page() -> FileResponse:
    """The console (one page; its scripts show the sign-in form until a session exists)."""
    return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-store",
                                                        "X-Content-Type-Options": "nosniff"})  # fmt: skip


@router.post("/console/login")
async def login(request: Request, hub: HubDep) -> RedirectResponse:
    """The sign-in form (name and password; name ``admin`` with the hub's admin token): back to ``/``.

    Failures count in the hub's per-address limit of failed logins, shared with the bearer API.
    """
    client = request.client.host if request.client is not None else "unknown"
    wait = hub.login_throttle.retry_after(client)
    if wait is not None:
        return RedirectResponse(f"/?login=wait&retry={wait}", status_code=status.HTTP_303_SEE_OTHER)
    body = await request.body()
    fields = parse_qs(body[:_MAX_FORM_BYTES].decode(errors="replace"))
    name = (fields.get("name") or [""])[0].strip()
    password = (fields.get("password") or [""])[0]
    role = await run_in_threadpool(accounts.authenticate, hub.db, name, password, hub.admin_token)
    if role is None:
        hub.login_throttle.record_failure(client)
        return RedirectResponse("/?login=failed", status_code=status.HTTP_303_SEE_OTHER)
    token, _session = accounts.start_session(hub.db, name, role)
    response = RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)
    set_cookie(request, response, token)
    return response


@api.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, session: SessionDep, hub: HubDep) -> Response:
    """End this browser's session (any role)."""
    accounts.end_session(hub.db, request.cookies.get(COOKIE, ""))
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_cookie(request, response)
    return response


@api.get("/me")
def me(session: SessionDep) -> dict[str, Any]:
    """Who is signed in, the role, and the CSRF token the page sends with every change."""
    return {"user": session.user, "role": session.role.value, "csrf": session.csrf}


@api.get("/fleet")
def fleet(session: SessionDep, hub: HubDep) -> list[dict[str, Any]]:
    """Every device with status, fps, DNN ms, model, version, last seen and site."""
    return views.fleet(hub.db)


@api.get("/fleet/live")
async def fleet_live(request: Request, session: SessionDep, hub: HubDep) -> StreamingResponse:
    """Server-sent events: the whole fleet once (``fleet``), then every row whose status, fps, DNN ms,
    model or last-seen changed (``rows``), read from the database every :data:`FLEET_POLL_S`."""

    async def stream() -> AsyncIterator[str]:
        started = time.time()
        last: dict[str, dict[str, Any]] | None = None
        yield "retry: 1000\n\n"
        while time.time() - started < LIVE_STREAM_S and not await request.is_disconnected():
            rows = await run_in_threadpool(views.fleet, hub.db)
            if last is None:
                yield _sse("fleet", rows)
            else:
                changed = [r for r in rows if last.get(r["id"]) != r]
                if changed:
                    yield _sse("rows", changed)
            last = {r["id"]: r for r in rows}
            await asyncio.sleep(FLEET_POLL_S)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})  # fmt: skip


@api.get("/insights/staffing")
def staffing(session: SessionDep, hub: HubDep) -> list[dict[str, Any]]:
    """Per store: counters its queue apps advised, hour by hour over the last 24 h."""
    return panels.store_staffing(hub.db)


@api.get("/insights/restock")
def restock(session: SessionDep, hub: HubDep) -> list[dict[str, Any]]:
    """Shelves to refill (their latest restock event alerts), soonest empty first."""
    return panels.restock_list(hub.db)


@api.get("/devices/{device_id}/panels")
def device_panels(device_id: str, session: SessionDep, hub: HubDep) -> dict[str, Any]:
    """The device page's queue, shelf, hazard and heatmap panels."""
    device_or_404(hub, device_id)
    return panels.device_panels(hub.db, device_id)


@api.get("/devices/{device_id}")
def device(device_id: str, session: SessionDep, hub: HubDep) -> dict[str, Any]:
    """One device's row of the fleet, its zones and lines (as it runs them, desired over reported), twin versions."""
    row = views.device_row(hub.db, device_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"device {device_id!r} is not enrolled")
    twin = devices.get_twin(hub.db, device_id)
    analytics = editor.running_analytics(twin)
    return {
        **row,
        "zones": analytics.get("zones") or [], "lines": analytics.get("lines") or [],
        "desired_version": twin.desired_version if twin else 0,
        "reported_version": twin.reported_version if twin else 0,
        "has_background": backgrounds.exists(hub.db, device_id),
        "rollout": views.model_rollout(twin.reported) if twin else None,
    }  # fmt: skip


@api.get("/devices/{device_id}/series")
def series(
    device_id: str, session: SessionDep, hub: HubDep,
    bucket: Annotated[str, Query(pattern="^(hour|day)$")] = "hour",
    span_h: Annotated[int, Query(ge=1, le=24 * 31)] = 24,
) -> list[dict[str, Any]]:
    """Crossings and zone counts per hour (or day) over the last ``span_h`` hours."""
    device_or_404(hub, device_id)
    seconds = 3600 if bucket == "hour" else 86_400
    f = Filter(device=device_id, start=time.time() - span_h * 3600, limit=100_000)
    return queries.aggregates(hub.db, f, seconds)


def _sse(event: str, data: Any, event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _resume_after(last_event_id: str | None, default: tuple[float, str]) -> tuple[float, str]:
    """Where a reconnecting stream resumes: after the ``<timestamp> <event id>`` the browser last got.

    Example:
        >>> _resume_after("1700000000.5 ab12", (0.0, "")), _resume_after("junk", (1.0, ""))
        ((1700000000.5, 'ab12'), (1.0, ''))
    """
    ts, _, eid = (last_event_id or "").partition(" ")
    try:
        return (float(ts), eid) if eid else default
    except ValueError:
        return default


@api.get("/devices/{device_id}/live")
async def live(device_id: str, request: Request, session: SessionDep, hub: HubDep) -> StreamingResponse:
    """Server-sent events: ``counts`` (this hour), ``health`` and ``twin`` when they change, each new ``event``.

    The hub's database is the source: the stream reads it every second, the browser never polls.
    """
    device_or_404(hub, device_id)

    async def stream() -> AsyncIterator[str]:
        now = time.time()
        since = now - now % 3600
        after = _resume_after(request.headers.get("last-event-id"), (now - 60.0, ""))
        last_counts: dict[str, Any] | None = None
        last_twin: dict[str, Any] | None = None
        last_health: dict[str, Any] | None = None
        yield "retry: 500\n\n"
        while time.time() - now < LIVE_STREAM_S and not await request.is_disconnected():
            counts = await run_in_threadpool(views.live_counts, hub.db, device_id, since)
            if counts != last_counts:
                last_counts = counts
                yield _sse("counts", counts)
            health = await run_in_threadpool(views.device_row, hub.db, device_id)
            if health != last_health:
                last_health = health
                yield _sse("health", health)
            twin = await run_in_threadpool(views.twin_versions, hub.db, device_id)
            if twin != last_twin:
                last_twin = twin
                yield _sse("twin", twin)
            for e in await run_in_threadpool(views.new_events, hub.db, device_id, after):
                after = (e["timestamp"], e["id"])
                yield _sse("event", e, f"{e['timestamp']!r} {e['id']}")
            await asyncio.sleep(LIVE_POLL_S)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})  # fmt: skip


@api.put("/devices/{device_id}/analytics")
def save_analytics(device_id: str, body: editor.ShapesBody, session: EditorDep, hub: HubDep) -> dict[str, Any]:
    """Write zones and lines into the desired twin (admin only); invalid shapes: 422 with the config's message."""
    device_or_404(hub, device_id)
    twin = editor.save_shapes(hub, device_id, body)
    return {"desired_version": twin.desired_version, "analytics": twin.desired.get("analytics", {})}


@api.get("/devices/{device_id}/background")
def get_background(device_id: str, session: SessionDep, hub: HubDep) -> Response:
    """The floor plan or reference image uploaded for the editor (never a device picture)."""
    found = backgrounds.load(hub.db, device_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"device {device_id!r} has no uploaded background")
    content_type, data = found
    return Response(data, media_type=content_type, headers={"Cache-Control": "no-store",
                                                            "X-Content-Type-Options": "nosniff"})  # fmt: skip


@api.put("/devices/{device_id}/background", status_code=status.HTTP_204_NO_CONTENT)
async def put_background(device_id: str, request: Request, session: EditorDep, hub: HubDep) -> Response:
    """Upload a PNG or JPEG floor plan (admin only, at most :data:`backgrounds.MAX_BYTES`)."""
    device_or_404(hub, device_id)
    data = await request.body()
    await run_in_threadpool(backgrounds.store, hub.db, device_id, data)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


router.include_router(api)
router.include_router(alerts.router)
router.include_router(fleet_admin.router)


def install(app: FastAPI) -> None:
    """Serve the console on ``app``: the page at ``/``, its API, its static files."""
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
