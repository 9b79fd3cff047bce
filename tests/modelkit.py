"""Model packages for the rollout tests: a real zoo network re-packaged under a new id and version,
signed; and what an attacker or a bad build would produce (tampered, unsigned, broken network,
intrinsics that do not fit the network)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgesight.core.package import ModelPackage, read_package, write_package
from edgesight.core.signing import public_key_text, sign_package
from edgesight.sensor.zoo import load_model

BASE = "nanodet-plus-m-320-int8"
"""The smallest zoo network (1.3 MB, one 320x320 pass): agents under test run it."""
BASE_VERSION = load_model(BASE).version
"""Its version in the zoo (rebuilding the zoo moves it)."""
MODEL_ID = "acme-people"


def new_key() -> tuple[Ed25519PrivateKey, str]:
    key = Ed25519PrivateKey.generate()
    return key, public_key_text(key.public_key())


def package(folder: Path, version: str, key: Ed25519PrivateKey | None, *, network: bytes | None = None,
            model_id: str = MODEL_ID) -> Path:  # fmt: skip
    """The base network as ``model_id@version`` (its own network unless ``network``), signed by ``key``."""
    base = load_model(BASE)
    path = write_package(
        folder / f"{model_id}-{version}.espkg", model_id=model_id, version=version,
        network=base.network if network is None else network, labels=base.labels, intrinsics=base.intrinsics,
    )  # fmt: skip
    return path if key is None else sign_package(path, key)


def with_input_size(base: ModelPackage, folder: Path, size: int) -> ModelPackage:
    """``base``'s network packaged with intrinsics declaring a ``size`` x ``size`` input."""
    wrong = base.intrinsics.model_copy(update={"input": base.intrinsics.input.model_copy(update={"width": size, "height": size})})
    path = write_package(folder / "wrong.espkg", model_id="wrong", version="1", network=base.network,
                         labels=base.labels, intrinsics=wrong)  # fmt: skip
    return read_package(path)


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def tampered(signed: Path, out: Path) -> Path:
    """What an attacker would do: change the network, recompute every checksum, keep the signature."""
    content = members(signed)
    network = bytearray(content["model.onnx"])
    network[len(network) // 2] ^= 0xFF
    manifest = json.loads(content["manifest.json"])
    manifest["files"]["model.onnx"] = hashlib.sha256(network).hexdigest()
    content.update({"model.onnx": bytes(network), "manifest.json": json.dumps(manifest).encode()})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in content.items():
            zf.writestr(name, data)
    out.write_bytes(buffer.getvalue())
    return out
