"""The device twin's inspection thresholds, followed by a running inspection station.

The agent validates every desired twin and saves the applied one as ``<data dir>/twin.json``
(:func:`edgesight.agent.twin.save_applied`). An inspection station on the same device follows that
file: when it changes, ``config.inspection.thresholds.<product>`` becomes the threshold the next
part is judged with, without a restart. The file, not a second connection to the hub, is the
hand-over, so the twin keeps one validated source and the station needs no credentials.
"""

from __future__ import annotations

import logging
from pathlib import Path

from edgesight.agent.twin import load_applied
from edgesight.core.errors import ConfigError
from edgesight.sensor.inspection.inspector import Inspector

__all__ = ["TwinFollower"]

log = logging.getLogger(__name__)


class TwinFollower:
    """Applies the product's threshold from the agent's twin file whenever the file changes.

    Call it between parts (one ``stat`` when nothing changed). A twin that names no threshold for
    this product leaves the threshold as it is; an unreadable file is logged and skipped.

    Args:
        path: the agent's ``twin.json``.
        inspector: the product's inspector.
    """

    def __init__(self, path: Path, inspector: Inspector) -> None:
        self.path, self.inspector = path, inspector
        self.version: int | None = None
        """Version of the twin last read (None before)."""
        self._seen: tuple[int, int, int] | None = None

    def __call__(self) -> bool:
        """Read the twin if it changed; True when the threshold changed."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return False  # no twin applied yet: the product's own threshold holds
        # the agent replaces the file (new inode) on every save: a change is seen even when two
        # saves fall within the file system's mtime resolution
        seen = (st.st_ino, st.st_mtime_ns, st.st_size)
        if seen == self._seen:
            return False
        self._seen = seen
        try:
            twin = load_applied(self.path)
        except ConfigError as exc:
            log.warning("inspection twin: %s; threshold unchanged", exc)
            return False
        if twin is None:
            return False
        self.version = twin.version
        changed = self.inspector.apply_twin(twin.config.model_dump(mode="json"))
        if changed:
            log.warning(  # a threshold change decides rejects: worth a line in the station's log
                "twin version %d: threshold of %s set to %.4f", twin.version, self.inspector.product.id,
                self.inspector.threshold,
            )  # fmt: skip
        return changed
