"""Model packages (``.espkg``): one file that carries a network and everything needed to run it.

A package is a zip archive::

    manifest.json     format, id, version, sha256 of every other member
    model.onnx        the network
    labels.txt        one class label per line, in class-id order
    intrinsics.json   see :class:`edgesight.core.intrinsics.Intrinsics`
    <extras>          decoder data (e.g. ``anchors.npy``), licence texts

The loader checks the format, that every member is listed with the right checksum (and nothing
unlisted is present), that labels exist and that the intrinsics validate. Checking that the
intrinsics match the network's tensors needs ONNX Runtime and so happens in the sensor runtime.
Whether a package is *trusted* (zoo pin or signature) is :mod:`edgesight.core.trust`'s job; the
optional ``manifest.sig`` member holds the signature and is the one member the manifest cannot list.

Unpacking is bounded (:data:`LIMITS`): a zip declares each member's size, but a crafted one can
declare anything, so members are refused on their declared size and compression ratio first and
then decompressed in chunks with a hard cap, never more than one chunk past the limit.
"""

from __future__ import annotations

import io
import lzma
import re
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from edgesight.core.errors import ModelLoadError
from edgesight.core.intrinsics import Intrinsics
from edgesight.core.manifest import SIGNATURE_MEMBER, ArchiveFormat, verify_members, write_archive

__all__ = [
    "LIMITS",
    "PACKAGE",
    "PACKAGE_FORMAT",
    "PACKAGE_SUFFIX",
    "SIGNATURE_MEMBER",
    "ModelPackage",
    "UnpackLimits",
    "parse_package",
    "read_package",
    "read_package_bytes",
    "unpack_bytes",
    "unpack_members",
    "write_package",
]

PACKAGE_FORMAT = "edgesight.model-package/1"
PACKAGE_SUFFIX = ".espkg"
_REQUIRED = ("model.onnx", "labels.txt", "intrinsics.json")
_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
PACKAGE = ArchiveFormat(PACKAGE_FORMAT, "package", _REQUIRED)
"""The model package as one of the manifest formats of :mod:`edgesight.core.manifest`."""
_CHUNK = 1 << 20
# What zipfile and its codecs raise on damaged archives: bad headers, names, seeks, streams, methods.
_UNREADABLE = (
    zipfile.BadZipFile, EOFError, OSError, zlib.error, lzma.LZMAError, ValueError, IndexError, RuntimeError,
    NotImplementedError,
)


@dataclass(frozen=True)
class UnpackLimits:
    """Bounds on what unpacking one package may cost, whatever its zip headers claim.

    Attributes:
        max_members: most members a package may hold.
        max_member_bytes: largest uncompressed member (a network with its weights).
        max_total_bytes: largest sum of uncompressed members.
        max_ratio: largest uncompressed/compressed ratio of a member bigger than ``ratio_floor``
            (ONNX weights deflate about 1.1-3x; a deflate bomb of zeros about 1000x).
        ratio_floor: members up to this size are not ratio-checked (tiny text files compress well).
    """

    max_members: int = 256
    max_member_bytes: int = 512 << 20
    max_total_bytes: int = 768 << 20
    max_ratio: float = 100.0
    ratio_floor: int = 1 << 20


LIMITS = UnpackLimits()
"""The limits every reader in this module uses."""


@dataclass(frozen=True)
class ModelPackage:
    """A loaded, verified model package."""

    id: str
    version: str
    intrinsics: Intrinsics
    labels: tuple[str, ...]
    network: bytes
    extras: Mapping[str, bytes] = field(default_factory=dict)
    source: str = "<memory>"

    @property
    def name(self) -> str:
        """``id@version``, as shown to users."""
        return f"{self.id}@{self.version}"


def write_package(
    path: Path,
    *,
    model_id: str,
    version: str,
    network: bytes,
    labels: list[str] | tuple[str, ...],
    intrinsics: Intrinsics,
    extras: Mapping[str, bytes] | None = None,
) -> Path:
    """Write a package file and return its path.

    Example:
        >>> import tempfile
        >>> i = Intrinsics.model_validate({"task": "classification", "input": {"width": 8, "height": 8},
        ...                                "decoder": {"name": "classification"}})
        >>> p = write_package(Path(tempfile.mkdtemp()) / "m.espkg", model_id="toy", version="1",
        ...                   network=b"onnx", labels=["a", "b"], intrinsics=i)
        >>> read_package(p).labels
        ('a', 'b')
    """
    if not _ID_PATTERN.match(model_id):
        raise ModelLoadError(f"model id {model_id!r} must match {_ID_PATTERN.pattern}")
    members: dict[str, bytes] = {
        "model.onnx": network,
        "labels.txt": ("\n".join(labels) + "\n").encode(),
        "intrinsics.json": intrinsics.model_dump_json(indent=2).encode(),
        **(extras or {}),
    }
    return write_archive(path, PACKAGE, model_id, version, members)


def read_package(path: Path | str) -> ModelPackage:
    """Load and verify a package; every problem raises :class:`ModelLoadError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"model package not found: {path}")
    try:
        with zipfile.ZipFile(path) as zf:
            members = unpack_members(zf, str(path))
    except _UNREADABLE as exc:
        raise ModelLoadError(f"{path}: not a readable model package ({exc})") from exc
    return parse_package(members, source=str(path))


def read_package_bytes(data: bytes, source: str = "<bytes>") -> ModelPackage:
    """Load and verify a package held in memory (e.g. received from the hub)."""
    return parse_package(unpack_bytes(data, source), source=source)


def unpack_bytes(data: bytes, source: str) -> dict[str, bytes]:
    """The members of a package held in memory, unpacked within :data:`LIMITS`."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return unpack_members(zf, source)
    except _UNREADABLE as exc:
        raise ModelLoadError(f"{source}: not a readable model package ({exc})") from exc


def unpack_members(zf: zipfile.ZipFile, source: str, limits: UnpackLimits = LIMITS) -> dict[str, bytes]:
    """Every file member of ``zf`` by name, unpacked within ``limits``.

    Raises:
        ModelLoadError: naming the member and the limit it breaks, before it is unpacked in full.

    Example:
        >>> buf = io.BytesIO()
        >>> with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as out:
        ...     out.writestr("zeros.bin", bytes(4 << 20))
        >>> unpack_members(zipfile.ZipFile(buf), "bomb.espkg")
        Traceback (most recent call last):
        ...
        edgesight.core.errors.ModelLoadError: bomb.espkg: member zeros.bin expands 1028x (4194304 bytes from 4080), ...
    """
    infos = [info for info in zf.infolist() if not info.is_dir()]
    if len(infos) > limits.max_members:
        raise ModelLoadError(f"{source}: {len(infos)} members, more than the limit of {limits.max_members}")
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        raise ModelLoadError(f"{source}: a member name appears twice (package was altered)")
    for info in infos:
        _check_declared(info, source, limits)
    declared_total = sum(info.file_size for info in infos)
    if declared_total > limits.max_total_bytes:
        raise ModelLoadError(
            f"{source}: members expand to {declared_total} bytes, more than the limit of {limits.max_total_bytes}"
        )
    members: dict[str, bytes] = {}
    budget = limits.max_total_bytes
    for info in infos:
        data = _read_capped(zf, info, min(info.file_size, limits.max_member_bytes, budget), source)
        budget -= len(data)
        members[info.filename] = data
    return members


def _check_declared(info: zipfile.ZipInfo, source: str, limits: UnpackLimits) -> None:
    if info.file_size > limits.max_member_bytes:
        raise ModelLoadError(
            f"{source}: member {info.filename} declares {info.file_size} bytes, "
            f"more than the limit of {limits.max_member_bytes}"
        )
    if info.file_size > limits.ratio_floor:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_ratio:
            raise ModelLoadError(
                f"{source}: member {info.filename} expands {ratio:.0f}x ({info.file_size} bytes from "
                f"{info.compress_size}), more than the limit of {limits.max_ratio:.0f}x (a decompression bomb?)"
            )


def _read_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, source: str) -> bytes:
    """Decompress one member in chunks; stop as soon as it yields more than ``cap`` bytes."""
    parts: list[bytes] = []
    size = 0
    with zf.open(info) as member:
        while chunk := member.read(min(_CHUNK, cap - size + 1)):
            size += len(chunk)
            if size > cap:
                raise ModelLoadError(
                    f"{source}: member {info.filename} expands past {cap} bytes "
                    f"(its header declares {info.file_size}): refused"
                )
            parts.append(chunk)
    return b"".join(parts)


def parse_package(members: dict[str, bytes], source: str) -> ModelPackage:
    """Verify the members of an unpacked package against its manifest."""
    manifest = verify_members(members, PACKAGE, source)
    try:
        text = members["labels.txt"].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelLoadError(f"{source}: labels.txt is not UTF-8 ({exc})") from exc
    labels = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not labels:
        raise ModelLoadError(f"{source}: labels.txt has no labels")
    try:
        intrinsics = Intrinsics.model_validate_json(members["intrinsics.json"])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "<root>"
        raise ModelLoadError(
            f"{source}: intrinsics.json: {where}: {first['msg']} (got {first.get('input')!r})"
        ) from exc
    extras = {n: d for n, d in members.items() if n not in (*_REQUIRED, "manifest.json", SIGNATURE_MEMBER)}
    return ModelPackage(
        id=manifest.id,
        version=manifest.version,
        intrinsics=intrinsics,
        labels=labels,
        network=members["model.onnx"],
        extras=extras,
        source=source,
    )
