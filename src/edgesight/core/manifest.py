"""The checksummed manifest shared by EdgeSight's zip formats (model packages, inspection products).

An archive is a zip whose ``manifest.json`` names its format, id and version and lists the SHA-256
of every other member::

    {"format": "edgesight.model-package/1", "id": "...", "version": "...", "files": {name: sha256}}

The one member the manifest cannot list is ``manifest.sig``, the detached signature of the
manifest's exact bytes (:mod:`edgesight.core.signing`), so signing the manifest signs the archive.
Each format is an :class:`ArchiveFormat`; the checks and their messages are the same for all,
worded with the format's noun ("package", "product").
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from edgesight.core.errors import ModelLoadError

__all__ = ["MANIFEST_MEMBER", "SIGNATURE_MEMBER", "ArchiveFormat", "Manifest", "verify_members", "write_archive"]

MANIFEST_MEMBER = "manifest.json"
SIGNATURE_MEMBER = "manifest.sig"
"""The detached Ed25519 signature of ``manifest.json`` (see :mod:`edgesight.core.signing`)."""


@dataclass(frozen=True)
class ArchiveFormat:
    """One zip format with a manifest.

    Attributes:
        format: the manifest's ``format`` value, e.g. ``edgesight.model-package/1``.
        noun: what the archive is called in messages (``package``, ``product``).
        required: members every archive of the format holds.
    """

    format: str
    noun: str
    required: tuple[str, ...]


@dataclass(frozen=True)
class Manifest:
    """A parsed ``manifest.json``."""

    id: str
    version: str
    files: Mapping[str, str]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_archive(path: Path, fmt: ArchiveFormat, archive_id: str, version: str, members: Mapping[str, bytes]) -> Path:
    """Write ``members`` and their manifest as a zip at ``path`` (ids are checked by the caller).

    Example:
        >>> import tempfile
        >>> toy = ArchiveFormat("toy/1", "toy", ("a.txt",))
        >>> path = write_archive(Path(tempfile.mkdtemp()) / "t.zip", toy, "t", "1", {"a.txt": b"a"})
        >>> with zipfile.ZipFile(path) as zf:
        ...     members = {name: zf.read(name) for name in zf.namelist()}
        >>> verify_members(members, toy, "t.zip").id
        't'
        >>> verify_members({**members, "a.txt": b"b"}, toy, "t.zip")
        Traceback (most recent call last):
        ...
        edgesight.core.errors.ModelLoadError: t.zip: checksum mismatch for a.txt (toy is corrupt or was tampered with)
    """
    manifest = {
        "format": fmt.format,
        "id": archive_id,
        "version": version,
        "files": {name: _sha256(data) for name, data in sorted(members.items())},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST_MEMBER, json.dumps(manifest, indent=2))
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def verify_members(members: Mapping[str, bytes], fmt: ArchiveFormat, source: str) -> Manifest:
    """Check unpacked ``members`` against their manifest; every problem raises :class:`ModelLoadError`.

    Checked: the manifest parses and has ``fmt``'s format, string id and version and a files
    mapping; every required member exists; every member but the manifest and its signature is
    listed with the right SHA-256; every listed member exists.
    """
    manifest = _read_manifest(members, fmt, source)
    noun = fmt.noun
    for name in fmt.required:
        if name not in members:
            raise ModelLoadError(f"{source}: {noun} is missing {name}")
    for name, data in members.items():
        if name in (MANIFEST_MEMBER, SIGNATURE_MEMBER):
            continue
        expected = manifest.files.get(name)
        if expected is None:
            raise ModelLoadError(f"{source}: {name} is not listed in manifest.json ({noun} was altered)")
        if _sha256(data) != expected:
            raise ModelLoadError(f"{source}: checksum mismatch for {name} ({noun} is corrupt or was tampered with)")
    for name in manifest.files:
        if name not in members:
            raise ModelLoadError(f"{source}: manifest lists {name} but the {noun} does not contain it")
    return manifest


def _read_manifest(members: Mapping[str, bytes], fmt: ArchiveFormat, source: str) -> Manifest:
    raw = members.get(MANIFEST_MEMBER)
    if raw is None:
        raise ModelLoadError(f"{source}: {fmt.noun} has no manifest.json")
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        raise ModelLoadError(f"{source}: manifest.json is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != fmt.format:
        got = manifest.get("format") if isinstance(manifest, dict) else manifest
        raise ModelLoadError(
            f"{source}: manifest.json format must be {fmt.format!r}, got {got!r} (a {fmt.noun} of another "
            "EdgeSight version or not an EdgeSight archive: make it again with this version)"
        )
    for key in ("id", "version"):
        if not isinstance(manifest.get(key), str) or not manifest[key]:
            raise ModelLoadError(f"{source}: manifest.json needs a non-empty string {key!r}")
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise ModelLoadError(f"{source}: manifest.json needs a 'files' mapping of name -> sha256")
    return Manifest(id=manifest["id"], version=manifest["version"], files=files)
