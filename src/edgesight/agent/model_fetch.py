"""Download of the model a desired twin names: from the hub, with the device's own token.

The package is streamed to a private temporary file (0600) in the agent's data dir, never more
than the size the twin announced, and its SHA-256 is compared with the twin's before anything
parses it. Every failure is a :class:`~edgesight.core.errors.PackageTrustError` whose ``check``
says which step refused it (``download``, ``size`` or ``sha256``), like the trust checks after it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

import httpx

from edgesight.agent.credentials import Credentials
from edgesight.core.errors import PackageTrustError
from edgesight.core.wire import ModelTarget

__all__ = ["download_model"]

_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def download_model(credentials: Credentials, target: ModelTarget, folder: Path) -> Path:
    """Fetch ``target`` into a new private file in ``folder`` and return its path (the caller deletes it).

    Raises:
        PackageTrustError: no hub URL, the hub refused or failed, the body is larger than
            ``target.size``, or its SHA-256 is not ``target.sha256``.
    """
    if credentials.hub_url is None:
        raise PackageTrustError(
            "download", f"{target.name}: no hub_url in the credentials (or --hub-url): cannot download models"
        )
    url = f"{credentials.hub_url}/api/v1/device/models/{target.id}/{target.version}"
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.id}-", suffix=".espkg.partial", dir=folder)  # 0600
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _stream(url, credentials, target, out)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if digest != target.sha256:
        path.unlink(missing_ok=True)
        raise PackageTrustError(
            "sha256",
            f"{target.name}: refused (sha256): the download's sha256 {digest[:16]}... is not {target.sha256[:16]}... "
            "named by the desired twin",
        )
    return path


def _stream(url: str, credentials: Credentials, target: ModelTarget, out: BinaryIO) -> str:
    digest, size = hashlib.sha256(), 0
    headers = {"Authorization": f"Bearer {credentials.device_id}:{credentials.token}"}
    try:
        with httpx.stream("GET", url, headers=headers, timeout=_TIMEOUT) as response:
            if response.status_code != 200:
                response.read()
                raise PackageTrustError(
                    "download", f"{target.name}: the hub answered {response.status_code} at {url}: {response.text[:200]}"
                )
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > target.size:
                    raise PackageTrustError(
                        "size", f"{target.name}: refused (size): the download exceeds the {target.size} bytes announced"
                    )
                digest.update(chunk)
                out.write(chunk)
    except httpx.HTTPError as exc:
        raise PackageTrustError("download", f"{target.name}: download from {url} failed: {exc}") from exc
    return digest.hexdigest()
