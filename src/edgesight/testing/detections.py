"""Detections for tests, with every column but the boxes defaulted."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgesight.core.detections import Detections

__all__ = ["mock_detections"]


def mock_detections(
    xyxy: Sequence[Sequence[float]],
    confidence: Sequence[float] | None = None,
    class_id: Sequence[int] | None = None,
    class_name: Sequence[str] | None = None,
    tracker_id: Sequence[int] | None = None,
) -> Detections:
    """Detections of ``xyxy`` pixel boxes; unspecified columns default to score 0.9, class 0
    ``person`` and no tracking.

    Example:
        >>> d = mock_detections([[0, 0, 10, 20], [5, 5, 8, 8]], tracker_id=[3, 4])
        >>> len(d), d.class_name.tolist(), d.tracker_id.tolist()
        (2, ['person', 'person'], [3, 4])
        >>> len(mock_detections([]))
        0
    """
    n = len(xyxy)
    return Detections.from_arrays(
        np.asarray(xyxy, dtype=np.float32).reshape(n, 4),
        [0.9] * n if confidence is None else confidence,
        [0] * n if class_id is None else class_id,
        ["person"] * n if class_name is None else class_name,
        tracker_id,
    )
