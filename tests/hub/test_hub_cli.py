"""``edgesight hub enrol`` / ``revoke``: the credentials file is what the agent loads."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgesight.cli.hub import hub_app
from edgesight.hub.storage import Database, devices


def test_enrol_prints_agent_credentials_and_revoke_cuts_off(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(hub_app, ["enrol", "cam-7", "--site", "s", "--data-dir", str(tmp_path),
                                     "--broker", "hub.local:1883"])  # fmt: skip
    assert result.exit_code == 0, result.output
    creds = json.loads(result.stdout)
    assert set(creds) == {"device_id", "secret", "token", "broker"}
    assert len(base64.b64decode(creds["secret"])) == 32
    agent = pytest.importorskip("edgesight.agent.credentials")
    parsed = agent.parse_credentials(creds)
    assert (parsed.device_id, parsed.broker_host, parsed.broker_port) == ("cam-7", "hub.local", 1883)
    assert runner.invoke(hub_app, ["enrol", "cam-7", "--data-dir", str(tmp_path)]).exit_code != 0
    assert runner.invoke(hub_app, ["revoke", "cam-7", "--data-dir", str(tmp_path)]).exit_code == 0
    db = Database(f"sqlite:///{tmp_path / 'hub.sqlite3'}")
    assert not devices.verify_token(db, "cam-7", creds["token"])
    db.close()
