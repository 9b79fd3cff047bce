"""Issue 11 item 4: signed packages; unsigned, tampered, untrusted and downgraded ones are refused."""

from __future__ import annotations

import hashlib
import json
import stat
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgesight.core.errors import ConfigError, PackageTrustError
from edgesight.core.package import SIGNATURE_MEMBER, ModelPackage, write_package
from edgesight.core.signing import (
    key_id,
    load_private_key,
    public_key_text,
    sign_package,
    write_keypair,
)
from edgesight.core.trust import TrustSettings, verify_package
from edgesight.sensor.runtime import OnnxNetwork
from edgesight.sensor.zoo import resolve_model, verify_model, zoo_pins


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def rezip(path: Path, content: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in content.items():
            zf.writestr(name, data)
    return path


def package(tmp_path: Path, model: ModelPackage, version: str, name: str = "custom.espkg") -> Path:
    """A real network (the shipped int8 NanoDet) packaged as a custom model ``acme-people``."""
    return write_package(tmp_path / name, model_id="acme-people", version=version, network=model.network,
                         labels=model.labels, intrinsics=model.intrinsics)  # fmt: skip


@pytest.fixture
def vendor_key(tmp_path: Path) -> Ed25519PrivateKey:
    write_keypair(tmp_path / "keys" / "vendor")
    return load_private_key(tmp_path / "keys" / "vendor")


@pytest.fixture
def trust(vendor_key: Ed25519PrivateKey) -> TrustSettings:
    return TrustSettings(trusted_keys=(public_key_text(vendor_key.public_key()),))


def refusal(path: Path, settings: TrustSettings) -> PackageTrustError:
    with pytest.raises(PackageTrustError) as caught:
        verify_package(path, settings)
    return caught.value


def test_signed_package_is_accepted_and_runs(
    tmp_path: Path, nanodet_int8: ModelPackage, vendor_key: Ed25519PrivateKey, trust: TrustSettings
) -> None:
    path = sign_package(package(tmp_path, nanodet_int8, "1.0.0"), vendor_key)
    verdict = verify_package(path, trust)
    assert verdict.basis == f"signed by trusted key {key_id(vendor_key.public_key())}"
    assert verdict.package.network == nanodet_int8.network
    assert SIGNATURE_MEMBER not in verdict.package.extras
    assert OnnxNetwork(verdict.package).input_name


def test_unsigned_package_is_refused(tmp_path: Path, nanodet_int8: ModelPackage, trust: TrustSettings) -> None:
    error = refusal(package(tmp_path, nanodet_int8, "1.0.0"), trust)
    assert error.check == "unsigned" and "refused (unsigned)" in str(error)


def test_allow_unsigned_is_an_explicit_opt_out(tmp_path: Path, nanodet_int8: ModelPackage) -> None:
    path = package(tmp_path, nanodet_int8, "1.0.0")
    assert refusal(path, TrustSettings()).check == "unsigned"
    assert "allow_unsigned" in verify_package(path, TrustSettings(allow_unsigned=True)).basis


def test_changed_network_with_recomputed_manifest_is_refused(
    tmp_path: Path, nanodet_int8: ModelPackage, vendor_key: Ed25519PrivateKey, trust: TrustSettings
) -> None:
    """What an attacker would do: change the network, recompute every checksum, keep the signature."""
    content = members(sign_package(package(tmp_path, nanodet_int8, "1.0.0"), vendor_key))
    network = bytearray(content["model.onnx"])
    network[len(network) // 2] ^= 0xFF
    manifest = json.loads(content["manifest.json"])
    manifest["files"]["model.onnx"] = hashlib.sha256(network).hexdigest()
    content.update({"model.onnx": bytes(network), "manifest.json": json.dumps(manifest).encode()})
    error = refusal(rezip(tmp_path / "tampered.espkg", content), trust)
    assert error.check == "signature"
    assert "manifest.json does not match its signature" in str(error) and "tampered.espkg" in str(error)


def test_signature_moved_from_another_package_is_refused(
    tmp_path: Path, nanodet_int8: ModelPackage, vendor_key: Ed25519PrivateKey, trust: TrustSettings
) -> None:
    signed_v1 = members(sign_package(package(tmp_path, nanodet_int8, "1.0.0", "v1.espkg"), vendor_key))
    other = members(package(tmp_path, nanodet_int8, "9.0.0", "v9.espkg"))
    forged = rezip(tmp_path / "forged.espkg", {**other, SIGNATURE_MEMBER: signed_v1[SIGNATURE_MEMBER]})
    assert refusal(forged, trust).check == "signature"


def test_package_signed_by_an_untrusted_key_is_refused(
    tmp_path: Path, nanodet_int8: ModelPackage, trust: TrustSettings
) -> None:
    attacker = Ed25519PrivateKey.generate()
    path = sign_package(package(tmp_path, nanodet_int8, "1.0.0"), attacker)
    error = refusal(path, trust)
    assert error.check == "untrusted-key"
    assert f"signed by key {key_id(attacker.public_key())}" in str(error)


def test_older_version_of_an_accepted_model_is_refused(
    tmp_path: Path, nanodet_int8: ModelPackage, vendor_key: Ed25519PrivateKey, trust: TrustSettings
) -> None:
    state = tmp_path / "device" / "accepted-models.json"
    settings = trust.model_copy(update={"accepted_versions": state})
    v1 = sign_package(package(tmp_path, nanodet_int8, "1.9.0", "v1.espkg"), vendor_key)
    v2 = sign_package(package(tmp_path, nanodet_int8, "1.10.0", "v2.espkg"), vendor_key)
    assert verify_package(v1, settings).package.version == "1.9.0"
    assert verify_package(v2, settings).package.version == "1.10.0"  # 1.10 > 1.9: not string order
    assert verify_package(v2, settings).package.version == "1.10.0"  # the same version again is fine
    error = refusal(v1, settings)
    assert error.check == "downgrade"
    assert "acme-people version 1.9.0 is older than version 1.10.0 already accepted" in str(error)
    assert json.loads(state.read_text()) == {"acme-people": "1.10.0"}
    assert stat.S_IMODE(state.stat().st_mode) == 0o600


def test_zoo_packages_are_trusted_by_their_pin(tmp_path: Path) -> None:
    verdict = verify_model("nanodet-coco-int8")
    assert verdict.basis.startswith("zoo package pinned by sha256 ")
    original = resolve_model("ssdlite-person")
    content = members(original)
    content["labels.txt"] = b"person\n"  # same labels, different bytes in the zip: any change counts
    copy = rezip(tmp_path / original.name, content)
    with pytest.raises(PackageTrustError) as caught:
        verify_package(copy, TrustSettings(), pinned_sha256=zoo_pins()[original.name])
    assert caught.value.check == "zoo-pin" and "pinned in the zoo's pins.json" in str(caught.value)


def test_a_zoo_package_copied_out_of_the_zoo_needs_a_signature(tmp_path: Path) -> None:
    copy = tmp_path / "nanodet.espkg"
    copy.write_bytes(resolve_model("nanodet-coco-int8").read_bytes())
    assert refusal(copy, TrustSettings()).check == "unsigned"


def test_keys_are_written_private_and_loose_keys_are_refused(tmp_path: Path) -> None:
    public, public_path = write_keypair(tmp_path / "k")
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o600
    assert public_path.read_text().strip() == public_key_text(public)
    with pytest.raises(ConfigError, match="already exists"):
        write_keypair(tmp_path / "k")
    (tmp_path / "k").chmod(0o644)
    with pytest.raises(ConfigError, match=r"readable by others \(mode 0644\)"):
        load_private_key(tmp_path / "k")


def test_bad_trusted_key_in_settings_names_it() -> None:
    with pytest.raises(ValueError, match=r"trusted_keys\[1\]: a public key must look like"):
        TrustSettings(trusted_keys=("ed25519:O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik=", "ssh-rsa AAAA"))


def test_a_desired_twin_cannot_loosen_trust() -> None:
    """Trust is local: the hub's desired twin overrides sensor keys, not ``model_trust``."""
    from edgesight.agent.twin import parse_desired, resolve_twin
    from edgesight.core.config import DeviceConfig
    from edgesight.core.errors import SchemaError

    device = DeviceConfig.model_validate({"model_trust": {"trusted_keys": [], "allow_unsigned": False}})
    loosen = parse_desired(b'{"version": 2, "config": {"sensor": {"trust": {"allow_unsigned": true}}}}')
    with pytest.raises(SchemaError, match=r"desired twin config\.sensor: trust: Extra inputs are not permitted"):
        resolve_twin(loosen, device)
    with pytest.raises(SchemaError):
        parse_desired(b'{"version": 2, "config": {"model_trust": {"allow_unsigned": true}}}')


def test_checking_without_recording_leaves_the_state_alone(
    tmp_path: Path, nanodet_int8: ModelPackage, vendor_key: Ed25519PrivateKey, trust: TrustSettings
) -> None:
    state = tmp_path / "accepted.json"
    settings = trust.model_copy(update={"accepted_versions": state})
    v2 = sign_package(package(tmp_path, nanodet_int8, "2.0.0", "v2.espkg"), vendor_key)
    v1 = sign_package(package(tmp_path, nanodet_int8, "1.0.0", "v1.espkg"), vendor_key)
    verify_package(v2, settings, record=False)
    assert not state.exists()
    assert verify_package(v1, settings).package.version == "1.0.0"  # v2 was only checked, never accepted
