"""The app factory: ``create_app(settings)``; the hub starts and stops in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from edgesight.hub.api.deps import AdminDep, get_settings
from edgesight.hub.api.errors import RefuseNulMiddleware, install_error_handlers
from edgesight.hub.api.routes import devices, export, health, ingest, insights, models, queries, rules, twins
from edgesight.hub.service import HubService
from edgesight.hub.settings import HubSettings

__all__ = ["create_app"]


def create_app(settings: HubSettings, service: HubService | None = None) -> FastAPI:
    """The hub's HTTP API. ``service`` defaults to a :class:`HubService` built from ``settings``.

    Example:
        >>> app = create_app(HubSettings(mqtt_host=None))
        >>> "/api/v1/ingest" in app.openapi()["paths"]
        True
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub = service or HubService(settings)
        hub.start()
        app.state.hub = hub
        try:
            yield
        finally:
            hub.stop()

    public = settings.public_docs
    app = FastAPI(
        title="EdgeSight hub", version="1", lifespan=lifespan, openapi_url="/openapi.json" if public else None,
        docs_url="/docs" if public else None, redoc_url="/redoc" if public else None,
    )  # fmt: skip
    app.dependency_overrides[get_settings] = lambda: settings
    for module in (health, devices, twins, ingest, queries, export, rules, insights):
        app.include_router(module.router)
    app.include_router(models.admin_router)
    app.include_router(models.device_router)
    from edgesight.hub.console import routes as console  # here: the console's modules import hub.api.deps

    console.install(app)
    if not public:

        @app.get("/openapi.json", include_in_schema=False, dependencies=[AdminDep])
        def openapi() -> JSONResponse:
            """The API description, for the admin only (``public_docs`` serves it and /docs to all)."""
            return JSONResponse(app.openapi())

    install_error_handlers(app)
    app.add_middleware(RefuseNulMiddleware)
    return app
