"""Device twin documents: how a desired-state patch is merged, the same on hub and device."""

from __future__ import annotations

from typing import Any

__all__ = ["merge_patch"]


def merge_patch(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 JSON merge patch: objects merge, other values replace, ``None`` deletes.

    Example:
        >>> merge_patch({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"c": None, "d": 3}, "l": [2]})
        {'a': {'b': 1, 'd': 3}, 'l': [2]}
    """
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_patch(out[key], value)
        else:
            out[key] = value
    return out
