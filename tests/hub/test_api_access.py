"""Who may reach the API: failed logins rate-limited per client, docs closed, HTTPS served directly."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import typer
from fastapi.testclient import TestClient
from hubkit import ADMIN, ADMIN_HEADERS, api_client
from typer.testing import CliRunner

from edgesight.cli.hub import register
from edgesight.core.errors import ConfigError
from edgesight.hub.storage import Database
from pki import TestPki

H = ADMIN_HEADERS


@pytest.fixture
def client(db: Database, tmp_path: Path) -> Iterator[TestClient]:
    with api_client(db, tmp_path, auth_failures_per_minute=5) as c:
        yield c


def test_failed_logins_are_limited_per_client(client: TestClient) -> None:
    bad = {"Authorization": "Bearer not-the-admin-token"}
    assert [client.get("/api/v1/devices", headers=bad).status_code for _ in range(5)] == [401] * 5
    r = client.get("/api/v1/devices", headers=bad)
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert "too many failed logins" in r.json()["detail"]
    assert client.get("/api/v1/devices", headers=H).status_code == 429  # even the right token waits
    device = {"Authorization": "Bearer cam-1:guess"}
    assert client.post("/api/v1/ingest", content=b"", headers=device).status_code == 429
    other = TestClient(client.app, client=("10.1.2.3", 5000))  # another address is not affected
    assert other.get("/api/v1/devices", headers=H).status_code == 200
    assert client.get("/health").status_code == 200


def test_device_token_guesses_count_too(client: TestClient) -> None:
    device = {"Authorization": "Bearer cam-1:guess"}
    codes = [client.post("/api/v1/ingest", content=b"", headers=device).status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]


def test_missing_credentials_are_not_failures(client: TestClient) -> None:
    assert {client.get("/api/v1/devices").status_code for _ in range(10)} == {401}
    assert client.get("/api/v1/devices", headers=H).status_code == 200


def test_docs_need_the_admin_token_unless_public(client: TestClient, db: Database, tmp_path: Path) -> None:
    assert client.get("/openapi.json").status_code == 401
    assert client.get("/openapi.json", headers=H).json()["info"]["title"] == "EdgeSight hub"
    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404
    with api_client(db, tmp_path / "public", public_docs=True) as public:
        assert public.get("/openapi.json").status_code == 200
        assert public.get("/docs").status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_hub_serves_https_with_tls_cert_and_key(tmp_path: Path) -> None:
    pki = TestPki(tmp_path / "pki")
    server = pki.issue("hub", server=True)
    port = _free_port()
    env = {**os.environ, "EDGESIGHT_HUB_ADMIN_TOKEN": ADMIN}
    cmd = [sys.executable, "-c", "from edgesight.cli import main; main()", "hub", "serve", "--mqtt", "off",
           "--data-dir", str(tmp_path / "hub"), "--port", str(port), "--tls-cert", str(server.cert),
           "--tls-key", str(server.key)]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        trusted = ssl.create_default_context(cafile=str(pki.ca))
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"https://127.0.0.1:{port}/health", verify=trusted, timeout=2)
                break
            except httpx.ConnectError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "hub exited"
                assert time.monotonic() < deadline, "the hub did not start"
                time.sleep(0.2)
        assert r.status_code == 200
        assert r.json()["status"] == "ok"
        assert httpx.get(f"https://127.0.0.1:{port}/api/v1/devices", headers=H, verify=trusted).status_code == 200
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"https://127.0.0.1:{port}/health", timeout=2)  # not signed by a system CA
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)  # no plain HTTP on that port
    finally:
        proc.terminate()
        proc.wait(20)


def test_serve_refuses_a_certificate_without_its_key(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["hub", "serve", "--mqtt", "off", "--tls-cert", str(tmp_path / "c.pem")])
    assert isinstance(result.exception, ConfigError)
    assert "--tls-cert and --tls-key go together" in str(result.exception)
