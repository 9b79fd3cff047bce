"""Model packages: every kind of damage is refused with a message naming it."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from edgesight.core.errors import ModelLoadError
from edgesight.core.package import ModelPackage, read_package, write_package
from edgesight.sensor.runtime import OnnxNetwork
from edgesight.sensor.zoo import resolve_model
from modelkit import with_input_size


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def rezip(path: Path, content: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in content.items():
            zf.writestr(name, data)
    return path


@pytest.fixture
def shipped() -> dict[str, bytes]:
    return members(resolve_model("nanodet-coco-int8"))


def test_shipped_packages_verify(nanodet_int8: ModelPackage, ssdlite: ModelPackage) -> None:
    assert nanodet_int8.intrinsics.precision == "int8" and len(nanodet_int8.labels) == 80
    assert nanodet_int8.labels[0] == "person"
    assert ssdlite.labels == ("person",) and "anchors.npy" in ssdlite.extras
    assert any(name.startswith("LICENSES/") for name in nanodet_int8.extras)


def test_flipped_byte_in_network_is_a_checksum_mismatch(shipped: dict[str, bytes], tmp_path: Path) -> None:
    network = bytearray(shipped["model.onnx"])
    network[len(network) // 2] ^= 0xFF
    path = rezip(tmp_path / "bad.espkg", {**shipped, "model.onnx": bytes(network)})
    with pytest.raises(ModelLoadError, match=r"checksum mismatch for model\.onnx"):
        read_package(path)


def test_missing_labels(shipped: dict[str, bytes], tmp_path: Path) -> None:
    content = {k: v for k, v in shipped.items() if k != "labels.txt"}
    with pytest.raises(ModelLoadError, match=r"missing labels\.txt"):
        read_package(rezip(tmp_path / "bad.espkg", content))


def test_unlisted_member_is_tampering(shipped: dict[str, bytes], tmp_path: Path) -> None:
    path = rezip(tmp_path / "bad.espkg", {**shipped, "payload.sh": b"rm -rf /"})
    with pytest.raises(ModelLoadError, match=r"payload\.sh is not listed"):
        read_package(path)


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "bad.espkg"
    path.write_bytes(b"not a zip at all")
    with pytest.raises(ModelLoadError, match="not a readable model package"):
        read_package(path)


def test_bad_intrinsics_name_the_key(shipped: dict[str, bytes], tmp_path: Path) -> None:
    intrinsics = json.loads(shipped["intrinsics.json"])
    intrinsics["input"]["width"] = -3
    data = json.dumps(intrinsics).encode()
    manifest = json.loads(shipped["manifest.json"])
    import hashlib

    manifest["files"]["intrinsics.json"] = hashlib.sha256(data).hexdigest()
    content = {**shipped, "intrinsics.json": data, "manifest.json": json.dumps(manifest).encode()}
    with pytest.raises(ModelLoadError, match=r"intrinsics.json: input.width: .*got -3"):
        read_package(rezip(tmp_path / "bad.espkg", content))


def test_intrinsics_that_do_not_match_the_network(nanodet_int8: ModelPackage, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"expects tensor shape \[1, 3, 320, 320\].*\[1, 3, 416, 416\]"):
        OnnxNetwork(with_input_size(nanodet_int8, tmp_path, 320))


def test_labels_that_do_not_match_the_network(nanodet_int8: ModelPackage, tmp_path: Path) -> None:
    from edgesight.sensor.detector import Detector

    path = write_package(tmp_path / "m.espkg", model_id="wrong", version="1", network=nanodet_int8.network,
                         labels=["person", "car"], intrinsics=nanodet_int8.intrinsics)  # fmt: skip
    with pytest.raises(ModelLoadError, match=r"labels.txt has 2 labels"):
        Detector(read_package(path))


def test_garbage_network(nanodet_int8: ModelPackage, tmp_path: Path) -> None:
    path = write_package(tmp_path / "m.espkg", model_id="junk", version="1", network=b"\x00junk",
                         labels=["person"], intrinsics=nanodet_int8.intrinsics)  # fmt: skip
    with pytest.raises(ModelLoadError, match="does not load in ONNX Runtime"):
        OnnxNetwork(read_package(path))
