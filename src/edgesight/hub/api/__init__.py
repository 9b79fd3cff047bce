"""The hub's HTTP API (FastAPI): ``create_app(settings)``."""

from edgesight.hub.api.app import create_app

__all__ = ["create_app"]
