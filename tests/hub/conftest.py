"""Fixtures of the hub tests: a migrated database on SQLite (always) and PostgreSQL (when up)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hubkit import pg_database, pg_up

from edgesight.hub.storage import Database
from edgesight.hub.storage.db import alembic_config
from support import need


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    need(pg_up(), "PostgreSQL is not running on 127.0.0.1:5432")
    with pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database of each backend."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'hub.sqlite3'}")
        database.migrate()
        yield database
        database.close()
        return
    url = request.getfixturevalue("pg_url")
    database = Database(url)
    _reset(database)
    yield database
    database.close()


def _reset(database: Database) -> None:
    from alembic import command
    from sqlalchemy import text

    with database.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    cfg = alembic_config(database.url)
    command.upgrade(cfg, "head")
