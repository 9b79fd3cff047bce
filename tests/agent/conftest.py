"""Fixtures for agent tests: brokers (the system one and private ones) and device credentials."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakehub import SYSTEM_BROKER, CredsMaker, PrivateBroker, port_open

from edgesight.agent.credentials import Credentials, parse_credentials
from support import need


@pytest.fixture
def system_broker() -> tuple[str, int]:
    """The system Mosquitto on 127.0.0.1:1883 (skip locally, fail under CI=true when it is down)."""
    need(port_open(*SYSTEM_BROKER), f"Mosquitto is not running on {SYSTEM_BROKER[0]}:{SYSTEM_BROKER[1]}")
    return SYSTEM_BROKER


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    """Our own mosquitto on a free port; tests may stop and restart it."""
    need(PrivateBroker.binary() is not None, "the mosquitto binary is not installed")
    with PrivateBroker(tmp_path / "broker") as broker:
        yield broker


@pytest.fixture
def make_creds() -> CredsMaker:
    """``make_creds(port, name="cam")`` -> credentials with a unique device id and a random secret."""

    def make(port: int, name: str = "cam") -> Credentials:
        return parse_credentials(
            {
                "device_id": f"{name}-{uuid.uuid4().hex[:8]}",
                "secret": base64.b64encode(os.urandom(32)).decode(),
                "token": uuid.uuid4().hex,
                "broker": f"127.0.0.1:{port}",
            }
        )

    return make
