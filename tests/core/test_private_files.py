"""Secrets at rest: every file holding a device key is created 0600 (folders we make 0700).

Each test creates the file the real way (the hub's database with an enrolled device, the agent's
outbox with a queued message, the twin, the credentials written by ``edgesight hub enrol``) under
the common umask 022, which would give 0644 to a file made carelessly.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from edgesight.agent.outbox import Outbox
from edgesight.agent.twin import DesiredTwin, save_applied
from edgesight.cli.hub import register
from edgesight.core.private_files import ensure_private_file, write_private_text
from edgesight.core.wire import Kind
from edgesight.hub.settings import HubSettings
from edgesight.hub.storage import Database, devices


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_hub_database_and_its_journal_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "hub.sqlite3"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    devices.enrol(db, "cam-1")
    companions = [p for p in path.parent.iterdir() if p.name.startswith("hub.sqlite3")]
    assert {p.name for p in companions} >= {"hub.sqlite3", "hub.sqlite3-wal"}
    assert {p.name: mode(p) for p in companions} == {p.name: 0o600 for p in companions}
    db.close()
    assert mode(path.parent) == 0o700


def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    path = tmp_path / "hub.sqlite3"
    path.touch(mode=0o644)
    Database(f"sqlite:///{path}").close()
    assert mode(path) == 0o600
    assert mode(tmp_path) == 0o755  # a folder we did not create keeps its mode


def test_generated_admin_token_is_owner_only(tmp_path: Path) -> None:
    settings = HubSettings(data_dir=tmp_path / "hub", mqtt_host=None)
    token = settings.resolve_admin_token()
    assert (tmp_path / "hub" / "admin_token").read_text().strip() == token
    assert mode(tmp_path / "hub" / "admin_token") == 0o600


def test_agent_outbox_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "agent" / "outbox.sqlite"
    with Outbox(path) as box:
        box.put(Kind.HEARTBEAT, b"{}")
        assert {p.name: mode(p) for p in path.parent.iterdir()} == {
            "outbox.sqlite": 0o600, "outbox.sqlite-wal": 0o600, "outbox.sqlite-shm": 0o600,
        }  # fmt: skip
    assert mode(path.parent) == 0o700


def test_saved_twin_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "twin.json"
    save_applied(path, DesiredTwin(version=3))
    assert json.loads(path.read_text())["version"] == 3
    assert mode(path) == 0o600


def test_enrol_writes_credentials_owner_only(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)
    out = tmp_path / "device" / "cam-1.json"
    result = CliRunner().invoke(app, ["hub", "enrol", "cam-1", "--data-dir", str(tmp_path / "hub"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["device_id"] == "cam-1"
    assert "secret" not in result.output
    assert mode(out) == 0o600
    assert mode(out.parent) == 0o700


def test_rewriting_keeps_mode_and_replaces_content(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_text("old")
    path.chmod(0o644)
    write_private_text(path, "new")
    assert (path.read_text(), mode(path)) == ("new", 0o600)
    assert ensure_private_file(path) == path
    assert path.read_text() == "new"  # creating never truncates
