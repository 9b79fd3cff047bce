"""The model zoo shipped inside the package, and resolution of ``--model NAME|FILE``.

Zoo packages are trusted like the code: ``zoo/pins.json`` (written by ``tools/build_zoo.py``)
pins the SHA-256 of each, and :func:`load_model` refuses a zoo file that differs or is not pinned.
Any other package must pass the device's :class:`~edgesight.core.trust.TrustSettings`.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from edgesight.core.config import DEFAULT_MODEL
from edgesight.core.config.sensor import SensorSection
from edgesight.core.errors import ModelLoadError, PackageTrustError
from edgesight.core.package import PACKAGE_SUFFIX, ModelPackage
from edgesight.core.trust import TrustSettings, Verdict, verify_package
from edgesight.sensor.runtime_policy import default_model

__all__ = [
    "DEFAULT_MODEL",
    "PINS_FILE",
    "configured_model",
    "load_model",
    "resolve_model",
    "verify_model",
    "zoo_dir",
    "zoo_names",
    "zoo_pins",
]

PINS_FILE = "pins.json"


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


def zoo_pins() -> dict[str, str]:
    """Package file name -> SHA-256 pinned for it.

    Example:
        >>> len(zoo_pins()["nanodet-coco-int8.espkg"])
        64
    """
    path = zoo_dir() / PINS_FILE
    try:
        pins = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"zoo pins {path} are unreadable ({exc}); run tools/build_zoo.py --pins") from exc
    if not isinstance(pins, dict) or not all(isinstance(v, str) for v in pins.values()):
        raise ModelLoadError(f"zoo pins {path} must map package file name -> sha256")
    return pins


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


def verify_model(name_or_path: str, trust: TrustSettings | None = None, *, record: bool = True) -> Verdict:
    """Resolve, verify and trust-check a model; a package inside the zoo folder must match its pin.

    ``record`` (default) remembers the version as accepted when ``trust.accepted_versions`` is set.
    """
    path = resolve_model(name_or_path)
    in_zoo = path.resolve().parent == zoo_dir().resolve()
    pinned = zoo_pins().get(path.name) if in_zoo else None
    if in_zoo and pinned is None:
        raise PackageTrustError(
            "zoo-pin",
            f"{path}: refused (zoo-pin): the zoo holds this package but {PINS_FILE} does not pin it; "
            "run `python tools/build_zoo.py --pins`",
        )
    return verify_package(path, trust or TrustSettings(), pinned_sha256=pinned, record=record)


def configured_model(section: SensorSection) -> str:
    """The model a device's ``sensor`` section runs: the one it names, else this machine's default
    for its runtime (:func:`~edgesight.sensor.runtime_policy.default_model`).

    Example:
        >>> configured_model(SensorSection(model="nanodet-coco-int8"))
        'nanodet-coco-int8'
        >>> configured_model(SensorSection(runtime="onnxruntime"))
        'nanodet-plus-m-416-int8'
    """
    return section.model or default_model(section.runtime)


def load_model(name_or_path: str = DEFAULT_MODEL, trust: TrustSettings | None = None) -> ModelPackage:
    """Load a model from the zoo (pinned) or a file (signed by a key in ``trust``, by default none)."""
    return verify_model(name_or_path, trust).package
