"""Credentials files and the ``edgesight agent`` command (real sensor on vtest.avi, fake hub)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from fakehub import CredsMaker, FakeHub
from typer.testing import CliRunner

from edgesight.agent.credentials import load_credentials, parse_credentials
from edgesight.cli.agent import register
from edgesight.core.errors import ConfigError
from edgesight.core.wire import Kind, decode_batch

GOOD = {
    "device_id": "cam-1",
    "secret": base64.b64encode(b"k" * 32).decode(),
    "token": "tok-XYZ",
    "broker": "h:1",
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"secret": "not base64!"}, "secret is not valid base64"),
        ({"secret": base64.b64encode(b"short").decode()}, "at least 16 bytes, got 5"),
        ({"device_id": "cam 1"}, "device_id 'cam 1' must match"),
        ({"broker": "h:99999"}, "expected host:port"),
        ({"token": ""}, "token must be a non-empty string"),
        ({"extra": 1}, "unknown keys extra"),
    ],
)
def test_bad_credentials_are_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_credentials({**GOOD, **change}, "creds.json")


def test_credentials_file(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    with pytest.raises(ConfigError, match="cannot read credentials"):
        load_credentials(path)
    path.write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_credentials(path)
    path.write_text(json.dumps({k: v for k, v in GOOD.items() if k != "token"}))
    with pytest.raises(ConfigError, match="missing token"):
        load_credentials(path)
    path.write_text(json.dumps(GOOD))
    creds = load_credentials(path)
    assert creds.secret == b"k" * 32 and "kkkk" not in repr(creds) and creds.token not in repr(creds)


def test_agent_command_on_vtest(
    tmp_path: Path, vtest_path: Path, system_broker: tuple[str, int], make_creds: CredsMaker
) -> None:
    creds = make_creds(1)  # a wrong broker port, overridden by --broker
    config = {
        "device_id": creds.device_id,
        "sensor": {"source": str(vtest_path)},
        "analytics": {"lines": [{"name": "mid", "start": [0, 0.5], "end": [1, 0.5]}]},
    }
    (tmp_path / "device.yaml").write_text(yaml.safe_dump(config))
    secret = base64.b64encode(creds.secret).decode()
    raw_creds = {"device_id": creds.device_id, "secret": secret, "token": creds.token, "broker": "x:1"}
    (tmp_path / "creds.json").write_text(json.dumps(raw_creds))
    app = typer.Typer()
    register(app)
    app.command("unused")(lambda: None)  # two commands: typer keeps the `agent` name
    args = ["agent", "--config", str(tmp_path / "device.yaml"), "--credentials", str(tmp_path / "creds.json")]
    args += ["--broker", f"127.0.0.1:{system_broker[1]}", "--data-dir", str(tmp_path / "data")]
    args += ["--max-frames", "40", "--batch-frames", "15", "--drain-timeout", "20"]
    with FakeHub(*system_broker, {creds.device_id: creds.secret}) as hub:
        result = CliRunner().invoke(app, args, env={**os.environ, "COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        frames = [m for r in hub.messages(creds.device_id, Kind.FRAMES) for m in decode_batch(r.payload)]
    assert [m.frame_index for m in frames] == list(range(40))
    assert all(m.device_id == creds.device_id for m in frames)
    assert "40 frames" in result.output and "all acknowledged" in result.output


def test_agent_command_reports_bad_config(tmp_path: Path) -> None:
    (tmp_path / "device.yaml").write_text("device_id: cam-1\nsensor: {source: x.avi, roi: [0, 0, 2, 1]}\n")
    app = typer.Typer()
    register(app)
    app.command("unused")(lambda: None)
    result = CliRunner().invoke(
        app, ["agent", "--config", str(tmp_path / "device.yaml"), "--credentials", str(tmp_path / "c.json")]
    )
    assert isinstance(result.exception, ConfigError) and "sensor.roi" in str(result.exception)


def test_hub_enrol_output_is_a_credentials_file(tmp_path: Path) -> None:
    """The contract with the hub: what `edgesight hub enrol` prints, the agent loads as is."""
    hub_cli = pytest.importorskip("edgesight.cli.hub")
    app = typer.Typer()
    hub_cli.register(app)
    app.command("unused")(lambda: None)
    args = ["hub", "enrol", "cam-7", "--data-dir", str(tmp_path / "hub"), "--broker", "10.0.0.5:1884"]
    result = CliRunner().invoke(app, args, env={**os.environ, "EDGESIGHT_HUB_DB_URL": ""})
    assert result.exit_code == 0, result.output
    (tmp_path / "creds.json").write_text(result.stdout)
    creds = load_credentials(tmp_path / "creds.json")
    assert (creds.device_id, creds.broker_host, creds.broker_port, len(creds.secret)) == (
        "cam-7",
        "10.0.0.5",
        1884,
        32,
    )
