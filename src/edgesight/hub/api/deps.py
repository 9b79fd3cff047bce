"""FastAPI dependencies: settings, the hub service, and the two kinds of authentication."""

from __future__ import annotations

import hmac
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from edgesight.hub.service import HubService
from edgesight.hub.settings import HubSettings
from edgesight.hub.storage import devices

__all__ = ["AdminDep", "DeviceDep", "HubDep", "SettingsDep", "get_settings"]

_bearer = HTTPBearer(auto_error=False)


@lru_cache
def get_settings() -> HubSettings:
    """Settings from the environment (tests and ``create_app`` override this dependency)."""
    return HubSettings.from_env()


def get_hub(request: Request) -> HubService:
    hub: HubService = request.app.state.hub
    return hub


SettingsDep = Annotated[HubSettings, Depends(get_settings)]
HubDep = Annotated[HubService, Depends(get_hub)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def _client(request: Request) -> str:
    # behind a reverse proxy uvicorn puts the X-Forwarded-For address here (--forwarded-allow-ips)
    return request.client.host if request.client is not None else "unknown"


def _throttled(hub: HubService, client: str) -> None:
    wait = hub.login_throttle.retry_after(client)
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many failed logins from {client}; retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )


def _failed(hub: HubService, client: str, detail: str) -> HTTPException:
    hub.login_throttle.record_failure(client)
    return _unauthorized(detail)


def require_admin(request: Request, hub: HubDep, creds: Credentials) -> None:
    """The admin bearer token (data_dir/admin_token or EDGESIGHT_HUB_ADMIN_TOKEN)."""
    client = _client(request)
    _throttled(hub, client)
    if creds is None:
        raise _unauthorized("missing 'Authorization: Bearer <admin token>' header")
    if not hmac.compare_digest(creds.credentials.encode(), hub.admin_token.encode()):
        raise _failed(hub, client, "the bearer token is not the hub's admin token")


def require_device(request: Request, hub: HubDep, creds: Credentials) -> str:
    """A device token ``<device_id>:<token>``; returns the device id."""
    client = _client(request)
    _throttled(hub, client)
    if creds is None:
        raise _unauthorized("missing 'Authorization: Bearer <device_id>:<token>' header")
    device_id, sep, token = creds.credentials.partition(":")
    if not sep or not devices.verify_token(hub.db, device_id, token):
        raise _failed(hub, client, "the bearer token is not a valid token of an enrolled, unrevoked device")
    return device_id


AdminDep = Depends(require_admin)
DeviceDep = Annotated[str, Depends(require_device)]
