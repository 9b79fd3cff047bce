"""Ed25519 signatures of model packages and inspection products: keys, ``sign`` and the signature check.

An archive's ``manifest.json`` holds the SHA-256 of every other member (:mod:`edgesight.core.manifest`),
so signing the manifest's exact bytes signs the whole package or product. The signature travels inside the package as ``manifest.sig``::

    {"algorithm": "ed25519", "key": "ed25519:<base64 public key>", "signature": "<base64>"}

Public keys are written as one line, ``ed25519:<base64 of the 32 raw bytes>``, so a device config
or an environment variable can list them. Private keys are PKCS#8 PEM files created 0600; loading
one that other users can read is refused, as ssh does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import os
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edgesight.core.errors import ConfigError, ModelLoadError, PackageTrustError
from edgesight.core.manifest import MANIFEST_MEMBER, SIGNATURE_MEMBER
from edgesight.core.package import parse_package, unpack_bytes

__all__ = ["KEY_PREFIX", "check_signature", "key_id", "load_private_key", "load_public_key", "parse_public_key",
           "public_key_text", "sign_archive", "sign_package", "write_keypair"]

KEY_PREFIX = "ed25519:"
_ALGORITHM = "ed25519"


def public_key_text(key: Ed25519PublicKey) -> str:
    """The one-line text form of a public key.

    Example:
        >>> key = Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key()
        >>> public_key_text(key)
        'ed25519:O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik='
    """
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KEY_PREFIX + base64.b64encode(raw).decode()


def key_id(key: Ed25519PublicKey) -> str:
    """A short name for a public key: the first 16 hex digits of the SHA-256 of its raw bytes.

    Example:
        >>> key_id(Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key())
        '139e3940e64b5491'
    """
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def parse_public_key(text: str, where: str = "public key") -> Ed25519PublicKey:
    """Parse ``ed25519:<base64>``; ``where`` names the config key or file in the error.

    Example:
        >>> key_id(parse_public_key("ed25519:O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik="))
        '139e3940e64b5491'
        >>> parse_public_key("ssh-rsa AAAA", "trusted_keys[0]")
        Traceback (most recent call last):
        ...
        edgesight.core.errors.ConfigError: trusted_keys[0]: a public key must look like 'ed25519:<base64>', got 'ssh-rsa AAAA'
    """
    text = text.strip()
    shown = text if len(text) <= 64 else text[:61] + "..."
    if not text.startswith(KEY_PREFIX):
        raise ConfigError(f"{where}: a public key must look like '{KEY_PREFIX}<base64>', got {shown!r}")
    try:
        raw = base64.b64decode(text.removeprefix(KEY_PREFIX), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"{where}: not a valid Ed25519 public key ({exc}), got {shown!r}") from exc


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Read a ``.pub`` file written by :func:`write_keypair`."""
    try:
        return parse_public_key(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read public key {path}: {exc}") from exc


def write_keypair(private_path: Path) -> tuple[Ed25519PublicKey, Path]:
    """Generate a key pair: the private key at ``private_path`` (0600, never overwritten) and the
    public key beside it with ``.pub`` appended. Returns the public key and its file."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_path = private_path.with_name(private_path.name + ".pub")
    for path in (private_path, public_path):
        if path.exists():
            raise ConfigError(f"{path} already exists; refusing to overwrite a key")
    private_path.parent.mkdir(parents=True, exist_ok=True)
    # Created with its final mode in one call: the key is never readable by others, even briefly.
    try:
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot create private key {private_path}: {exc.strerror}") from exc
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public = key.public_key()
    public_path.write_text(public_key_text(public) + "\n", encoding="utf-8")
    return public, public_path


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read a private key written by :func:`write_keypair`; refuse one that others can read."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        pem = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read private key {path}: {exc.strerror}") from exc
    if mode & 0o077:
        raise ConfigError(f"private key {path} is readable by others (mode {mode:04o}); chmod 600 it")
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: an Ed25519 key is needed, got {type(key).__name__}")
    return key


def sign_package(path: Path, key: Ed25519PrivateKey, out: Path | None = None) -> Path:
    """Sign a model package (after checking it is intact) and write it to ``out`` (default: in place)."""
    return sign_archive(path, key, parse_package, out, what="model package")


def sign_archive(
    path: Path,
    key: Ed25519PrivateKey,
    check: Callable[[dict[str, bytes], str], object],
    out: Path | None = None,
    what: str = "archive",
) -> Path:
    """Sign any manifest archive (:mod:`edgesight.core.manifest`) once ``check`` finds it intact.

    ``check(members, source)`` raises on a damaged archive (e.g. :func:`parse_package`); ``what``
    names the archive in errors. Any earlier signature is replaced. The file is written beside its
    target and renamed, so a reader never sees half an archive.
    """
    out = out or path
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"cannot read {what} {path}: {exc.strerror}") from exc
    members = unpack_bytes(data, str(path))
    check(members, str(path))  # never sign an archive that is already damaged
    manifest = members[MANIFEST_MEMBER]
    signature = {
        "algorithm": _ALGORITHM,
        "key": public_key_text(key.public_key()),
        "signature": base64.b64encode(key.sign(manifest)).decode(),
    }
    members[SIGNATURE_MEMBER] = json.dumps(signature, indent=2).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    partial = out.with_name(out.name + ".partial")
    partial.write_bytes(buffer.getvalue())
    partial.replace(out)
    return out


def check_signature(
    members: dict[str, bytes], trusted: tuple[Ed25519PublicKey, ...], source: str, noun: str = "package"
) -> Ed25519PublicKey | None:
    """The trusted key that signed ``manifest.json``, or None when the archive is unsigned.

    ``noun`` is what messages call the archive (``package``, ``product``).

    Raises:
        PackageTrustError: ``signature`` if the manifest is not what was signed (the package was
            altered, even with a recomputed manifest), ``untrusted-key`` if the signer is not in
            ``trusted``.
    """
    raw = members.get(SIGNATURE_MEMBER)
    if raw is None:
        return None
    try:
        entry = json.loads(raw)
        signer = parse_public_key(str(entry["key"]), f"{source}: {SIGNATURE_MEMBER} key")
        signature = base64.b64decode(str(entry["signature"]), validate=True)
        algorithm = entry["algorithm"]
    except (ValueError, KeyError, TypeError, ConfigError) as exc:
        raise PackageTrustError("signature", f"{source}: {SIGNATURE_MEMBER} is malformed ({exc})") from exc
    if algorithm != _ALGORITHM:
        raise PackageTrustError("signature", f"{source}: signature algorithm must be {_ALGORITHM!r}, got {algorithm!r}")
    wanted = public_key_text(signer)
    if not any(public_key_text(k) == wanted for k in trusted):
        raise PackageTrustError(
            "untrusted-key",
            f"{source}: refused (untrusted-key): signed by key {key_id(signer)}, which is not among the "
            f"{len(trusted)} trusted key(s)",
        )
    try:
        signer.verify(signature, members[MANIFEST_MEMBER])
    except InvalidSignature:
        raise PackageTrustError(
            "signature",
            f"{source}: refused (signature): manifest.json does not match its signature by key "
            f"{key_id(signer)}; the {noun} was altered after it was signed",
        ) from None
    return signer
