"""`Detections`: the one type every stage passes on, from decoder to tracker to hub.

Boxes are ``xyxy`` in source-frame pixels. Normalised coordinates exist only in serialised
records (see :mod:`edgesight.core.wire`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Detections"]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int32]
TrackArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class Detections:
    """Objects found in one frame, as parallel arrays.

    Attributes:
        xyxy: ``(n, 4)`` float32 boxes ``[x1, y1, x2, y2]`` in source-frame pixels.
        confidence: ``(n,)`` float32 scores in 0..1.
        class_id: ``(n,)`` int32 class indices into the model's labels.
        class_name: ``(n,)`` label of each detection.
        tracker_id: ``(n,)`` int64 track ids, or None before tracking.
        embedding: ``(n, d)`` float32 appearance vectors the sensor computed from the pixels, or
            None. In-process only: no serializer writes them (they can identify people).

    Example:
        >>> d = Detections.from_arrays([[0, 0, 10, 20], [5, 5, 8, 8]], [0.9, 0.4], [0, 2], ["person", "car"])
        >>> len(d), d[d.confidence > 0.5].class_name.tolist()
        (2, ['person'])
    """

    xyxy: FloatArray
    confidence: FloatArray
    class_id: IntArray
    class_name: npt.NDArray[np.str_]
    tracker_id: TrackArray | None = None
    embedding: FloatArray | None = None

    def __post_init__(self) -> None:
        n = self.xyxy.shape[0]
        if self.xyxy.ndim != 2 or self.xyxy.shape[1] != 4:
            raise ValueError(f"Detections.xyxy must have shape (n, 4), got {self.xyxy.shape}")
        for name in ("confidence", "class_id", "class_name", "tracker_id"):
            value = getattr(self, name)
            if value is not None and value.shape != (n,):
                raise ValueError(f"Detections.{name} must have shape ({n},), got {value.shape}")
        if self.embedding is not None and (self.embedding.ndim != 2 or self.embedding.shape[0] != n):
            raise ValueError(f"Detections.embedding must have shape ({n}, d), got {self.embedding.shape}")

    @classmethod
    def empty(cls) -> Detections:
        """No detections.

        Example:
            >>> len(Detections.empty())
            0
        """
        return cls.from_arrays(np.zeros((0, 4)), [], [], [])

    @classmethod
    def from_arrays(
        cls,
        xyxy: Any,
        confidence: Sequence[float] | npt.ArrayLike,
        class_id: Sequence[int] | npt.ArrayLike,
        class_name: Sequence[str] | npt.ArrayLike,
        tracker_id: Sequence[int] | npt.ArrayLike | None = None,
    ) -> Detections:
        """Build from anything array-like, casting to the canonical dtypes."""
        return cls(
            xyxy=np.asarray(xyxy, dtype=np.float32).reshape(-1, 4),
            confidence=np.asarray(confidence, dtype=np.float32).reshape(-1),
            class_id=np.asarray(class_id, dtype=np.int32).reshape(-1),
            class_name=np.asarray(class_name, dtype=np.str_).reshape(-1),
            tracker_id=None if tracker_id is None else np.asarray(tracker_id, dtype=np.int64).reshape(-1),
        )

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __iter__(self) -> Iterator[Detections]:
        for i in range(len(self)):
            yield self[i : i + 1]

    def __getitem__(self, index: int | slice | npt.NDArray[Any] | list[int]) -> Detections:
        """Select detections by position, slice, index array or boolean mask (returns a new object)."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return Detections(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            class_id=self.class_id[index],
            class_name=self.class_name[index],
            tracker_id=None if self.tracker_id is None else self.tracker_id[index],
            embedding=None if self.embedding is None else self.embedding[index],
        )

    def with_tracker_id(self, tracker_id: npt.ArrayLike) -> Detections:
        """A copy carrying track ids (the input is never mutated)."""
        return Detections(
            self.xyxy,
            self.confidence,
            self.class_id,
            self.class_name,
            np.asarray(tracker_id, dtype=np.int64),
            self.embedding,
        )

    def with_embedding(self, embedding: npt.ArrayLike | None) -> Detections:
        """A copy carrying appearance vectors, one row per detection (None drops them).

        Example:
            >>> d = Detections.from_arrays([[0, 0, 1, 1]], [0.5], [0], ["person"])
            >>> d.with_embedding([[0.6, 0.8]]).embedding.shape
            (1, 2)
        """
        vectors = None if embedding is None else np.asarray(embedding, dtype=np.float32)
        return Detections(self.xyxy, self.confidence, self.class_id, self.class_name, self.tracker_id, vectors)

    @classmethod
    def merge(cls, parts: Sequence[Detections]) -> Detections:
        """Concatenate several Detections (for example, the tiles of one frame).

        Example:
            >>> a = Detections.from_arrays([[0, 0, 1, 1]], [0.5], [0], ["person"])
            >>> len(Detections.merge([a, a]))
            2
        """
        if not parts:
            return cls.empty()
        tracked = {p.tracker_id is not None for p in parts}
        if len(tracked) > 1:
            raise ValueError("Detections.merge: tracker_id is set on some parts and None on others")
        vectors = [p.embedding for p in parts if p.embedding is not None]
        return cls(
            xyxy=np.concatenate([p.xyxy for p in parts]),
            confidence=np.concatenate([p.confidence for p in parts]),
            class_id=np.concatenate([p.class_id for p in parts]),
            class_name=np.concatenate([p.class_name for p in parts]),
            tracker_id=None if tracked == {False} else np.concatenate([p.tracker_id for p in parts]),
            embedding=np.concatenate(vectors) if len(vectors) == len(parts) else None,
        )
