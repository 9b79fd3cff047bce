"""An inspection station: judges the parts the line names (see :mod:`.triggers`), one at a time.

Each request is answered exactly once: with the part's result (the ``inspection`` event's
properties) or with ``{"part_id", "error"}`` when the part cannot be judged (unreadable image,
path outside the image folder, no frame). A bad request never stops the station.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgesight.apps.inspection.errors import InspectionInputError
from edgesight.apps.inspection.tally import ProductTally
from edgesight.core.errors import EdgeSightError
from edgesight.core.events import Event
from edgesight.sensor.inspection.inspector import Inspector
from edgesight.sensor.inspection.line import InspectedPart, inspect_part, record_finding
from edgesight.sensor.inspection.parts import read_part
from edgesight.sensor.inspection.signals import RejectSignal
from edgesight.sensor.inspection.triggers import FindingReport, PartRequest, Request

__all__ = ["RECENT_PARTS", "Station"]

log = logging.getLogger(__name__)

RECENT_PARTS = 4096
"""Judged parts remembered for the line's findings; older ones are forgotten (bounded memory)."""


class Station:
    """Serves part requests for one product.

    Args:
        inspector: the product's inspector.
        emit: receives every event (results and findings), e.g. an ``EventWriter.write``.
        signals: reject signals, sent for every judged part.
        images: folder that request image paths are relative to (None: requests may not name images).
        grab: returns the camera's next BGR frame, or None when the source has ended (None: no camera).
        device_id: device id in the events.
        on_part: called with every judged part (e.g. to print it).
    """

    def __init__(
        self,
        inspector: Inspector,
        emit: Callable[[Event], None],
        signals: Sequence[RejectSignal] = (),
        images: Path | None = None,
        grab: Callable[[], np.ndarray | None] | None = None,
        device_id: str = "edgesight-0",
        on_part: Callable[[InspectedPart], None] | None = None,
    ) -> None:
        self.inspector = inspector
        self.tally = ProductTally(inspector.product.id)
        self._emit, self._signals, self._grab = emit, signals, grab
        self._images = images.resolve() if images is not None else None
        self._device_id = device_id
        self._on_part = on_part
        self._recent: OrderedDict[str, InspectedPart] = OrderedDict()
        self._reported: set[str] = set()  # parts with a finding: a repeated report is not counted twice
        self._index = 0

    def serve(
        self,
        requests: queue.Queue[Request],
        stop: threading.Event,
        max_parts: int = 0,
        tick: Callable[[], object] | None = None,
    ) -> None:
        """Handle requests until ``stop`` is set or ``max_parts`` parts were judged (0: no limit).

        ``tick`` runs between requests (at least every 0.1 s), on this thread: e.g. to follow a
        twin's threshold, which then applies from the next part on.
        """
        while not stop.is_set() and not (max_parts and self.tally.inspected >= max_parts):
            if tick is not None:
                tick()
            try:
                request = requests.get(timeout=0.1)
            except queue.Empty:
                continue
            self.handle(request)

    def handle(self, request: Request) -> None:
        """Answer one request; its failure is answered, logged and does not propagate."""
        try:
            answer = self._judge(request) if isinstance(request, PartRequest) else self._finding(request)
        except EdgeSightError as exc:
            log.warning("part %s: %s", request.part_id, exc)
            answer = {"part_id": request.part_id, "error": str(exc)}
        request.reply(answer)

    def _judge(self, request: PartRequest) -> dict[str, Any]:
        image = self._image(request)
        part = inspect_part(self.inspector, request.part_id, image, self._index, self._signals, self._device_id)
        self._index += 1
        self.tally.count(part.verdict.passed)
        self._emit(part.event)
        self._recent[part.part_id] = part
        self._recent.move_to_end(part.part_id)
        self._reported.discard(part.part_id)  # a part id judged again starts afresh
        while len(self._recent) > RECENT_PARTS:
            self._reported.discard(self._recent.popitem(last=False)[0])
        if self._on_part is not None:
            self._on_part(part)
        return dict(part.event.properties)

    def _image(self, request: PartRequest) -> np.ndarray:
        if request.image is None:
            if self._grab is None:
                raise InspectionInputError("no camera source: the trigger must name an image")
            frame = self._grab()
            if frame is None:
                raise InspectionInputError("the camera source has ended: no frame for this part")
            return frame
        if self._images is None:
            raise InspectionInputError("this station takes no image paths (its source is a camera)")
        path = (self._images / request.image).resolve()
        if not path.is_relative_to(self._images):
            raise InspectionInputError(f"image {request.image!r} is outside the image folder {self._images}")
        return read_part(path)

    def _finding(self, report: FindingReport) -> dict[str, Any]:
        part = self._recent.get(report.part_id)
        if part is None:
            raise InspectionInputError(
                f"finding for part {report.part_id!r}: no such part among the last {RECENT_PARTS} judged"
            )
        if report.part_id in self._reported:
            raise InspectionInputError(f"finding for part {report.part_id!r}: already reported")
        self._reported.add(report.part_id)
        event = record_finding(self.tally, part, report.finding)
        self._emit(event)
        return {
            **event.properties, "false_rejects": self.tally.false_rejects, "escapes": self.tally.escapes,
        }  # fmt: skip
