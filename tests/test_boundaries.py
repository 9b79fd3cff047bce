"""No module reaches into another package's private parts.

A private module (``_video.py``) or a private name (``_read_header``) may be imported only from
inside the package that holds it; everything else goes through the public names in ``__all__``.
The one-way layering itself is checked by import-linter (``make lint``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from support import REPO

SRC = REPO / "src"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(path: Path) -> str:
    return ".".join(path.relative_to(SRC).parent.parts)


def private_imports(path: Path) -> Iterator[tuple[int, str, str]]:
    """Yields (line, owning package, what) for every private module or name the file imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
            for alias in node.names:
                if is_private(alias.name):  # a private name is owned by its module's package
                    yield node.lineno, package_holding(node.module), f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            private = [depth for depth, part in enumerate(parts) if is_private(part)]
            if private:  # a private module is owned by the package that holds it
                yield node.lineno, ".".join(parts[: private[0]]), module


def package_holding(module: str) -> str:
    is_package = (SRC / module.replace(".", "/")).is_dir()
    return module if is_package else module.rsplit(".", 1)[0]


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def is_inside(package: str, owner: str) -> bool:
    return package == owner or package.startswith(owner + ".")


def test_no_module_imports_a_private_name_of_another_package() -> None:
    offences = []
    for path in sorted((SRC / "edgesight").rglob("*.py")):
        importer = package_of(path)
        for line, owner, what in private_imports(path):
            if what.startswith("edgesight") and not is_inside(importer, owner):
                offences.append(f"{module_name(path)}:{line} imports {what}")
    assert offences == []


def test_the_check_sees_private_imports(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from edgesight.core.events import _event_id\n"
        "from edgesight.sensor.sources import _open\n"
        "from edgesight.sensor.sources._video import VideoSource\n"
        "from edgesight.hub import ingest\n"
    )
    found = [(owner, what) for _, owner, what in private_imports(probe)]
    assert found == [
        ("edgesight.core", "edgesight.core.events._event_id"),
        ("edgesight.sensor.sources", "edgesight.sensor.sources._open"),
        ("edgesight.sensor.sources", "edgesight.sensor.sources._video"),
    ]
    assert not is_inside("edgesight.hub", "edgesight.core") and is_inside("edgesight.core.config", "edgesight.core")
