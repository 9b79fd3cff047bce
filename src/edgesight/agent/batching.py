"""Cutting the frame stream into batches: one ``FRAMES`` and one ``EVENTS`` message per batch.

A batch ends after ``max_frames`` frames or ``interval_s`` seconds, whichever comes first, so the
hub sees data at least every ``upload.interval_s`` even on a slow sensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edgesight.core.events import Event
from edgesight.core.frame import FrameMeta
from edgesight.core.wire import EventBatch, FrameBatch

__all__ = ["Batch", "Batcher"]


@dataclass(frozen=True, slots=True)
class Batch:
    """What one cut batch becomes.

    Attributes:
        messages: the ``FRAMES`` message (while upload is on) and the ``EVENTS`` message (if any).
        frames: frames in the batch.
        events: events in the batch.
        frames_not_uploaded: frames left out because upload is off.
    """

    messages: tuple[FrameBatch | EventBatch, ...]
    frames: int
    events: int
    frames_not_uploaded: int


class Batcher:
    """Collects frames and their events until the batch is due.

    Example:
        >>> from edgesight.core.detections import Detections
        >>> from edgesight.core.frame import ModelRef
        >>> m = FrameMeta("cam1", "main", 0, 0, 1.7e9, ModelRef("m", "1"), (64, 48), Detections.empty())
        >>> b = Batcher(max_frames=2)
        >>> b.add(m, [], now=0.0); b.due(now=0.5, interval_s=3.0)
        False
        >>> b.add(m, [], now=0.6); b.due(now=0.6, interval_s=3.0)
        True
        >>> batch = b.cut(upload=True)
        >>> [type(msg).__name__ for msg in batch.messages], batch.frames, b.cut(upload=True).frames
        (['FrameBatch'], 2, 0)
    """

    def __init__(self, max_frames: int) -> None:
        self.max_frames = max_frames
        self._frames: list[FrameMeta] = []
        self._events: list[Event] = []
        self._started = 0.0

    def add(self, frame: FrameMeta, events: Sequence[Event], now: float) -> None:
        """Add one analysed frame and the events it produced (``now``: a monotonic clock)."""
        if not self._frames:
            self._started = now
        self._frames.append(frame)
        self._events.extend(events)

    def due(self, now: float, interval_s: float) -> bool:
        """Whether the batch is full or its first frame is ``interval_s`` old."""
        return len(self._frames) >= self.max_frames or (bool(self._frames) and now - self._started >= interval_s)

    def cut(self, upload: bool) -> Batch:
        """End the batch: its messages (frames only while ``upload``) and counts; start an empty one."""
        frames, events = self._frames, self._events
        self._frames, self._events = [], []
        messages: list[FrameBatch | EventBatch] = []
        if frames and upload:
            messages.append(FrameBatch(tuple(frames)))
        if events:
            messages.append(EventBatch(tuple(events)))
        return Batch(tuple(messages), len(frames), len(events), 0 if upload else len(frames))
