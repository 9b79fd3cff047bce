"""Console users and sessions in the hub's database (tables of migration 0003)."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import delete, insert, select

from edgesight.core.errors import ConfigError
from edgesight.hub.console.passwords import hash_password, new_password, verify_password
from edgesight.hub.storage.db import Database
from edgesight.hub.storage.tables import ConsoleSession, ConsoleUser

__all__ = [
    "ADMIN_TOKEN_USER",
    "SESSION_TTL_S",
    "Role",
    "Session",
    "add_user",
    "authenticate",
    "end_session",
    "find_session",
    "start_session",
]

SESSION_TTL_S = 12 * 3600.0
ADMIN_TOKEN_USER = "admin"
"""The name a session opened with the hub's admin token carries (no user row)."""

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class Role(StrEnum):
    """``admin`` may change devices' desired state; ``viewer`` may only look."""

    ADMIN = "admin"
    VIEWER = "viewer"


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser."""

    user: str
    role: Role
    csrf: str
    expires_at: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(db: Database, name: str, role: Role) -> str:
    """Create a console user; returns its generated password (shown once, stored only hashed).

    Raises:
        ConfigError: the name is malformed, reserved for the admin token, or taken.
    """
    if not _NAME.match(name):
        raise ConfigError(f"user name {name!r}: use 1-64 letters, digits, '_', '.' or '-'")
    if name == ADMIN_TOKEN_USER:
        raise ConfigError(f"user name {name!r} is reserved for sign-in with the hub's admin token")
    password = new_password()
    with db.begin() as conn:
        if conn.execute(select(ConsoleUser.name).where(ConsoleUser.name == name)).first() is not None:
            raise ConfigError(f"console user {name!r} already exists")
        conn.execute(insert(ConsoleUser).values(name=name, role=role.value,
                                                password_hash=hash_password(password), created_at=time.time()))  # fmt: skip
    return password


def authenticate(db: Database, name: str, password: str, admin_token: str) -> Role | None:
    """The role of a valid sign-in, else None.

    ``admin`` with the hub's admin token as password is an admin; any other name is a console user.
    """
    if name == ADMIN_TOKEN_USER:
        ok = secrets.compare_digest(password.encode(), admin_token.encode()) and bool(admin_token)
        return Role.ADMIN if ok else None
    with db.begin() as conn:
        row = conn.execute(select(ConsoleUser.role, ConsoleUser.password_hash).where(ConsoleUser.name == name)).first()
    if row is None or not verify_password(password, str(row.password_hash)):
        return None
    return Role(row.role)


def start_session(db: Database, user: str, role: Role, now: float | None = None) -> tuple[str, Session]:
    """A new session: returns the cookie value (stored only as its hash) and the session."""
    now = time.time() if now is None else now
    token = secrets.token_urlsafe(32)
    session = Session(user, role, secrets.token_urlsafe(24), now + SESSION_TTL_S)
    with db.begin() as conn:
        conn.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
        conn.execute(insert(ConsoleSession).values(token_hash=_digest(token), user_name=user, role=role.value,
                                                   csrf=session.csrf, expires_at=session.expires_at))  # fmt: skip
    return token, session


def find_session(db: Database, token: str, now: float | None = None) -> Session | None:
    """The live session of a cookie value, else None."""
    now = time.time() if now is None else now
    with db.begin() as conn:
        row = conn.execute(
            select(ConsoleSession.user_name, ConsoleSession.role, ConsoleSession.csrf, ConsoleSession.expires_at)
            .where(ConsoleSession.token_hash == _digest(token))
        ).first()
    if row is None or row.expires_at <= now:
        return None
    return Session(row.user_name, Role(row.role), row.csrf, row.expires_at)


def end_session(db: Database, token: str) -> None:
    """Sign out: the cookie value stops working at once."""
    with db.begin() as conn:
        conn.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == _digest(token)))
