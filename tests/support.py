"""Helpers shared by tests (importable as ``support``; pyproject puts tests/ on the path)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VTEST = REPO / "data" / "vtest.avi"
IN_CI = os.environ.get("CI", "").lower() == "true"


def need(condition: bool, reason: str) -> None:
    """Skip when something the test needs is missing on a developer machine; fail under CI=true,
    where `make test` has set everything up and a missing part is a defect."""
    if not condition:
        if IN_CI:
            pytest.fail(f"CI: {reason}")
        pytest.skip(reason)


PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def pg_database(prefix: str = "edgesight_test") -> Iterator[str]:
    """A fresh PostgreSQL database ``<prefix>_<random>``, dropped afterwards; yields its URL."""
    from sqlalchemy import create_engine, text

    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
