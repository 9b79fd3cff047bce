"""Helpers of the hub tests: service probes and throwaway PostgreSQL databases."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MQTT = ("127.0.0.1", 1883)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def pg_up() -> bool:
    return port_open("127.0.0.1", 5432)


def mqtt_up() -> bool:
    return port_open(*MQTT)


@contextmanager
def pg_database() -> Iterator[str]:
    """A fresh database ``edgesight_test_<random>``, dropped afterwards; yields its URL."""
    from sqlalchemy import create_engine, text

    name = f"edgesight_test_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
