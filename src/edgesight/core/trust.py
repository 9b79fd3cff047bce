"""Which model packages a device (or the hub) accepts, and the refusal of the others.

The decision, in order, after the package is found intact (:mod:`edgesight.core.package`):

1. **Zoo pin.** A package shipped in the zoo is trusted like the code it ships with: its SHA-256 is
   pinned in ``zoo/pins.json`` (written by ``tools/build_zoo.py``); a zoo file that differs is refused.
2. **Signature.** Any other package must carry ``manifest.sig`` by one of the trusted public keys
   (:mod:`edgesight.core.signing`). Unsigned packages are refused unless ``allow_unsigned`` is on
   (development only; off by default). A signature that is present is always checked.
3. **No downgrade.** When the device keeps an ``accepted_versions`` file, a package older than the
   highest version already accepted for its model id is refused; accepting one records it.

Every refusal is a :class:`~edgesight.core.errors.PackageTrustError` whose ``check`` and message
name the check that failed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from packaging.version import InvalidVersion, Version

from edgesight.core.config.model_trust import TrustSettings
from edgesight.core.errors import ModelLoadError, PackageTrustError
from edgesight.core.package import LIMITS, ModelPackage, parse_package, unpack_bytes
from edgesight.core.signing import check_signature, key_id

__all__ = ["AcceptedVersions", "TrustSettings", "Verdict", "sha256_file", "signature_basis", "verify_package"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    """An accepted package and why it was trusted (e.g. ``signed by key 139e3940e64b5491``)."""

    package: ModelPackage
    basis: str


class Versioned(Protocol):
    """What the downgrade check reads of an archive: a model package or an inspection product."""

    @property
    def id(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def source(self) -> str: ...


class AcceptedVersions:
    """The highest version accepted per id (model or product), kept in a small JSON file (0600)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, str]:
        """Model id -> highest accepted version (empty before the first acceptance)."""
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"accepted-versions file {self.path} is unreadable ({exc})") from exc
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise ModelLoadError(f"accepted-versions file {self.path} must map model id -> version")
        return data

    def check(self, package: Versioned) -> None:
        """Refuse ``package`` if a newer version of its model id was accepted before."""
        highest = self.load().get(package.id)
        if highest is not None and _version(package, package.version) < _version(package, highest):
            raise PackageTrustError(
                "downgrade",
                f"{package.source}: refused (downgrade): {package.id} version {package.version} is older than "
                f"version {highest} already accepted (recorded in {self.path})",
            )

    def record(self, package: Versioned) -> None:
        """Remember ``package``'s version if it is the highest seen for its id."""
        accepted = self.load()
        highest = accepted.get(package.id)
        if highest is not None and _version(package, highest) >= _version(package, package.version):
            return
        accepted[package.id] = package.version
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(accepted, out, indent=2, sort_keys=True)
        partial.replace(self.path)


def _version(package: Versioned, text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        raise PackageTrustError(
            "downgrade",
            f"{package.source}: version {text!r} of {package.id} is not a PEP 440 version (e.g. 1.2.0), "
            "so a downgrade cannot be ruled out",
        ) from None


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify_package(
    path: Path, settings: TrustSettings, *, pinned_sha256: str | None = None, record: bool = True
) -> Verdict:
    """Load ``path`` if it is intact and trusted under ``settings``.

    Args:
        path: the package file.
        settings: trusted keys, the unsigned opt-out and the accepted-versions file.
        pinned_sha256: the digest the code pins for a zoo package; None for any other package.
        record: remember the version as accepted (a device loading it); False only checks.

    Raises:
        ModelLoadError: the package is damaged (see :func:`edgesight.core.package.parse_package`).
        PackageTrustError: intact but refused; ``check`` names which check failed.
    """
    try:
        size = path.stat().st_size
        if size > LIMITS.max_total_bytes:
            raise ModelLoadError(f"{path}: {size} bytes, more than the limit of {LIMITS.max_total_bytes}")
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"model package not found or unreadable: {path} ({exc.strerror})") from exc
    source = str(path)
    members = unpack_bytes(data, source)
    package = parse_package(members, source)
    if pinned_sha256 is not None:
        digest = hashlib.sha256(data).hexdigest()
        if digest != pinned_sha256:
            raise PackageTrustError(
                "zoo-pin",
                f"{source}: refused (zoo-pin): sha256 {digest} differs from {pinned_sha256} pinned in the "
                "zoo's pins.json; the shipped package was changed",
            )
        basis = f"zoo package pinned by sha256 {digest[:16]}"
    else:
        basis = signature_basis(members, settings, source)
    if settings.accepted_versions is not None:
        versions = AcceptedVersions(settings.accepted_versions)
        versions.check(package)
        if record:
            versions.record(package)
    return Verdict(package=package, basis=basis)


def signature_basis(
    members: dict[str, bytes],
    settings: TrustSettings,
    source: str,
    sign_command: str = "edgesight model sign",
    noun: str = "package",
) -> str:
    """Why an intact archive outside the zoo is trusted: its signature by a trusted key, or the opt-out.

    Raises:
        PackageTrustError: ``unsigned`` without a signature (unless ``allow_unsigned``), and the
            checks of :func:`~edgesight.core.signing.check_signature`; ``sign_command`` is the
            command the unsigned refusal suggests, ``noun`` what it calls the archive.
    """
    signer = check_signature(members, settings.public_keys(), source, noun)
    if signer is not None:
        return f"signed by trusted key {key_id(signer)}"
    if not settings.allow_unsigned:
        raise PackageTrustError(
            "unsigned",
            f"{source}: refused (unsigned): the {noun} has no signature (manifest.sig)"
            f"{' and is not in the zoo' if noun == 'package' else ''}; sign it with `{sign_command}` or, "
            "for development only, set allow_unsigned",
        )
    log.warning("%s: accepted WITHOUT a signature because allow_unsigned is on", source)
    return "unsigned, accepted because allow_unsigned is on"
