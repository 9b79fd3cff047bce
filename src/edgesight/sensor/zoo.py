"""The model zoo shipped inside the package, and resolution of ``--model NAME|FILE``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from edgesight.core.config import DEFAULT_MODEL
from edgesight.core.errors import ModelLoadError
from edgesight.core.package import PACKAGE_SUFFIX, ModelPackage, read_package


def zoo_dir() -> Path:
    """Folder of the packages that ship with EdgeSight."""
    return Path(str(resources.files("edgesight") / "zoo"))


def zoo_names() -> list[str]:
    """Names of the shipped models, e.g. ``nanodet-coco-int8``.

    Example:
        >>> "nanodet-coco-int8" in zoo_names()
        True
    """
    return sorted(p.name.removesuffix(PACKAGE_SUFFIX) for p in zoo_dir().glob(f"*{PACKAGE_SUFFIX}"))


def resolve_model(name_or_path: str) -> Path:
    """Path of a zoo model by name, or of a package file given by path."""
    candidate = Path(name_or_path)
    if candidate.suffix == PACKAGE_SUFFIX or candidate.exists():
        if not candidate.is_file():
            raise ModelLoadError(f"model package not found: {candidate}")
        return candidate
    path = zoo_dir() / f"{name_or_path}{PACKAGE_SUFFIX}"
    if not path.is_file():
        raise ModelLoadError(f"unknown model {name_or_path!r}; the zoo has: {', '.join(zoo_names())}")
    return path


def load_model(name_or_path: str = DEFAULT_MODEL) -> ModelPackage:
    """Load and verify a model from the zoo or a file."""
    return read_package(resolve_model(name_or_path))
