"""Alembic environment: runs on the connection handed over in ``config.attributes["connection"]``
(the hub migrates itself at startup), else on ``sqlalchemy.url`` (the ``alembic`` command)."""

from __future__ import annotations

from alembic import context
from alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from edgesight.hub.storage.tables import Base

__all__ = ["run", "target_metadata"]

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run(config: Config) -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


try:
    _config: Config | None = context.config
except AttributeError:  # imported outside a migration run (pytest --doctest-modules)
    _config = None
if _config is not None:
    run(_config)
