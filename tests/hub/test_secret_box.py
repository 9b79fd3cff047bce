"""Device keys at rest: sealed with the hub's master key in the database, clear to the hub.

On SQLite and PostgreSQL: the stored bytes are not the key, the whole ingest path (secret lookup,
the ack's ``RETURNING devices.secret``, downlink sealing) still works with the clear key, and a
hub without the key (or with another one) refuses with a StorageError instead of using garbage.
"""

from __future__ import annotations

import base64
import os

import pytest
from sqlalchemy import text

from edgesight.core.errors import ConfigError, StorageError
from edgesight.core.wire import Heartbeat
from edgesight.hub.ingest import IngestOptions, Ingestor
from edgesight.hub.metrics import HubMetrics
from edgesight.hub.settings import HubSettings
from edgesight.hub.storage import Database, devices
from edgesight.hub.storage.secret_box import SEALED_PREFIX
from edgesight.testing import FakeDevice

KEY = os.urandom(32)


def _stored(db: Database, device_id: str) -> bytes:
    with db.engine.connect() as conn:
        return bytes(conn.execute(text("SELECT secret FROM devices WHERE id = :d"), {"d": device_id}).scalar_one())


def test_device_keys_are_sealed_and_ingest_still_verifies(db: Database) -> None:
    sealed_db = Database(db.url, secret_key=KEY)
    try:
        enrolment = devices.enrol(sealed_db, "cam-1")
        stored = _stored(db, "cam-1")
        assert stored.startswith(SEALED_PREFIX) and enrolment.secret not in stored
        assert devices.secrets_of(sealed_db, ["cam-1"]) == {"cam-1": (enrolment.secret, False)}
        assert devices.next_down_seq(sealed_db, "cam-1")[1] == enrolment.secret

        ingestor = Ingestor(sealed_db, HubMetrics(), IngestOptions(secret_cache_s=0))
        dev = FakeDevice("cam-1", enrolment.secret)
        result = ingestor.ingest_batch([("cam-1", dev.send(Heartbeat(fps=3.0)))])
        assert [o.status for o in result.outcomes] == ["stored"]
        assert result.acks["cam-1"].secret == enrolment.secret  # through the ingest transaction's RETURNING
    finally:
        sealed_db.close()


def test_a_hub_without_the_key_or_with_another_refuses(db: Database) -> None:
    sealed_db = Database(db.url, secret_key=KEY)
    devices.enrol(sealed_db, "cam-1")
    sealed_db.close()
    with pytest.raises(StorageError, match="set EDGESIGHT_HUB_SECRET_KEY"):
        devices.secrets_of(db, ["cam-1"])
    other = Database(db.url, secret_key=os.urandom(32))
    try:
        with pytest.raises(StorageError, match="wrong key"):
            devices.secrets_of(other, ["cam-1"])
    finally:
        other.close()


def test_keys_stored_in_clear_before_a_key_was_set_still_read(db: Database) -> None:
    enrolment = devices.enrol(db, "cam-old")
    assert _stored(db, "cam-old") == enrolment.secret
    sealed_db = Database(db.url, secret_key=KEY)
    try:
        assert devices.secrets_of(sealed_db, ["cam-old"])["cam-old"][0] == enrolment.secret
    finally:
        sealed_db.close()


def test_bad_master_keys_are_named() -> None:
    assert HubSettings(secret_key=base64.b64encode(KEY).decode()).master_key() == KEY
    with pytest.raises(ConfigError, match="must decode to 32 bytes, got 5"):
        HubSettings(secret_key=base64.b64encode(b"short").decode()).master_key()
    with pytest.raises(ConfigError, match="not valid base64"):
        HubSettings(secret_key="not base64!").master_key()
