"""What the API answers when something goes wrong: a 4xx or 503 with a message, never internals.

An error body must not carry SQL, bound parameters, secrets or token hashes, which is what the
database driver's exception text contains. So storage errors are mapped by their kind to a fixed
message (the detail goes to the hub log under a reference the body quotes), and any other
exception gets the same treatment as a 500.
"""

from __future__ import annotations

import logging
import secrets
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError
from starlette.types import ASGIApp, Receive, Scope, Send

from edgesight.core.errors import ConfigError, StorageError

__all__ = ["RefuseNulMiddleware", "install_error_handlers"]

log = logging.getLogger(__name__)


def _reference() -> str:
    return secrets.token_hex(4)


def _storage_answer(exc: StorageError) -> tuple[int, str]:
    cause = exc.__cause__
    if isinstance(cause, DataError):
        return status.HTTP_400_BAD_REQUEST, "the database cannot store a value of this request (out of range or invalid)"
    if isinstance(cause, IntegrityError):
        return status.HTTP_409_CONFLICT, "the request conflicts with data already stored"
    return status.HTTP_503_SERVICE_UNAVAILABLE, "the database is unavailable or refused the operation; retry later"


def install_error_handlers(app: FastAPI) -> None:
    """Map StorageError, ConfigError and any unexpected exception to safe JSON answers."""

    @app.exception_handler(StorageError)
    async def storage_error(request: Request, exc: StorageError) -> JSONResponse:
        code, message = _storage_answer(exc)
        ref = _reference()
        log.warning("%s %s -> %d (ref %s): %s", request.method, request.url.path, code, ref, exc)
        return JSONResponse({"detail": f"{message} (ref {ref})"}, status_code=code)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # where and why only: echoing the input back may not even be JSON (NaN) and helps nobody
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]  # fmt: skip
        return JSONResponse({"detail": errors}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(ConfigError)
    async def config_error(_request: Request, exc: ConfigError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_400_BAD_REQUEST)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        ref = _reference()
        log.error("%s %s failed (ref %s)", request.method, request.url.path, ref, exc_info=exc)
        return JSONResponse({"detail": f"internal error (ref {ref} in the hub log)"}, status_code=500)


class RefuseNulMiddleware:
    """Answer 400 to a request whose path or query string holds a NUL character.

    PostgreSQL text cannot hold NUL, SQLite would store it and compare it surprisingly; no id,
    site, rule or type of EdgeSight contains one. (JSON bodies are checked by the request models.)
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope["path"] or b"\x00" in unquote_to_bytes(scope.get("query_string", b""))
        ):
            response = JSONResponse(
                {"detail": "the URL holds a NUL character (%00), which no EdgeSight name may contain"},
                status_code=status.HTTP_400_BAD_REQUEST,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
