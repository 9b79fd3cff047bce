"""Class names a config may use: the model's labels, COCO-80 when none are given.

Sections check their class lists against ``context={"known_classes": [...]}`` passed to
``model_validate`` (the agent passes the running model's labels).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection

from pydantic import ValidationInfo

__all__ = ["COCO_LABELS", "KNOWN_CLASSES_CONTEXT", "check_known_classes"]

COCO_LABELS: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip
"""The 80 COCO class names, the default ``known_classes``."""

KNOWN_CLASSES_CONTEXT = "known_classes"
"""Validation-context key of the class names the model can output."""


def check_known_classes(classes: list[str], info: ValidationInfo) -> list[str]:
    """Reject class names the model cannot output (suggesting the nearest known one) and repeats."""
    context = info.context if isinstance(info.context, dict) else {}
    known: Collection[str] = context.get(KNOWN_CLASSES_CONTEXT) or COCO_LABELS
    for name in classes:
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown class {name!r}{hint} ({len(known)} known classes)")
    if len(set(classes)) != len(classes):
        dup = next(c for c in classes if classes.count(c) > 1)
        raise ValueError(f"class {dup!r} is listed twice")
    return classes
