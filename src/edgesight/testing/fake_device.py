"""A fake device that builds signed envelopes, for tests, benchmarks and demos of the hub."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from edgesight.core.events import Event, EventType, FrameContext
from edgesight.core.frame import FrameMeta, ModelRef
from edgesight.core.wire import Envelope, EventBatch, FrameBatch, Kind, Message
from edgesight.testing.detections import mock_detections

__all__ = ["FakeDevice"]


@dataclass
class FakeDevice:
    """Signs messages as ``device_id`` would; ``seq`` counts up from 1.

    Example:
        >>> d = FakeDevice("cam-1", b"s" * 32)
        >>> raw = d.frames(2); d.seq, raw[:4]
        (1, b'ESE1')
    """

    device_id: str
    secret: bytes
    seq: int = 0
    frame_index: int = 0
    stream_id: str = "main"
    _rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def seal(self, kind: Kind, payload: bytes, sent_at: float | None = None, seq: int | None = None) -> bytes:
        """Sign ``payload`` as the next message (or as message ``seq``)."""
        if seq is None:
            self.seq += 1
            seq = self.seq
        now = time.time() if sent_at is None else sent_at
        return Envelope(kind, self.device_id, seq, now, payload).seal(self.secret)

    _walk: npt.NDArray[np.float64] | None = field(default=None, init=False, repr=False)
    """Top-left corners of the people, ``(n, 2)`` pixels."""

    def frame(self, n_detections: int = 6, timestamp: float | None = None) -> FrameMeta:
        """The next frame, with ``n_detections`` tracked people walking a few pixels per frame."""
        if self._walk is None or len(self._walk) != n_detections:
            self._walk = self._rng.uniform(0, 300, size=(n_detections, 2))
        else:
            self._walk = np.clip(self._walk + self._rng.uniform(-4, 4, size=(n_detections, 2)), 0, 600)
        boxes = self._walk
        xyxy = np.concatenate([boxes, boxes + 60], axis=1)
        dets = mock_detections(xyxy.tolist(), [0.8] * n_detections, tracker_id=range(1, n_detections + 1))
        meta = FrameMeta(
            self.device_id, self.stream_id, self.frame_index, self.frame_index,
            time.time() if timestamp is None else timestamp, ModelRef("nanodet-coco", "1.0.0"), (768, 576), dets,
        )  # fmt: skip
        self.frame_index += 1
        return meta

    def frames(self, n_frames: int = 1, n_detections: int = 6, timestamp: float | None = None) -> bytes:
        """A signed frames message of ``n_frames`` frames."""
        return self.send(FrameBatch(tuple(self.frame(n_detections, timestamp) for _ in range(n_frames))))

    def event(self, kind: EventType, rule: str, timestamp: float | None = None, **kw: Any) -> Event:
        """An event of this device at the current frame; ``kw`` are Event.create's keywords."""
        ctx = FrameContext(
            self.device_id, self.stream_id, self.frame_index, time.time() if timestamp is None else timestamp,
            (768, 576),
        )  # fmt: skip
        self.frame_index += 1
        return Event.create(kind, ctx, rule, **kw)

    def events(self, events: list[Event]) -> bytes:
        """A signed events message."""
        return self.send(EventBatch(tuple(events)))

    def send(self, message: Message, sent_at: float | None = None) -> bytes:
        """``message`` signed as the next message of this device."""
        return self.seal(message.KIND, message.to_bytes(), sent_at)
