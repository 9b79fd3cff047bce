"""Parts through an inspector: verdict, ``inspection`` event, reject signals, latency, yield."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgesight.apps.inspection.errors import InspectionInputError
from edgesight.apps.inspection.model import Verdict
from edgesight.apps.inspection.tally import ProductTally
from edgesight.core.events import Event, EventType, FrameContext
from edgesight.sensor.inspection.inspector import Inspector
from edgesight.sensor.inspection.signals import RejectSignal

__all__ = ["FINDINGS", "STREAM_ID", "InspectedPart", "apply_feedback", "feedback_event", "inspect_part", "inspect_parts",
           "record_finding", "save_heatmap"]

STREAM_ID = "inspection"
FINDINGS = ("good", "defect")
"""What the line may report back about a judged part."""


@dataclass(frozen=True)
class InspectedPart:
    """One judged part: its verdict, the event sent for it and image-to-signal latency."""

    part_id: str
    verdict: Verdict
    event: Event
    latency_ms: float


def inspect_part(
    inspector: Inspector,
    part_id: str,
    image: np.ndarray,
    index: int = 0,
    signals: Sequence[RejectSignal] = (),
    device_id: str = "edgesight-0",
) -> InspectedPart:
    """Judge one part, signal its verdict and make its event; ``latency_ms`` runs from image to signal."""
    started = time.perf_counter()
    verdict = inspector.inspect(image)
    properties: dict[str, Any] = {
        "product": inspector.product.id,
        "part_id": part_id,
        "score": round(verdict.score, 6),
        "threshold": round(verdict.threshold, 6),
        "passed": verdict.passed,
        "region": None if verdict.region is None else list(verdict.region),
    }
    for signal in signals:
        signal.send(properties)
    latency_ms = (time.perf_counter() - started) * 1000.0
    frame = FrameContext(device_id, STREAM_ID, index, time.time(), (image.shape[1], image.shape[0]))
    event = Event.create(
        EventType.INSPECTION, frame, inspector.product.id, **properties, latency_ms=round(latency_ms, 3)
    )
    return InspectedPart(part_id, verdict, event, latency_ms)


def inspect_parts(
    inspector: Inspector,
    parts: Iterable[tuple[str, np.ndarray]],
    signals: Sequence[RejectSignal] = (),
    device_id: str = "edgesight-0",
    tally: ProductTally | None = None,
) -> Iterator[InspectedPart]:
    """Judge ``(part id, BGR image)`` pairs in order; signal each verdict and count it."""
    for index, (part_id, image) in enumerate(parts):
        part = inspect_part(inspector, part_id, image, index, signals, device_id)
        if tally is not None:
            tally.count(part.verdict.passed)
        yield part


def feedback_event(part: InspectedPart, finding: str) -> Event:
    """The ``inspection`` event that reports the line's finding (``good`` | ``defect``) for a judged part.

    It repeats the part's verdict with ``finding`` added, so the hub counts false rejects and escapes
    from events alone; it is not a second inspection of the part.
    """
    if finding not in FINDINGS:
        raise InspectionInputError(f"finding of part {part.part_id!r} must be one of {FINDINGS}, got {finding!r}")
    props = {k: v for k, v in part.event.properties.items() if k != "latency_ms"}
    # its own id: the part's event id with the finding, so the hub stores both and dedupes repeats
    return dataclasses.replace(
        part.event, timestamp=time.time(), properties={**props, "finding": finding},
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{part.event.id}/finding/{finding}")),
    )  # fmt: skip


def record_finding(tally: ProductTally, part: InspectedPart, finding: str) -> Event:
    """Count the line's finding about a judged part (false reject, escape) and return its event."""
    event = feedback_event(part, finding)
    if finding == "good" and not part.verdict.passed:
        tally.report_false_reject()
    elif finding == "defect" and part.verdict.passed:
        tally.report_escape()
    return event


def apply_feedback(tally: ProductTally, results: Iterable[InspectedPart], actual: Mapping[str, str]) -> list[Event]:
    """Count false rejects and escapes from the line's findings (``part id -> "good" | "defect"``).

    Returns the findings' events, one per judged part the line reported on.
    """
    return [record_finding(tally, part, actual[part.part_id]) for part in results if part.part_id in actual]


def save_heatmap(folder: Path, part_id: str, image: np.ndarray, inspector: Inspector, verdict: Verdict) -> Path:
    """Write the part with its heatmap blended over it and the defect box, as PNG."""
    heat = inspector.heatmap(verdict)
    scale = max(float(verdict.threshold) * 2.0, 1e-6)  # the threshold sits mid-scale: red means reject
    coloured = cv2.applyColorMap(np.clip(heat / scale * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    size = inspector.product.settings.part_size
    part = cv2.resize(image, size) if (image.shape[1], image.shape[0]) != size else image
    out = cv2.addWeighted(part, 0.6, coloured, 0.4, 0)
    if verdict.region is not None:
        x, y, w, h = verdict.region
        cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), (255, 255, 255), 1)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{Path(part_id).stem}.png"
    cv2.imwrite(str(path), out)
    return path
