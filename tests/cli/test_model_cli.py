"""`edgesight model keygen|sign|verify` and the device config's trust section, as a user meets them."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import yaml

from edgesight.core.package import ModelPackage, write_package

EDGESIGHT = [sys.executable, "-c", "from edgesight.cli import main; main()"]


def edgesight(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EDGESIGHT, *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd)


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def custom_package(path: Path, model: ModelPackage, version: str = "1.0.0") -> Path:
    return write_package(path, model_id="acme-people", version=version, network=model.network,
                         labels=model.labels, intrinsics=model.intrinsics)  # fmt: skip


def test_keygen_sign_verify(tmp_path: Path, nanodet_int8: ModelPackage) -> None:
    result = edgesight("model", "keygen", tmp_path / "keys" / "acme")
    assert result.returncode == 0, result.stderr
    public = (tmp_path / "keys" / "acme.pub").read_text().strip()
    assert public.startswith("ed25519:") and public in result.stdout
    assert stat.S_IMODE((tmp_path / "keys" / "acme").stat().st_mode) == 0o600

    pkg = custom_package(tmp_path / "acme.espkg", nanodet_int8)
    unsigned = edgesight("model", "verify", pkg, "--trusted-key", tmp_path / "keys" / "acme.pub")
    assert unsigned.returncode == 1 and "refused (unsigned)" in error_line(unsigned)

    signed = edgesight("model", "sign", pkg, "--key", tmp_path / "keys" / "acme", "--out", tmp_path / "s.espkg")
    assert signed.returncode == 0, signed.stderr
    assert "signed" in signed.stdout and "acme-people@1.0.0" in signed.stdout

    ok = edgesight("model", "verify", tmp_path / "s.espkg", "--trusted-key", tmp_path / "keys" / "acme.pub")
    assert ok.returncode == 0, ok.stderr
    assert "ok acme-people@1.0.0" in ok.stdout and "signed by trusted key" in ok.stdout

    untrusted = edgesight("model", "verify", tmp_path / "s.espkg")
    assert untrusted.returncode == 1 and "refused (untrusted-key)" in error_line(untrusted)

    zoo = edgesight("model", "verify", "nanodet-coco-int8")
    assert zoo.returncode == 0 and "zoo package pinned by sha256" in zoo.stdout


def test_device_config_trust_applies_to_sense(tmp_path: Path, nanodet_int8: ModelPackage, vtest_path: Path) -> None:
    assert edgesight("model", "keygen", tmp_path / "acme").returncode == 0
    public = (tmp_path / "acme.pub").read_text().strip()
    state = tmp_path / "accepted.json"
    config = tmp_path / "device.yaml"
    config.write_text(yaml.safe_dump({"model_trust": {"trusted_keys": [public], "accepted_versions": str(state)}}))

    v2 = custom_package(tmp_path / "v2.espkg", nanodet_int8, "2.0.0")
    refused = edgesight("sense", "--config", config, "--source", vtest_path, "--model", v2, "--max-frames", "2")
    assert refused.returncode == 1 and "refused (unsigned)" in error_line(refused)

    assert edgesight("model", "sign", v2, "--key", tmp_path / "acme").returncode == 0
    ran = edgesight("sense", "--config", config, "--source", vtest_path, "--model", v2, "--max-frames", "2",
                    "--out", tmp_path / "out.jsonl")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 2

    v1 = custom_package(tmp_path / "v1.espkg", nanodet_int8, "1.0.0")
    assert edgesight("model", "sign", v1, "--key", tmp_path / "acme").returncode == 0
    checked = edgesight("model", "verify", tmp_path / "v2.espkg", "--config", config)  # check only
    assert checked.returncode == 0 and json.loads(state.read_text()) == {"acme-people": "2.0.0"}
    downgrade = edgesight("model", "verify", v1, "--config", config)
    assert downgrade.returncode == 1
    assert "refused (downgrade): acme-people version 1.0.0 is older than version 2.0.0" in error_line(downgrade)


def test_bad_key_in_device_config_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "device.yaml"
    config.write_text(yaml.safe_dump({"model_trust": {"trusted_keys": ["ed25519:nope"]}}))
    result = edgesight("model", "verify", "nanodet-coco-int8", "--config", config)
    assert result.returncode == 2
    assert "model_trust.trusted_keys" in error_line(result) and "trusted_keys[0]" in error_line(result)
