"""Helpers of the hub tests: service probes and throwaway PostgreSQL databases."""

from __future__ import annotations

import socket
from contextlib import AbstractContextManager

import support

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


def pg_database() -> AbstractContextManager[str]:
    """A fresh PostgreSQL database ``edgesight_test_<random>``, dropped afterwards; yields its URL."""
    return support.pg_database("edgesight_test")
