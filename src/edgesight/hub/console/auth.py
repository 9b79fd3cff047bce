"""FastAPI dependencies of the console: a session from its cookie, and the admin role plus CSRF header.

The cookie is HttpOnly and SameSite=Strict (and Secure over TLS), so scripts cannot read it and
other sites cannot send it; every state-changing request must also carry the session's CSRF
token in ``X-CSRF-Token``, which only our own page learns (from ``/console/api/me``).
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, Response, status

from edgesight.hub.api.deps import HubDep
from edgesight.hub.console import accounts
from edgesight.hub.console.accounts import Role, Session

__all__ = ["COOKIE", "EditorDep", "SessionDep", "clear_cookie", "set_cookie"]

COOKIE = "edgesight_session"


def set_cookie(request: Request, response: Response, token: str) -> None:
    """The session cookie: HttpOnly, SameSite=Strict, Secure when the request came over TLS."""
    response.set_cookie(COOKIE, token, max_age=int(accounts.SESSION_TTL_S), path="/", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")  # fmt: skip


def clear_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https")


def require_session(request: Request, hub: HubDep) -> Session:
    """The signed-in session of this browser, else 401."""
    token = request.cookies.get(COOKIE)
    session = accounts.find_session(hub.db, token) if token else None
    if session is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "not signed in to the console (or the session expired)")
    return session


SessionDep = Annotated[Session, Depends(require_session)]


def require_editor(session: SessionDep, csrf: Annotated[str | None, Header(alias="X-CSRF-Token")] = None) -> Session:
    """An admin session whose request carries its CSRF token: 403 for a viewer or a missing token."""
    if session.role is not Role.ADMIN:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"user {session.user!r} is a viewer: changes are not allowed")
    if csrf is None or not secrets.compare_digest(csrf.encode(), session.csrf.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong X-CSRF-Token header")
    return session


EditorDep = Annotated[Session, Depends(require_editor)]
