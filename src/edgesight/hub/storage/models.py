"""The model registry: signed packages uploaded to the hub, one row per ``(id, version)``.

The package bytes live in the row (bounded by the package reader's limits, a few MB for the
shipped networks), so every hub worker serves the same bytes without a shared disk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version
from sqlalchemy import insert, select

from edgesight.core.errors import ConfigError
from edgesight.hub.storage.db import Database
from edgesight.hub.storage.tables import ModelRow

__all__ = ["ModelInfo", "add_model", "get_model", "highest_version", "list_models", "model_blob"]


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A registered package (everything but its bytes)."""

    id: str
    version: str
    sha256: str
    signer: str
    size: int
    uploaded_at: float


_COLUMNS = (ModelRow.id, ModelRow.version, ModelRow.sha256, ModelRow.signer, ModelRow.size, ModelRow.uploaded_at)


def add_model(db: Database, info: ModelInfo, blob: bytes) -> ModelInfo:
    """Register a package; the same bytes again are a no-op, other bytes under the same id and
    version are refused (a version names one package forever)."""
    with db.begin() as conn:
        row = conn.execute(
            select(ModelRow.sha256).where(ModelRow.id == info.id, ModelRow.version == info.version)
        ).first()
        if row is not None:
            if row[0] != info.sha256:
                raise ConfigError(
                    f"model {info.id}@{info.version} is already registered with sha256 {row[0][:16]}...; "
                    "a version names one package: upload it under a new version"
                )
        else:
            stamped = ModelInfo(info.id, info.version, info.sha256, info.signer, info.size, time.time())
            conn.execute(insert(ModelRow).values(**_values(stamped), blob=blob))
    found = get_model(db, info.id, info.version)
    assert found is not None
    return found


def _values(info: ModelInfo) -> dict[str, object]:
    return {"id": info.id, "version": info.version, "sha256": info.sha256, "signer": info.signer,
            "size": info.size, "uploaded_at": info.uploaded_at}  # fmt: skip


def list_models(db: Database, model_id: str | None = None) -> list[ModelInfo]:
    """Registered packages, by id then upload time."""
    query = select(*_COLUMNS).order_by(ModelRow.id, ModelRow.uploaded_at)
    if model_id is not None:
        query = query.where(ModelRow.id == model_id)
    with db.begin() as conn:
        return [ModelInfo(*r) for r in conn.execute(query).all()]


def get_model(db: Database, model_id: str, version: str) -> ModelInfo | None:
    with db.begin() as conn:
        row = conn.execute(
            select(*_COLUMNS).where(ModelRow.id == model_id, ModelRow.version == version)
        ).first()
    return None if row is None else ModelInfo(*row)


def model_blob(db: Database, model_id: str, version: str) -> bytes | None:
    """The package bytes, None when no such package is registered."""
    with db.begin() as conn:
        row = conn.execute(
            select(ModelRow.blob).where(ModelRow.id == model_id, ModelRow.version == version)
        ).first()
    return None if row is None else bytes(row[0])


def highest_version(db: Database, model_id: str) -> str | None:
    """The highest registered version of ``model_id`` (PEP 440 order), None if none."""
    versions = []
    for info in list_models(db, model_id):
        try:
            versions.append((Version(info.version), info.version))
        except InvalidVersion:
            continue
    return max(versions)[1] if versions else None
