"""Inspection products (``.esinsp``): a trained product in one verified file.

A product is a zip archive, a sibling of the model package (:mod:`edgesight.core.package`) with
the same checks on load::

    manifest.json          format, product id, version, sha256 of every other member
    feature_network.onnx   the feature network, cut from a shipped model
    memory_bank.npy        the coreset of good patch features (float32, projected)
    projection.npy         the random projection applied to patch features first
    product.json           part size, preprocessing, threshold and its calibration, provenance
    LICENSES/*             licence and provenance of the network it was cut from

The manifest and its checks are :mod:`edgesight.core.manifest`'s, shared with model packages.
The threshold is data in ``product.json``, never part of a graph, so a line can read and change
it. Products are signed like model packages: ``manifest.sig`` signs ``manifest.json``, which lists
the digest of every member, and :func:`verify_product` refuses an unsigned, tampered or untrusted
product (:class:`~edgesight.core.errors.PackageTrustError` naming the check) unless unsigned ones
are allowed.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgesight.apps.inspection.errors import InspectionInputError
from edgesight.core.errors import ModelLoadError
from edgesight.core.manifest import ArchiveFormat, verify_members, write_archive
from edgesight.core.package import unpack_members
from edgesight.core.signing import sign_archive
from edgesight.core.trust import AcceptedVersions, TrustSettings, signature_basis

__all__ = [
    "PRODUCT",
    "PRODUCT_FORMAT",
    "PRODUCT_NAME",
    "PRODUCT_SUFFIX",
    "InspectionProduct",
    "ProductSettings",
    "check_product_name",
    "parse_product",
    "product_path",
    "read_product",
    "sign_product",
    "verify_product",
    "write_product",
]

PRODUCT_FORMAT = "edgesight.inspection-product/1"
PRODUCT_SUFFIX = ".esinsp"
PRODUCT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
PRODUCT = ArchiveFormat(
    PRODUCT_FORMAT, "product", ("feature_network.onnx", "memory_bank.npy", "projection.npy", "product.json")
)
"""The product as one of the manifest formats of :mod:`edgesight.core.manifest`."""


@dataclass(frozen=True)
class ProductSettings:
    """What ``product.json`` holds.

    Attributes:
        part_size: ``(width, height)`` of the parts the product was trained on.
        mean, std: BGR normalisation of the feature network's input.
        backbone: ``id@version`` of the shipped model the feature network was cut from.
        stride: pixels per feature cell.
        border_cells: edge cells not judged (see :class:`~edgesight.apps.inspection.model.InspectionModel`).
        threshold: calibrated score above which a part is rejected.
        false_reject_rate: the target the threshold was calibrated for.
        calibration_scores: scores of the held-out good parts used for calibration.
        train_parts: good parts whose features fill the bank.
        pixel_sigma: the score is the maximum of the pixel map blurred with this sigma; None (products
            written before it existed) scores on the grid map, as their threshold was calibrated.
    """

    part_size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    backbone: str
    stride: int
    border_cells: int
    threshold: float
    false_reject_rate: float
    calibration_scores: tuple[float, ...]
    train_parts: int
    pixel_sigma: float | None = None

    def to_json(self) -> bytes:
        """The ``product.json`` bytes."""
        return json.dumps(self.__dict__, indent=2, default=list).encode()

    @classmethod
    def from_json(cls, raw: bytes, source: str) -> ProductSettings:
        """Parse ``product.json``; raises :class:`ModelLoadError` naming the key."""
        try:
            data: dict[str, Any] = json.loads(raw)
            return cls(
                part_size=(int(data["part_size"][0]), int(data["part_size"][1])),
                mean=(float(data["mean"][0]), float(data["mean"][1]), float(data["mean"][2])),
                std=(float(data["std"][0]), float(data["std"][1]), float(data["std"][2])),
                backbone=str(data["backbone"]),
                stride=int(data["stride"]),
                border_cells=int(data["border_cells"]),
                threshold=float(data["threshold"]),
                false_reject_rate=float(data["false_reject_rate"]),
                calibration_scores=tuple(float(s) for s in data["calibration_scores"]),
                train_parts=int(data["train_parts"]),
                pixel_sigma=None if data.get("pixel_sigma") is None else float(data["pixel_sigma"]),
            )
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ModelLoadError(f"{source}: product.json: bad or missing {exc}") from exc


@dataclass(frozen=True)
class InspectionProduct:
    """A loaded, verified product."""

    id: str
    version: str
    settings: ProductSettings
    network: bytes
    bank: np.ndarray
    projection: np.ndarray
    licences: Mapping[str, bytes] = field(default_factory=dict)
    source: str = "<memory>"


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def check_product_name(name: str) -> str:
    """Return ``name`` if it can name a product file, else raise.

    Example:
        >>> check_product_name("Bracket A")
        Traceback (most recent call last):
        ...
        edgesight.apps.inspection.errors.InspectionInputError: product name 'Bracket A' must match ^[a-z0-9][a-z0-9._-]{0,63}$
    """
    if not PRODUCT_NAME.match(name):
        raise InspectionInputError(f"product name {name!r} must match {PRODUCT_NAME.pattern}")
    return name


def write_product(path: Path, product: InspectionProduct) -> Path:
    """Write ``product`` to ``path`` (unsigned: see :func:`sign_product`) and return the path."""
    members = {
        "feature_network.onnx": product.network,
        "memory_bank.npy": _npy(product.bank.astype(np.float32)),
        "projection.npy": _npy(product.projection.astype(np.float32)),
        "product.json": product.settings.to_json(),
        **product.licences,
    }
    return write_archive(path, PRODUCT, check_product_name(product.id), product.version, members)


def _unpack(path: Path) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(path) as zf:  # bounded like model packages: a zip bomb is refused early
            return unpack_members(zf, str(path))
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ModelLoadError(f"{path}: not a readable inspection product ({exc})") from exc


def read_product(path: Path) -> InspectionProduct:
    """Load and verify an intact product (signature not checked: see :func:`verify_product`).

    Every problem raises :class:`ModelLoadError` naming it.
    """
    return parse_product(_unpack(path), str(path))


def verify_product(path: Path, trust: TrustSettings) -> tuple[InspectionProduct, str]:
    """Load a product if it is intact and trusted under ``trust``; returns it and why it is trusted.

    Raises:
        ModelLoadError: the product is damaged.
        PackageTrustError: intact but refused; ``check`` is ``unsigned``, ``signature`` (altered
            after signing), ``untrusted-key`` or ``downgrade`` (older than a version of the same
            product accepted before, when ``trust.accepted_versions`` names the file that keeps them).
    """
    members = _unpack(path)
    product = parse_product(members, str(path))
    basis = signature_basis(members, trust, str(path), "edgesight inspect sign", "product")
    if trust.accepted_versions is not None:
        versions = AcceptedVersions(trust.accepted_versions)
        versions.check(product)
        versions.record(product)
    return product, basis


def sign_product(path: Path, key: Ed25519PrivateKey, out: Path | None = None) -> Path:
    """Sign a product (after checking it is intact) and write it to ``out`` (default: in place)."""
    return sign_archive(path, key, parse_product, out, what="inspection product")


def parse_product(members: dict[str, bytes], source: str) -> InspectionProduct:
    """Verify unpacked product members against their manifest and load them."""
    manifest = verify_members(members, PRODUCT, source)
    settings = ProductSettings.from_json(members["product.json"], source)
    try:
        bank = np.load(io.BytesIO(members["memory_bank.npy"]), allow_pickle=False)
        projection = np.load(io.BytesIO(members["projection.npy"]), allow_pickle=False)
    except ValueError as exc:
        raise ModelLoadError(f"{source}: memory bank or projection is not a numpy array ({exc})") from exc
    if bank.ndim != 2 or projection.ndim != 2 or projection.shape[1] != bank.shape[1]:
        raise ModelLoadError(
            f"{source}: memory bank {bank.shape} does not match projection {projection.shape}"
        )
    return InspectionProduct(
        id=manifest.id,
        version=manifest.version,
        settings=settings,
        network=members["feature_network.onnx"],
        bank=bank,
        projection=projection,
        licences={n: d for n, d in members.items() if n.startswith("LICENSES/")},
        source=source,
    )


def product_path(products_dir: Path, name: str) -> Path:
    """The file of product ``name`` in ``products_dir``; a clear error if there is none.

    Example:
        >>> product_path(Path("/nonexistent"), "bracket")
        Traceback (most recent call last):
        ...
        edgesight.apps.inspection.errors.InspectionInputError: unknown product 'bracket': no /nonexistent/bracket.esinsp (products in /nonexistent: none)
    """
    path = products_dir / f"{check_product_name(name)}{PRODUCT_SUFFIX}"
    if not path.is_file():
        known = sorted(p.name.removesuffix(PRODUCT_SUFFIX) for p in products_dir.glob(f"*{PRODUCT_SUFFIX}"))
        raise InspectionInputError(
            f"unknown product {name!r}: no {path} (products in {products_dir}: {', '.join(known) or 'none'})"
        )
    return path
