"""Parts through an inspector: verdict, ``inspection`` event, reject signals, latency, yield."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgesight.apps.inspection.model import Verdict
from edgesight.apps.inspection.tally import ProductTally
from edgesight.core.events import Event, EventType, FrameContext
from edgesight.sensor.inspection.inspector import Inspector
from edgesight.sensor.inspection.signals import RejectSignal

__all__ = ["STREAM_ID", "InspectedPart", "apply_feedback", "inspect_parts", "save_heatmap"]

STREAM_ID = "inspection"


@dataclass(frozen=True)
class InspectedPart:
    """One judged part: its verdict, the event sent for it and image-to-signal latency."""

    part_id: str
    verdict: Verdict
    event: Event
    latency_ms: float


def inspect_parts(
    inspector: Inspector,
    parts: Iterable[tuple[str, np.ndarray]],
    signals: Sequence[RejectSignal] = (),
    device_id: str = "edgesight-0",
    tally: ProductTally | None = None,
) -> Iterator[InspectedPart]:
    """Judge ``(part id, BGR image)`` pairs in order; signal each verdict and count it."""
    product = inspector.product.id
    for index, (part_id, image) in enumerate(parts):
        started = time.perf_counter()
        verdict = inspector.inspect(image)
        properties: dict[str, Any] = {
            "product": product,
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
        event = Event.create(EventType.INSPECTION, frame, product, **properties, latency_ms=round(latency_ms, 3))
        if tally is not None:
            tally.count(verdict.passed)
        yield InspectedPart(part_id, verdict, event, latency_ms)


def apply_feedback(tally: ProductTally, results: Iterable[InspectedPart], actual: Mapping[str, str]) -> None:
    """Count false rejects and escapes from the line's findings (``part id -> "good" | "defect"``)."""
    for part in results:
        found = actual.get(part.part_id)
        if found == "good" and not part.verdict.passed:
            tally.report_false_reject()
        elif found == "defect" and part.verdict.passed:
            tally.report_escape()


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
