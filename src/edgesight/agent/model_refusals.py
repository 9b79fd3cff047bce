"""The model packages a device refused or rolled back, by SHA-256, kept on disk across restarts.

Without it a restarted agent whose twin still names a package it refused would download and
check it again (and a package that fails its health window would be swapped in again, each
restart). Each entry is the device's own report on the package (a
:class:`~edgesight.core.wire.ModelReport`, so the check or reason and the detail are said again
as they were); the file is a 0600 JSON file replaced atomically, holding the newest
:data:`MAX_ENTRIES`.

An unreadable file is logged and treated as empty: forgetting costs one more download and check,
which refuses the package again, while refusing to start would cost the camera.

Example:
    >>> import tempfile
    >>> from edgesight.core.wire import ModelState, ModelTarget
    >>> path = Path(tempfile.mkdtemp()) / "refused_models.json"
    >>> t = ModelTarget("acme-people", "2.0.0", "ab" * 32, 1024, deployment="d1")
    >>> Refusals(path).add(ModelReport(ModelState.REFUSED, ("nanodet", "1.0.0"), t, check="unsigned"))
    >>> Refusals(path).get("ab" * 32).check
    'unsigned'
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from edgesight.core.errors import EdgeSightError
from edgesight.core.private_files import write_private_text
from edgesight.core.wire import ModelReport

__all__ = ["MAX_ENTRIES", "Refusals"]

log = logging.getLogger(__name__)

MAX_ENTRIES = 32
"""Packages remembered; the oldest refusal is forgotten first (a deployment names one package)."""


class Refusals:
    """Failed reports by the SHA-256 of their target; in memory only when ``path`` is None."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._reports: dict[str, ModelReport] = {} if path is None else _load(path)

    def get(self, sha256: str) -> ModelReport | None:
        return self._reports.get(sha256)

    def add(self, report: ModelReport) -> None:
        """Remember ``report`` (a refusal or roll-back of its target) and save the file; a failed
        save is logged (the refusal still holds until the agent stops)."""
        assert report.target is not None and report.state.failed
        self._reports.pop(report.target.sha256, None)
        self._reports[report.target.sha256] = report
        while len(self._reports) > MAX_ENTRIES:
            del self._reports[next(iter(self._reports))]
        if self.path is None:
            return
        body = {"v": 1, "reports": [r.to_dict() for r in self._reports.values()]}
        try:
            write_private_text(self.path, json.dumps(body))
        except OSError as exc:
            log.error("cannot save the refused models to %s (%s): a restart will check them again", self.path,
                      exc.strerror)  # fmt: skip


def _load(path: Path) -> dict[str, ModelReport]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        log.error("cannot read the refused models %s (%s); starting without them", path, exc.strerror)
        return {}
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("v") != 1 or not isinstance(data.get("reports"), list):
            raise ValueError('expected {"v": 1, "reports": [...]}')
        reports = [ModelReport.from_dict(r, f"{path.name} report") for r in data["reports"][-MAX_ENTRIES:]]
    except (ValueError, EdgeSightError) as exc:
        log.error("ignoring the refused models %s: %s", path, exc)
        return {}
    return {r.target.sha256: r for r in reports if r.target is not None and r.state.failed}
