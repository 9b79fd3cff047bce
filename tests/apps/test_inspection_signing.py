"""Inspection products are signed and verified like model packages: refusals name the check."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgesight.apps.inspection.product import (
    InspectionProduct,
    ProductSettings,
    read_product,
    sign_product,
    verify_product,
    write_product,
)
from edgesight.core.errors import ModelLoadError, PackageTrustError
from edgesight.core.signing import public_key_text
from edgesight.core.trust import TrustSettings

VENDOR = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
ATTACKER = Ed25519PrivateKey.from_private_bytes(bytes(32))
TRUST = TrustSettings(trusted_keys=(public_key_text(VENDOR.public_key()),))


def _product(tmp_path: Path, version: str = "1") -> Path:
    settings = ProductSettings(
        part_size=(64, 64), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), backbone="toy@1", stride=8,
        border_cells=0, threshold=1.5, false_reject_rate=0.01, calibration_scores=(1.0, 1.5), train_parts=3,
    )  # fmt: skip
    product = InspectionProduct(
        id="bracket", version=version, settings=settings, network=b"onnx",
        bank=np.ones((4, 2), np.float32), projection=np.eye(2, dtype=np.float32),
    )  # fmt: skip
    return write_product(tmp_path / f"bracket-{version}.esinsp", product)


def _rewrite(path: Path, change: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    members.update(change)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_signed_product_is_accepted_by_a_trusted_key(tmp_path: Path) -> None:
    path = sign_product(_product(tmp_path), VENDOR)
    product, basis = verify_product(path, TRUST)
    assert product.settings.threshold == 1.5 and basis.startswith("signed by trusted key ")
    assert read_product(path).id == "bracket"  # the signature member is not an unlisted member


def test_unsigned_product_is_refused_unless_allowed(tmp_path: Path) -> None:
    path = _product(tmp_path)
    with pytest.raises(PackageTrustError, match=r"refused \(unsigned\): the product has no signature") as info:
        verify_product(path, TRUST)
    assert info.value.check == "unsigned" and "edgesight inspect sign" in str(info.value)
    _, basis = verify_product(path, TrustSettings(allow_unsigned=True))
    assert basis == "unsigned, accepted because allow_unsigned is on"


def test_product_signed_by_an_unknown_key_is_refused(tmp_path: Path) -> None:
    path = sign_product(_product(tmp_path), ATTACKER)
    with pytest.raises(PackageTrustError, match=r"refused \(untrusted-key\)") as info:
        verify_product(path, TRUST)
    assert info.value.check == "untrusted-key"


def test_threshold_changed_after_signing_is_refused_even_with_a_recomputed_manifest(tmp_path: Path) -> None:
    path = sign_product(_product(tmp_path), VENDOR)
    with zipfile.ZipFile(path) as zf:
        settings, manifest = zf.read("product.json"), json.loads(zf.read("manifest.json"))
    lenient = settings.replace(b"1.5", b"9.5", 1)
    manifest["files"]["product.json"] = hashlib.sha256(lenient).hexdigest()
    _rewrite(path, {"product.json": lenient, "manifest.json": json.dumps(manifest).encode()})
    assert read_product(path).settings.threshold == 9.5  # intact as a zip: only the signature tells
    with pytest.raises(PackageTrustError, match=r"refused \(signature\).*the product was altered after it") as info:
        verify_product(path, TRUST)
    assert info.value.check == "signature"


def test_tampered_member_is_refused_before_trust_and_never_signed(tmp_path: Path) -> None:
    path = _product(tmp_path)
    _rewrite(path, {"memory_bank.npy": b"\x93NUMPY tampered"})
    with pytest.raises(ModelLoadError, match=r"checksum mismatch for memory_bank\.npy \(product is corrupt"):
        verify_product(path, TrustSettings(allow_unsigned=True))
    with pytest.raises(ModelLoadError, match=r"checksum mismatch for memory_bank\.npy"):
        sign_product(path, VENDOR)


def test_an_older_product_than_one_accepted_before_is_refused_as_a_downgrade(tmp_path: Path) -> None:
    trust = TRUST.model_copy(update={"accepted_versions": tmp_path / "accepted.json"})
    new, old = sign_product(_product(tmp_path, "2.0.0"), VENDOR), sign_product(_product(tmp_path, "1.5.0"), VENDOR)
    assert verify_product(old, trust)[0].version == "1.5.0"  # nothing accepted yet: fine
    assert verify_product(new, trust)[0].version == "2.0.0"  # and recorded
    with pytest.raises(PackageTrustError, match=r"refused \(downgrade\): bracket version 1.5.0 is older than version 2.0.0") as err:
        verify_product(old, trust)
    assert err.value.check == "downgrade"
    assert json.loads((tmp_path / "accepted.json").read_text()) == {"bracket": "2.0.0"}
