"""Migrations on SQLite and PostgreSQL: ``alembic upgrade head`` builds exactly the ORM schema."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from edgesight.core.twin import merge_patch
from edgesight.hub.storage import Database, devices
from edgesight.hub.storage.db import alembic_config
from edgesight.hub.storage.tables import Base


def test_upgrade_head_matches_the_models_and_downgrades(db: Database) -> None:
    cfg = alembic_config(db.url)
    command.upgrade(cfg, "head")  # idempotent on a migrated database
    with db.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0006"
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    command.downgrade(cfg, "base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(cfg, "head")
    assert {"devices", "twins", "ingest_log", "frames", "events", "aggregates", "alerts"} <= set(
        inspect(db.engine).get_table_names()
    )


def test_twin_patch_bumps_the_version(db: Database) -> None:
    devices.enrol(db, "cam-1")
    first = devices.get_twin(db, "cam-1")
    assert first is not None and first.desired_version == 1
    twin = devices.patch_desired(db, "cam-1", {"analytics": {"lines": ["door"]}})
    assert twin.desired_version == 2 and twin.desired["analytics"] == {"lines": ["door"]}
    assert merge_patch({"a": 1}, {"a": {"b": 2}}) == {"a": {"b": 2}}
