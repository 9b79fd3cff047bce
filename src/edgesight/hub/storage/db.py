"""Opening the database and bringing its schema to the latest Alembic revision."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from edgesight.core.errors import StorageError
from edgesight.core.private_files import ensure_private_file
from edgesight.hub.storage.secret_box import SecretBox

__all__ = ["Database", "alembic_config"]

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the hub's migrations (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable against process kills, fast
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Database:
    """One engine per process; every repository function takes it (or a connection from it).

    Args:
        url: SQLAlchemy URL.
        secret_key: the hub's 32-byte master key that encrypts device keys at rest (None: clear).

    Example:
        >>> db = Database("sqlite://")
        >>> db.migrate(); db.dialect
        'sqlite'
    """

    def __init__(self, url: str, secret_key: bytes | None = None) -> None:
        self.url = url
        parsed = make_url(url)
        kwargs: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:":
                try:  # the file holds every device's HMAC key: owner-only before SQLite writes it
                    ensure_private_file(Path(database))
                except OSError as exc:
                    raise StorageError(f"cannot create database file {database}: {exc.strerror}") from exc
            else:  # one shared in-memory database for all threads
                from sqlalchemy.pool import StaticPool

                kwargs["poolclass"] = StaticPool
            kwargs["connect_args"] = {"check_same_thread": False}
        try:
            self.engine: Engine = create_engine(url, **kwargs)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise StorageError(f"cannot open database {parsed.render_as_string()}: {exc}") from exc
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        # device keys are sealed with secret_key by the column type (storage/secret_box.py)
        self.engine.dialect.edgesight_secret_box = SecretBox(secret_key)  # type: ignore[attr-defined]
        self.dialect = self.engine.dialect.name

    def migrate(self) -> None:
        """Apply every Alembic migration not yet applied (``alembic upgrade head``)."""
        try:
            with self.engine.begin() as conn:
                cfg = alembic_config(self.url)
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except SQLAlchemyError as exc:
            raise StorageError(f"migrating {self.engine.url.render_as_string()} failed: {exc}") from exc

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction; SQL errors surface as :class:`StorageError` naming the database."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StorageError(f"{self.dialect} database refused the operation: {exc}") from exc

    def close(self) -> None:
        self.engine.dispose()
